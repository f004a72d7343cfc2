"""Square search patches cut out of a frame and resampled to the filter's fixed size.

Sampling is one ``cv2.warpAffine`` per patch on the CPU (the image lives there anyway), so
only the small patches travel to the compute device. Colour is taken from an image pyramid
level close to the patch scale, which keeps strong downscaling free of aliasing; depth is
sampled nearest-neighbour so holes (0) never blend into fake near readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class Region:
    """A square image region: centre (x, y) in box coordinates (pixel edges), side in pixels,
    and the angle (radians, image x towards y) its patch axes are turned by, so a rotating
    target keeps its orientation in the patch."""

    centre_x: float
    centre_y: float
    side: float
    angle: float = 0.0

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        """The axis-aligned square of the region (its footprint when the angle is 0)."""
        half = 0.5 * self.side
        return (self.centre_x - half, self.centre_y - half, self.side, self.side)

    def to_image(self, patch_x: float, patch_y: float, patch_size: int) -> tuple[float, float]:
        """Image position of a patch position (both in box coordinates)."""
        scale = self.side / patch_size
        dx, dy = (patch_x - 0.5 * patch_size) * scale, (patch_y - 0.5 * patch_size) * scale
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        return self.centre_x + cos * dx - sin * dy, self.centre_y + sin * dx + cos * dy


def _image_to_patch_matrix(region: Region, patch_size: int, level: int) -> np.ndarray:
    """Affine map from image pixel centres at pyramid ``level`` to patch pixel centres.

    Box coordinates put pixel i's centre at i + 0.5; a pyramid level halves pixel-centre
    coordinates (``cv2.pyrDown`` keeps the even pixels' centres).
    """
    level_scale = 0.5**level
    scale = patch_size / region.side / level_scale
    cos, sin = math.cos(region.angle) * scale, math.sin(region.angle) * scale
    centre_x = (region.centre_x - 0.5) * level_scale
    centre_y = (region.centre_y - 0.5) * level_scale
    offset = 0.5 * patch_size - 0.5
    return np.array(
        [
            [cos, sin, offset - cos * centre_x - sin * centre_y],
            [-sin, cos, offset + sin * centre_x - cos * centre_y],
        ],
        dtype=np.float64,
    )


class FrameSampler:
    """Cuts patches from one frame; pyramid levels are built on first use and reused."""

    def __init__(
        self, color: np.ndarray, depth: np.ndarray | None, max_level: int, gain: float = 1.0
    ) -> None:
        self.depth = depth
        self.max_level = max_level
        self.gain = gain
        self._levels = [color]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frame."""
        return int(self._levels[0].shape[0]), int(self._levels[0].shape[1])

    def _color_level(self, level: int) -> np.ndarray:
        while len(self._levels) <= level:
            self._levels.append(cv2.pyrDown(self._levels[-1]))
        return self._levels[level]

    def _level_for(self, region: Region, patch_size: int) -> int:
        """Coarsest level that still has at least one image pixel per patch pixel."""
        shrink = region.side / patch_size
        if shrink < 2.0:
            return 0
        return min(int(math.log2(shrink)), self.max_level)

    def color_patch(self, region: Region, patch_size: int) -> np.ndarray:
        level = self._level_for(region, patch_size)
        source = self._color_level(level)
        matrix = _image_to_patch_matrix(region, patch_size, level)
        return cv2.warpAffine(
            source,
            matrix,
            (patch_size, patch_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def depth_patch(self, region: Region, patch_size: int) -> np.ndarray | None:
        if self.depth is None:
            return None
        matrix = _image_to_patch_matrix(region, patch_size, 0)
        return cv2.warpAffine(
            self.depth,
            matrix,
            (patch_size, patch_size),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )

    def patches(
        self, regions: list[Region], patch_size: int, depth_size: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Colour (N, 3, P, P), 0..1 times ``gain``, and depth (N, 1, D, D) metres (or None)
        on ``device``."""
        colors = np.stack([self.color_patch(region, patch_size) for region in regions])
        color = torch.from_numpy(colors).to(device).permute(0, 3, 1, 2).float()
        color.mul_(self.gain / 255.0)
        if self.depth is None:
            return color, None
        depths = np.stack([self.depth_patch(region, depth_size) for region in regions])
        return color, torch.from_numpy(depths).to(device).unsqueeze(1)
