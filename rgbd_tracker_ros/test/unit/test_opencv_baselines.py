"""OpenCV baseline wrappers: the Tracker contract, parameters, and missing contrib trackers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rgbd_tracker_ros.evaluation import metrics
from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.sequences.synthetic import generate_sequence, preset_config
from rgbd_tracker_ros.tracking.api import Frame, Tracker, TrackerState
from rgbd_tracker_ros.tracking.registry import create_tracker


def test_mil_follows_a_translating_target(tmp_path):
    config = preset_config("easy", seed=5, num_frames=10, width=160, height=120)
    sequence = read_sequence(generate_sequence(config, tmp_path / "seq"))
    tracker = create_tracker("opencv_mil", {})
    assert isinstance(tracker, Tracker)
    tracker.initialize(sequence.frame(0), tuple(sequence.groundtruth[0]))
    results = [tracker.track(sequence.frame(i)) for i in range(1, len(sequence))]
    boxes = np.array([r.box_xywh for r in results])
    assert all(r.state == TrackerState.TRACKING and r.score == 1.0 for r in results)
    assert set(results[0].timings) == {"convert", "update"}
    assert np.nanmean(metrics.iou(boxes, sequence.groundtruth[1:])) > 0.5


def test_parameters_are_checked():
    tracker = create_tracker("opencv_mil", {"opencv_params": {"samplerSearchWinSize": 20.0}})
    assert tracker.name == "opencv_mil"
    with pytest.raises(ValueError, match="unknown OpenCV parameter 'searchWin'"):
        create_tracker("opencv_mil", {"opencv_params": {"searchWin": 20.0}})
    with pytest.raises(ValueError, match="unknown parameter"):
        create_tracker("opencv_mil", {"padding": 2})


def test_bad_init_boxes_are_refused():
    tracker = create_tracker("opencv_mil", {})
    frame = Frame(color=np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="does not overlap"):
        tracker.initialize(frame, (60.0, 10.0, 5.0, 5.0))
    with pytest.raises(ValueError, match="smaller than"):
        tracker.initialize(frame, (10.0, 10.0, 1.0, 8.0))


@pytest.mark.parametrize("kind", ["CSRT", "KCF"])
def test_contrib_trackers_build_or_say_what_is_missing(kind):
    name = f"opencv_{kind.lower()}"
    if hasattr(cv2, f"Tracker{kind}_create"):
        tracker = create_tracker(name)
        frame = Frame(color=np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
        tracker.initialize(frame, (20.0, 15.0, 20.0, 20.0))
        assert tracker.track(frame).state in (TrackerState.TRACKING, TrackerState.LOST)
    else:
        with pytest.raises(ImportError, match="opencv-contrib-python-headless"):
            create_tracker(name)
