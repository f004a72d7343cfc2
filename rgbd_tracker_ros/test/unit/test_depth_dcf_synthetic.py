"""The default tracker on the project's own synthetic sequences, through the registry.

test_depth_dcf.py checks the same behaviours on hand-built scenes plus the bad inputs; these
run the generator's presets (photo textures, depth noise, real occluders), so a change to
either side that breaks the pairing shows up. Quality numbers live in ``make eval``.
"""

from __future__ import annotations

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
