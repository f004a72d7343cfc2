"""The contract between trackers and everything that drives them (node, evaluation, benchmark).

Kept free of ROS and of any particular network so that every tracker plugs in the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rgbd_tracker_ros.geometry import BoxXYWH, Intrinsics


class TrackerState(enum.IntEnum):
    """Values equal the constants of ``rgbd_tracker_msgs/TrackedTarget``."""

    IDLE = 0
    TRACKING = 1
    UNCERTAIN = 2
    LOST = 3


@dataclass
class Frame:
    """One synchronised RGB-D frame.

    ``color`` is HxWx3 uint8 RGB; ``depth`` is HxW float32 metres aligned to ``color``
    (0 or NaN = no reading) or None when the camera gives no depth.
    """

    color: np.ndarray
    depth: np.ndarray | None = None
    stamp: float = 0.0
    intrinsics: Intrinsics | None = None

    @property
    def size_wh(self) -> tuple[int, int]:
        return int(self.color.shape[1]), int(self.color.shape[0])


@dataclass
class ScoreMap:
    """A tracker's response over its search region.

    ``scores`` is h x w float32; ``region_xywh`` is the image box (color pixels) the map
    covers, so a viewer can place it over the image.
    """

    scores: np.ndarray
    region_xywh: BoxXYWH


@dataclass
class TrackResult:
    """What ``Tracker.track`` returns for one frame.

    ``timings`` holds optional per-stage seconds (e.g. ``{"features": 0.004}``) for the
    benchmark; trackers fill what they can measure cheaply. ``occluded`` is the tracker's own
    judgement that something hides the target; None when the tracker does not judge it (the
    outcome stage's depth cue then decides, see ``outcome.py``).
    """

    box_xywh: BoxXYWH
    score: float
    state: TrackerState
    score_map: ScoreMap | None = None
    timings: dict[str, float] = field(default_factory=dict)
    occluded: bool | None = None


@runtime_checkable
class Tracker(Protocol):
    """A single-object tracker: initialise on a box, then one result per frame.

    ``track`` must not raise on a valid image (any size, any content, depth present or
    not): a tracker that cannot localise returns state LOST instead.
    """

    name: str

    def initialize(self, frame: Frame, box_xywh: BoxXYWH) -> None: ...

    def track(self, frame: Frame) -> TrackResult: ...


def check_color(color: np.ndarray) -> None:
    """Raise ``ValueError`` naming the problem unless ``color`` is a non-empty HxWx3 uint8 image."""
    if not isinstance(color, np.ndarray) or color.ndim != 3 or color.shape[2] != 3:
        raise ValueError(f"color must be an HxWx3 array, got {getattr(color, 'shape', color)}")
    if color.dtype != np.uint8:
        raise ValueError(f"color must be uint8, got {color.dtype}")
    if color.shape[0] == 0 or color.shape[1] == 0:
        raise ValueError("color image is empty")


def check_frame(frame: Frame) -> None:
    """Raise ``ValueError`` naming the problem when ``frame`` breaks the ``Frame`` contract."""
    check_color(frame.color)
    height, width = frame.color.shape[:2]
    depth = frame.depth
    if depth is not None:
        if not isinstance(depth, np.ndarray) or depth.ndim != 2:
            raise ValueError(f"depth must be an HxW array, got {getattr(depth, 'shape', depth)}")
        if depth.shape != (height, width):
            raise ValueError(
                f"depth is {depth.shape[1]}x{depth.shape[0]} but color is {width}x{height}; "
                "depth must be aligned to color"
            )
    intr = frame.intrinsics
    if (
        intr is not None
        and intr.width
        and intr.height
        and (intr.width, intr.height)
        != (
            width,
            height,
        )
    ):
        raise ValueError(
            f"camera_info is for {intr.width}x{intr.height} but color is {width}x{height}"
        )
