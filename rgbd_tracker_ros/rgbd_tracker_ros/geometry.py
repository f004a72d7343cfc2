"""Camera geometry, ROS-free: intrinsics, back-projection, robust target depth."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the color camera (aligned depth shares them).

    ``distortion`` follows ROS CameraInfo ``D`` for ``distortion_model`` (``plumb_bob`` /
    ``rational_polynomial``: k1 k2 p1 p2 k3 [k4 k5 k6]); empty or all-zero means none.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0
    distortion: tuple[float, ...] = field(default_factory=tuple)
    distortion_model: str = "plumb_bob"

    @property
    def has_distortion(self) -> bool:
        return any(abs(c) > 0.0 for c in self.distortion)

    @classmethod
    def d435_640x480(cls) -> "Intrinsics":
        """Typical RealSense D435 color intrinsics at 640x480 (the synthetic camera's default)."""
        return cls(fx=615.0, fy=615.0, cx=320.0, cy=240.0, width=640, height=480)
