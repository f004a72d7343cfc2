"""Metrics on hand-worked examples, the results file format, and bad-input errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rgbd_tracker_ros.evaluation import metrics
from rgbd_tracker_ros.evaluation.results import (
    ResultsError,
    SequenceResults,
    read_results,
    write_results,
)
from rgbd_tracker_ros.evaluation.stats import json_ready, timing_stats
from rgbd_tracker_ros.tracking.api import TrackerState

NAN4 = [np.nan] * 4


def test_iou_hand_worked():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [-10, 0, 20, 10]], float)
    gt = np.array([[5, 0, 10, 10], [0, 0, 10, 10], NAN4, [0, 0, 10, 10]], float)
    overlap = metrics.iou(pred, gt)
    assert overlap[0] == pytest.approx(50 / 150)
    assert overlap[1] == pytest.approx(1.0)
    assert math.isnan(overlap[2])
    assert overlap[3] == pytest.approx(100 / 200)
    # Clipped to a 100x100 image the last prediction is exactly the ground truth.
    assert metrics.iou(pred, gt, bounds_wh=(100, 100))[3] == pytest.approx(1.0)


def test_iou_of_empty_prediction_is_zero():
    assert metrics.iou(np.array([[5.0, 5, 0, 0]]), np.array([[5.0, 5, 2, 2]]))[0] == 0.0


def test_zero_size_groundtruth_counts_as_absent():
    # DepthTrack marks some absent frames as x,y,0,0 instead of nan.
    assert metrics.visible_mask(np.array([[3.0, 4, 0, 0], [3, 4, 2, 2]])).tolist() == [False, True]


def test_center_error_hand_worked():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    gt = np.array([[3, 4, 10, 10], NAN4], float)
    error = metrics.center_error(pred, gt)
    assert error[0] == pytest.approx(5.0)
    assert math.isnan(error[1])


def test_success_curve_is_strictly_greater_and_auc_is_mean():
    curve = metrics.success_curve(np.array([1.0, 0.5, 0.0, np.nan]))
    # Visible frames only: IoU > t holds for {1, 0.5} below t = 0.5, for {1} from 0.5 on
    # (0.5 is not > 0.5), and for none at t = 1.
    assert len(curve) == 21
    np.testing.assert_allclose(curve[:10], 2 / 3)
    np.testing.assert_allclose(curve[10:20], 1 / 3)
    assert curve[20] == 0.0
    assert metrics.success_auc(curve) == pytest.approx((10 * 2 / 3 + 10 * 1 / 3) / 21)


def test_precision_curve_at_20px():
    curve = metrics.precision_curve(np.array([0.0, 10.0, 30.0, np.nan]))
    assert curve[0] == pytest.approx(1 / 3)
    assert metrics.precision_at(curve) == pytest.approx(2 / 3)
    assert curve[30] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not one of"):
        metrics.precision_at(curve, 20.5)


def test_curves_refuse_sequences_without_visible_frames():
    with pytest.raises(ValueError, match="no frame with a visible target"):
        metrics.success_curve(np.array([np.nan, np.nan]))


def test_mean_curve_weights_sequences_equally():
    np.testing.assert_allclose(metrics.mean_curve([np.ones(3), np.zeros(3)]), 0.5)


def test_long_term_thresholds_small_and_large_sets():
    small = metrics.long_term_thresholds([np.array([0.2, 0.9, np.nan]), np.array([0.5])])
    assert small.tolist() == [math.inf, 0.9, 0.5, 0.2, -math.inf]
    large = metrics.long_term_thresholds([np.arange(196.0)])
    # 196 scores, 98 picks: step 2, positions round(linspace(2, 194, 98)) of the
    # descending order, i.e. scores 193 first and 1 last.
    assert len(large) == 100
    assert (large[1], large[-2]) == (193.0, 1.0)
    assert np.all(np.diff(large) <= 0)


def test_long_term_precision_recall_hand_worked():
    # Sequence A: 3 visible frames, one absent (IoU nan) reported with score 0.8.
    # Sequence B: 1 visible frame, one absent frame with a low score.
    ious = [np.array([0.8, 0.6, np.nan, 0.4]), np.array([0.5, np.nan])]
    scores = [np.array([0.9, 0.7, 0.8, 0.2]), np.array([0.6, 0.1])]
    result = metrics.long_term_precision_recall(ious, scores)
    assert result.thresholds.tolist() == [math.inf, 0.9, 0.8, 0.7, 0.6, 0.2, 0.1, -math.inf]
    # Worked by hand (see docstrings): at τ=0.2, A has Pr 1.8/4, Re 1.8/3 and B Pr 0.5,
    # Re 0.5, so Pr = 19/40, Re = 11/20, F = 209/410, the maximum over thresholds.
    assert result.threshold == 0.2
    assert result.precision == pytest.approx(19 / 40)
    assert result.recall == pytest.approx(11 / 20)
    assert result.f_score == pytest.approx(209 / 410)
    # τ=+inf selects nothing: precision 1, recall 0 by convention.
    assert (result.precision_curve[0], result.recall_curve[0]) == (1.0, 0.0)
    # τ=0.8 in A selects the confident absent frame, which costs precision (IoU 0).
    assert result.precision_curve[2] == pytest.approx((0.4 + 1.0) / 2)


def test_precision_recall_curve_needs_a_visible_frame():
    with pytest.raises(ValueError, match="recall is undefined"):
        metrics.precision_recall_curve(np.array([np.nan]), np.array([1.0]), np.array([0.5]))


def test_f_score_is_zero_when_precision_and_recall_are():
    assert metrics.f_score(np.array([0.0, 0.5]), np.array([0.0, 0.5])).tolist() == [0.0, 0.5]


def test_absence_detection_counts_unreported_absent_frames():
    visible = np.array([True, False, False, True])
    lost = np.array([False, True, False, False])
    scores = np.array([0.9, 0.9, 0.9, 0.1])
    claimed = metrics.reports_target(lost, scores, threshold=0.5)
    assert claimed.tolist() == [True, False, True, False]
    stats = metrics.absence_detection(visible, claimed)
    assert (stats.absent_frames, stats.detected, stats.rate) == (2, 1, 0.5)
    assert math.isnan(metrics.absence_detection(np.array([True]), np.array([True])).rate)


def test_reacquisition_delays_failures_and_censoring():
    nan = np.nan
    ious = np.array([0.8, nan, 0.1, 0.5, 0.9, nan, 0.6, 0.1, 0.1, 0.1, nan, 0.1])
    claimed = np.array([1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1], dtype=bool)
    stats = metrics.reacquisition(ious, claimed, iou_threshold=0.3, within=3)
    # Re-appearance at 2: hit at 3 (delay 1). At 6: IoU 0.6 but not claimed, then low IoU
    # for the rest of the 3-frame window: not re-acquired. At 11: the window runs past the
    # end without a hit, so it is not counted.
    assert stats.delays == (1, None)
    assert (stats.events, stats.reacquired, stats.rate, stats.mean_delay) == (2, 1, 0.5, 1.0)
    assert (stats + stats).events == 4


def test_reacquisition_without_reappearance_is_nan():
    stats = metrics.reacquisition(np.array([0.5, 0.5]), np.array([True, True]))
    assert stats.events == 0
    assert math.isnan(stats.rate)


def test_position_error_cm():
    pred = np.array([[0.0, 0.0, 1.0], [0, 0, 1], [np.nan] * 3])
    gt = np.array([[0.0, 0.03, 1.04], [np.nan] * 3, [0, 0, 2]])
    errors = metrics.position_error_cm(pred, gt)
    assert errors[0] == pytest.approx(5.0)
    assert np.isnan(errors[1:]).all()
    stats = metrics.position_error_stats(errors, gt)
    # Two frames have a 3D ground truth, one of them an estimate.
    assert (stats.frames, stats.coverage, stats.median_cm) == (1, 0.5, pytest.approx(5.0))


def test_timing_stats_in_ms():
    stats = timing_stats([0.001, 0.003, np.nan, 0.002])
    assert stats.count == 3
    assert stats.median_ms == pytest.approx(2.0)
    assert stats.fps == pytest.approx(500.0)
    assert timing_stats([]).count == 0
    assert json_ready({"a": [np.float32(np.nan), np.int64(3)]}) == {"a": [None, 3]}


# --------------------------------------------------------------------------- results files


def _results(n: int = 5, name: str = "seq_a") -> SequenceResults:
    rng = np.random.default_rng(0)
    states = np.full(n, int(TrackerState.TRACKING))
    states[0] = int(TrackerState.IDLE)
    states[3] = int(TrackerState.LOST)
    positions = rng.uniform(-1, 2, (n, 3)).round(4)
    positions[2] = np.nan
    stage = rng.uniform(0, 0.01, n).round(7)
    stage[0] = np.nan
    return SequenceResults(
        tracker="mine",
        sequence=name,
        boxes=rng.uniform(0, 100, (n, 4)).round(4),
        scores=rng.uniform(0, 1, n).round(6),
        states=states,
        positions=positions,
        times=rng.uniform(0, 0.05, n).round(7),
        stage_times={"features": stage},
    )


def test_results_round_trip(tmp_path: Path):
    original = _results()
    path = tmp_path / "mine" / "seq_a.txt"
    write_results(path, original)
    loaded = read_results(path, sequence="seq_a", num_frames=5)
    assert (loaded.tracker, loaded.sequence) == ("mine", "seq_a")
    np.testing.assert_allclose(loaded.boxes, original.boxes)
    np.testing.assert_allclose(loaded.scores, original.scores)
    np.testing.assert_array_equal(loaded.states, original.states)
    np.testing.assert_allclose(loaded.positions, original.positions, atol=1e-9)
    np.testing.assert_allclose(loaded.times, original.times, atol=1e-9)
    np.testing.assert_allclose(loaded.stage_times["features"], original.stage_times["features"])
    assert loaded.lost.tolist() == [False, False, False, True, False]
    assert not list(tmp_path.rglob("*.partial"))


def test_results_wrong_length_names_sequence(tmp_path: Path):
    path = tmp_path / "seq_a.txt"
    write_results(path, _results())
    with pytest.raises(ResultsError, match=r"sequence 'seq_a'.*5 result rows.*7 frames"):
        read_results(path, sequence="seq_a", num_frames=7)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ResultsError, match=r"4 result rows \(header says 5\)"):
        read_results(path)


def test_results_nan_box_names_frame(tmp_path: Path):
    path = tmp_path / "seq_a.txt"
    write_results(path, _results())
    lines = path.read_text().splitlines()
    fields = lines[8].split(",")  # 4 header lines + columns, then frame 1 at index 5
    assert fields[0] == "4"
    fields[2] = "nan"
    lines[8] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ResultsError, match=r"sequence 'seq_a' frame 4: box .* not finite"):
        read_results(path)


def test_results_writer_refuses_nan_score(tmp_path: Path):
    bad = _results()
    bad.scores[2] = np.nan
    with pytest.raises(ResultsError, match=r"sequence 'seq_a' frame 3: score nan"):
        write_results(tmp_path / "x.txt", bad)


def test_results_bad_rows_are_named(tmp_path: Path):
    path = tmp_path / "seq_a.txt"
    write_results(path, _results())
    text = path.read_text()
    path.write_text(text.replace(",LOST,", ",GONE,"))
    with pytest.raises(ResultsError, match=r"frame 4: unknown state 'GONE'"):
        read_results(path)
    path.write_text(text.replace("\n3,", "\n9,"))
    with pytest.raises(ResultsError, match=r"frame 3: row is numbered '9'"):
        read_results(path)
    path.write_text(text)
    with pytest.raises(ResultsError, match=r"expected results for sequence 'other'"):
        read_results(path, sequence="other")


def test_results_missing_file_names_sequence(tmp_path: Path):
    with pytest.raises(ResultsError, match=r"no results for sequence 'seq_b'"):
        read_results(tmp_path / "mine" / "seq_b.txt", sequence="seq_b")
    (tmp_path / "junk.txt").write_text("x,y\n")
    with pytest.raises(ResultsError, match="not a results file"):
        read_results(tmp_path / "junk.txt")
