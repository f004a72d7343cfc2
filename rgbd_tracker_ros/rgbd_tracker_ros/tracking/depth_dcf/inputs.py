"""Frames as the tracker needs them: contiguous uint8 RGB and float32 metres (or no depth)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rgbd_tracker_ros.tracking.api import Frame, check_color

# Called with (key, message) when depth has to be dropped; the tracker logs each key once.
Warn = Callable[[str, str], None]


def frame_arrays(frame: Frame, warn: Warn) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour as contiguous HxWx3 uint8 and depth as HxW float32 metres (or None).

    Grey images (HxW or HxWx1) are accepted and expanded. Depth that is missing, of the wrong
    size or not in metres is dropped with a warning, because the tracker can go on with
    colour alone. Raises ValueError only when the colour is not an image.
    """
    color = np.asarray(frame.color)
    if color.ndim == 2 or (color.ndim == 3 and color.shape[2] == 1):
        color = np.repeat(color.reshape(color.shape[0], color.shape[1], 1), 3, axis=2)
    check_color(color)
    color = np.ascontiguousarray(color)
    if frame.depth is None:
        warn("no-depth", "frames carry no depth: tracking on colour alone")
        return color, None
    depth = np.asarray(frame.depth)
    if depth.shape != color.shape[:2]:
        warn(
            "depth-shape",
            f"depth shape {depth.shape} differs from colour {color.shape[:2]}: depth ignored",
        )
        return color, None
    if not np.issubdtype(depth.dtype, np.floating):
        warn("depth-type", f"depth must be float metres, got {depth.dtype}: depth ignored")
        return color, None
    return color, np.ascontiguousarray(depth, dtype=np.float32)
