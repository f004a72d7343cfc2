"""The demo's pictures: an overlay GIF of boxes vs ground truth, a 3D trajectory plot."""

from __future__ import annotations

from pathlib import Path

import cv2
import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from rgbd_tracker_ros.imaging import draw_overlay
from rgbd_tracker_ros.sequences.depthtrack import RGBDSequence
from rgbd_tracker_ros.tracking.api import TrackerState

GIF_WIDTH = 320
GIF_STRIDE = 2
# The README's copy (docs/): small enough to keep in git, still showing every state.
README_GIF_WIDTH = 200
README_GIF_STRIDE = 5
GT_COLOR_BGR = (255, 128, 0)
GT_THICKNESS = 3  # survives the downscale to GIF_WIDTH


def overlay_gif(
    path: Path,
    sequence: RGBDSequence,
    boxes: np.ndarray,
    states: np.ndarray,
    scores: np.ndarray,
    width: int = GIF_WIDTH,
    stride: int = GIF_STRIDE,
) -> None:
    """Every ``stride``-th frame, ``width`` pixels wide: ground truth in blue, the tracker's box
    by state."""
    frames = []
    for i in range(0, len(boxes), stride):
        state = TrackerState(states[i]).name if states[i] >= 0 else "no result"
        box = boxes[i] if np.all(np.isfinite(boxes[i])) else None
        canvas = draw_overlay(sequence.color(i), box, state, float(scores[i]), [f"frame {i}"])
        gt = sequence.groundtruth[i]
        if np.all(np.isfinite(gt)):
            x, y, w, h = (round(float(c)) for c in gt)
            cv2.rectangle(canvas, (x, y), (x + w, y + h), GT_COLOR_BGR, GT_THICKNESS)
        scale = width / canvas.shape[1]
        small = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    iio.imwrite(path, np.stack(frames), duration=1000 * stride / 30, loop=0)


def trajectory_plot(path: Path, truth_xyz: np.ndarray | None, estimate_xyz: np.ndarray) -> None:
    """X and Z (top view) and Z over time, estimate vs ground truth, in the optical frame."""
    figure, (top, depth) = plt.subplots(1, 2, figsize=(11, 4.5))
    if truth_xyz is not None:
        top.plot(truth_xyz[:, 0], truth_xyz[:, 2], "-", color="tab:blue", label="ground truth")
        depth.plot(truth_xyz[:, 2], "-", color="tab:blue", label="ground truth")
    top.plot(estimate_xyz[:, 0], estimate_xyz[:, 2], ".", color="tab:orange", label="tracker")
    depth.plot(estimate_xyz[:, 2], ".", color="tab:orange", label="tracker")
    top.set(xlabel="X (m, right)", ylabel="Z (m, forward)", title="Top view")
    depth.set(xlabel="frame", ylabel="Z (m)", title="Target depth over time")
    for axis in (top, depth):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
