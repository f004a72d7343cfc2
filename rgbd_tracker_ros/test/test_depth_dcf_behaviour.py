"""The default tracker's behaviour on synthetic RGB-D sequences, through the public API.

Quality numbers live in ``evaluate --suite synthetic``; these check behaviour that must hold:
it follows, it scales with depth, it says LOST when the target is gone and finds it again,
it does not jump onto an occluder, and no bad input makes ``track()`` raise.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rgbd_tracker_ros.evaluation.metrics import iou
from rgbd_tracker_ros.sequences.synthetic import SyntheticSequence, preset_config
from rgbd_tracker_ros.tracking.api import Frame, TrackerState
from rgbd_tracker_ros.tracking.registry import create_tracker

FRAMES = 80


def _run(preset: str, seed: int = 0):
    """Track a 320x240 synthetic sequence from its first box: (gt, boxes, states)."""
    config = preset_config(preset, seed=seed, num_frames=FRAMES, width=320, height=240)
    scene = SyntheticSequence(config)
    rendered = [scene.render(i) for i in range(FRAMES)]
    intr = config.camera_intrinsics

    def frame(i: int) -> Frame:
        r = rendered[i]
        return Frame(r.color, r.depth_mm.astype(np.float32) / 1000.0, i / config.fps, intr)

    gt = np.array([r.box_xywh for r in rendered], dtype=float)
    tracker = create_tracker("depth_dcf")
    tracker.initialize(frame(0), tuple(gt[0]))
    boxes, states = [tuple(gt[0])], [TrackerState.TRACKING]
    for i in range(1, FRAMES):
        result = tracker.track(frame(i))
        boxes.append(result.box_xywh)
        states.append(result.state)
    return gt, np.array(boxes), np.array(states)


def test_follows_a_moving_target():
    gt, boxes, states = _run("easy")
    overlap = iou(boxes, gt)
    assert np.nanmean(overlap) > 0.8
    assert np.mean(states == TrackerState.TRACKING) > 0.9


def test_box_grows_as_the_target_comes_closer():
    gt, boxes, _ = _run("scale", seed=0)
    true_growth = gt[-1, 2] / gt[0, 2]
    assert true_growth > 1.8, "the scale sequence must bring the target closer"
    assert boxes[-1, 2] / boxes[0, 2] == pytest.approx(true_growth, rel=0.15)
    assert np.nanmean(iou(boxes, gt)) > 0.8


def test_reports_lost_out_of_view_and_recovers():
    gt, boxes, states = _run("out_of_view", seed=0)
    absent = ~np.all(np.isfinite(gt), axis=1)
    assert absent.sum() >= 5
    assert np.mean(states[absent] == TrackerState.LOST) >= 0.9
    back = np.flatnonzero(~absent & (np.arange(FRAMES) > np.flatnonzero(absent)[-1]))
    assert back.size, "the target must come back"
    window = back[:30]
    overlap = iou(boxes[window], gt[window])
    assert np.any((states[window] == TrackerState.TRACKING) & (overlap > 0.5))
    assert np.nanmean(iou(boxes[-10:], gt[-10:])) > 0.7


def test_does_not_drift_onto_the_occluder():
    gt, boxes, states = _run("occlusion", seed=0)
    hidden = ~np.all(np.isfinite(gt), axis=1)
    assert hidden.any(), "the occlusion sequence must hide the target fully for a while"
    assert np.all(states[hidden] != TrackerState.TRACKING)
    after = np.arange(FRAMES) > np.flatnonzero(hidden)[-1] + 5
    assert np.nanmean(iou(boxes[after], gt[after])) > 0.7


def _textured(width: int = 160, height: int = 120, gray: bool = False) -> np.ndarray:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    if gray:
        image[:] = image[:, :, :1]
    return image


@pytest.mark.parametrize(
    "box",
    [(70, 50, 2, 2), (0, 0, 30, 30), (150, 110, 30, 30), (-20, -20, 400, 300)],
    ids=["tiny", "corner", "over_the_border", "larger_than_image"],
)
def test_odd_init_boxes_never_make_track_raise(box):
    tracker = create_tracker("depth_dcf")
    depth = np.full((120, 160), 1.5, np.float32)
    tracker.initialize(Frame(_textured(), depth), box)
    for i in range(3):
        result = tracker.track(Frame(_textured(), depth, stamp=i / 30))
        assert np.all(np.isfinite(result.box_xywh))


@pytest.mark.parametrize("depth_kind", ["none", "all_zero", "all_nan"])
def test_missing_or_invalid_depth_still_tracks_on_colour(depth_kind, caplog):
    depths = {
        "none": None,
        "all_zero": np.zeros((120, 160), np.float32),
        "all_nan": np.full((120, 160), np.nan, np.float32),
    }
    depth = depths[depth_kind]
    tracker = create_tracker("depth_dcf")
    image = _textured()
    with caplog.at_level(logging.INFO):
        tracker.initialize(Frame(image, depth), (60, 40, 40, 30))
        results = [tracker.track(Frame(image, depth, stamp=i / 30)) for i in range(5)]
    assert all(r.state == TrackerState.TRACKING for r in results)
    assert all(abs(r.box_xywh[0] - 60) < 3 and abs(r.box_xywh[1] - 40) < 3 for r in results)
    if depth_kind == "none":
        depth_messages = [m for m in caplog.messages if "depth" in m]
        assert len(depth_messages) == 1, caplog.messages


def test_grayscale_looking_colour_is_tracked():
    tracker = create_tracker("depth_dcf")
    image = _textured(gray=True)
    tracker.initialize(Frame(image, None), (60, 40, 40, 30))
    result = tracker.track(Frame(image, None, stamp=1 / 30))
    assert result.state == TrackerState.TRACKING
    assert result.score_map is not None and np.all(np.isfinite(result.score_map.scores))
