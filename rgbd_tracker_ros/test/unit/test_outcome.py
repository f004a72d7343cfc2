"""The outcome stage: one frame's state, 3D and occlusion, as the node publishes it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgbd_tracker_ros.geometry import Intrinsics, back_project
from rgbd_tracker_ros.outcome import OutcomeParams, OutcomeStage
from rgbd_tracker_ros.ros.parameters import PARAMETERS
from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult

W, H = 64, 48
INTR = Intrinsics(fx=60.0, fy=60.0, cx=32.0, cy=24.0, width=W, height=H)
BOX = (20.0, 10.0, 20.0, 20.0)


def _frame(depth_m: float | None, near_m: float | None = None, stamp: float = 0.0) -> Frame:
    """A frame whose depth is ``depth_m`` everywhere, ``near_m`` over the whole box if given."""
    depth = None if depth_m is None else np.full((H, W), depth_m, np.float32)
    if depth is not None and near_m is not None:
        depth[10:30, 20:40] = near_m
    return Frame(np.zeros((H, W, 3), np.uint8), depth, stamp, INTR)


def _result(score: float = 0.9, occluded: bool | None = None, box=BOX) -> TrackResult:
    return TrackResult(box, score, TrackerState.TRACKING, occluded=occluded)


def test_the_node_parameter_table_takes_its_defaults_from_outcome_params():
    defaults = OutcomeParams()
    table = {
        "thresholds.uncertain_score": defaults.uncertain_score,
        "thresholds.lost_score": defaults.lost_score,
        "thresholds.occlusion_depth_drop": defaults.occlusion_depth_drop,
        "depth.min_valid_pixels": defaults.min_valid_pixels,
        "depth.min_depth_m": defaults.min_depth_m,
        "depth.max_depth_m": defaults.max_depth_m,
    }
    assert {name: PARAMETERS[name][0] for name in table} == table
    for bad in ({"occlusion_depth_drop": 1.0}, {"min_depth_m": 5.0, "max_depth_m": 1.0}):
        with pytest.raises(ValueError):
            OutcomeParams(**bad)


def test_start_measures_the_init_box_and_refuses_one_outside():
    stage = OutcomeStage()
    first = stage.start(_frame(2.0), BOX)
    assert first.state == TrackerState.TRACKING and first.score == 1.0
    assert first.position == pytest.approx(back_project(30.0, 20.0, 2.0, INTR))
    with pytest.raises(ValueError, match="outside"):
        stage.start(_frame(2.0), (100.0, 100.0, 5.0, 5.0))


def test_box_is_clipped_and_an_idle_or_vanished_result_is_lost():
    stage = OutcomeStage()
    stage.start(_frame(2.0), BOX)
    clipped = stage.step(_frame(2.0), _result(box=(50.0, 10.0, 20.0, 20.0)))
    assert clipped.box_xywh == (50.0, 10.0, 14.0, 20.0)
    gone = stage.step(_frame(2.0), _result(box=(90.0, 10.0, 20.0, 20.0)))
    assert gone.state == TrackerState.LOST and gone.box_xywh is None and gone.position is None
    idle = stage.step(_frame(2.0), TrackResult(BOX, math.nan, TrackerState.IDLE))
    assert idle.state == TrackerState.LOST and idle.score == 0.0


def test_the_tracker_judges_occlusion_when_it_can():
    stage = OutcomeStage()
    stage.start(_frame(2.0), BOX)
    for _ in range(3):
        stage.step(_frame(2.0), _result())
    # Depth and score fall together: the depth cue would call it an occlusion...
    cue = OutcomeStage()
    cue.start(_frame(2.0), BOX)
    for _ in range(3):
        cue.step(_frame(2.0), _result())
    assert cue.step(_frame(2.0, near_m=1.0), _result(score=0.3)).occluded
    # ... but a tracker that judges occlusion is followed, either way (a second later, so the
    # 1 m step is one the target can have made).
    seen = stage.step(_frame(2.0, near_m=1.0, stamp=1.0), _result(score=0.3, occluded=False))
    assert not seen.occluded and seen.position is not None
    hidden = stage.step(_frame(2.0), _result(occluded=True))
    assert hidden.occluded and hidden.state == TrackerState.UNCERTAIN
    assert hidden.position is None and hidden.depth is not None


def test_nothing_non_finite_or_beyond_any_target_comes_out():
    """Intrinsics that overflow the 3D and a tracker's NaN score map: the outcome is finite
    (no position rather than an infinite or absurd one)."""
    tiny = Intrinsics(fx=1e-300, fy=1e-300, cx=32.0, cy=24.0, width=W, height=H)
    frame = Frame(np.zeros((H, W, 3), np.uint8), np.full((H, W), 2.0, np.float32), 0.0, tiny)
    stage = OutcomeStage()
    first = stage.start(frame, BOX)
    assert first.depth is not None and first.position is None and first.metric_size is None
    scores = np.array([[np.nan, 1.0], [np.inf, -np.inf]], np.float32)
    result = _result()
    result.score_map = ScoreMap(scores, (0.0, 0.0, 2.0, 2.0))
    step = stage.step(frame, result)
    assert step.state == TrackerState.TRACKING and step.position is None
    assert np.isfinite(step.score_map.scores).all() and step.score_map.scores[0, 1] == 1.0
