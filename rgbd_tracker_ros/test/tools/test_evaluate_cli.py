"""End to end: `evaluate` over two tiny generated sequences with test-only trackers."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fake_trackers import NoParams, fake_spec

from rgbd_tracker_ros.evaluation import evaluate, metrics
from rgbd_tracker_ros.evaluation.results import read_results
from rgbd_tracker_ros.evaluation.runner import track_sequence
from rgbd_tracker_ros.geometry import robust_target_depth
from rgbd_tracker_ros.outcome import DEPTH_NOISE_M, DEPTH_NOISE_SHARE, OutcomeParams
from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.sequences.synthetic import generate_sequence, preset_config
from rgbd_tracker_ros.tools import evaluate as evaluate_tool
from rgbd_tracker_ros.tools.cli import tracker_overrides
from rgbd_tracker_ros.tracking.api import Frame, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.registry import register

# Ground truth the oracle replays, keyed by the init box (the only thing a tracker is told).
ORACLE_TRUTH: dict[tuple[float, ...], np.ndarray] = {}
BUILT: list[str] = []


class OracleTracker:
    """Returns the ground truth; LOST with score 0 (last box kept) while the target is absent."""

    name = "test_oracle"

    def initialize(self, frame: Frame, box_xywh: tuple[float, float, float, float]) -> None:
        self._truth = ORACLE_TRUTH[tuple(box_xywh)]
        self._index = 0
        self._box = tuple(box_xywh)

    def track(self, frame: Frame) -> TrackResult:
        self._index += 1
        row = self._truth[self._index]
        if np.isnan(row).any():
            return TrackResult(self._box, 0.0, TrackerState.LOST)
        self._box = tuple(float(v) for v in row)
        return TrackResult(self._box, 1.0, TrackerState.TRACKING, timings={"lookup": 1e-4})


class StillTracker:
    """Keeps the init box forever with full confidence."""

    name = "test_still"

    def initialize(self, frame: Frame, box_xywh: tuple[float, float, float, float]) -> None:
        self._box = tuple(box_xywh)

    def track(self, frame: Frame) -> TrackResult:
        return TrackResult(self._box, 1.0, TrackerState.TRACKING)


@dataclass(frozen=True)
class StillParams:
    size: int = 1  # unused: only there to be set from the command line


def build_oracle(params: NoParams, model: None) -> OracleTracker:
    BUILT.append("test_oracle")
    return OracleTracker()


def build_still(params: StillParams, model: None) -> StillTracker:
    BUILT.append("test_still")
    return StillTracker()


def build_unavailable(params: NoParams, model: None) -> StillTracker:
    raise ImportError("needs a package this test does not have")


register(fake_spec("test_oracle", f"{__name__}:build_oracle"))
register(fake_spec("test_still", f"{__name__}:build_still", StillParams))
register(fake_spec("test_unavailable", f"{__name__}:build_unavailable"))


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sequences")
    tiny = {"width": 64, "height": 48, "photo_textures": False}
    generate_sequence(
        preset_config("easy", seed=1, num_frames=12, name="easy", **tiny), root / "easy"
    )
    generate_sequence(
        preset_config("out_of_view", seed=2, num_frames=60, name="away", **tiny), root / "away"
    )
    for name in ("easy", "away"):
        truth = read_sequence(root / name).groundtruth
        ORACLE_TRUTH[tuple(truth[0])] = truth
    return root


ALL = ("test_oracle", "test_still", "test_unavailable")


def _run(sequences: Path, out: Path, *extra: str, trackers: tuple[str, ...] = ALL) -> int:
    return evaluate_tool.main(
        [
            "--sequences",
            str(sequences),
            "--trackers",
            *trackers,
            "--output",
            str(out),
            "--no-progress",
            *extra,
        ]
    )


def test_evaluate_writes_summary_plots_and_resumes(sequences: Path, tmp_path: Path):
    out = tmp_path / "results"
    BUILT.clear()
    assert _run(sequences, out) == 0
    assert sorted(BUILT) == ["test_oracle"] * 3 + ["test_still"] * 3  # probe + 2 sequences

    summary = json.loads((out / "summary.json").read_text())
    by_name = {t["tracker"]: t for t in summary["trackers"]}
    assert set(by_name) == {"test_oracle", "test_still"}
    assert "test_unavailable" in summary["unavailable"]
    oracle = by_name["test_oracle"]
    # Perfect boxes: IoU 1 passes every threshold but t = 1 (strictly greater).
    assert oracle["auc"] == pytest.approx(20 / 21)
    assert oracle["precision_20px"] == 1.0
    assert oracle["absent_detection_rate"] == 1.0
    assert oracle["reappearances"] >= 1
    assert oracle["reacquisition_rate"] == 1.0
    assert oracle["lt_f_score"] == pytest.approx(1.0)
    assert oracle["position_error"]["frames"] > 0
    assert "lookup" in oracle["stage_times"]

    # The still tracker's AUC, recomputed here from the ground truth alone.
    expected = []
    for name in ("away", "easy"):
        truth = read_sequence(sequences / name).groundtruth
        still = np.repeat(truth[:1], len(truth) - 1, axis=0)
        expected.append(metrics.success_curve(metrics.iou(still, truth[1:])))
    still = by_name["test_still"]
    assert still["auc"] == pytest.approx(metrics.success_auc(metrics.mean_curve(expected)))
    assert still["absent_detection_rate"] == 0.0
    assert [s["sequence"] for s in still["per_sequence"]] == ["away", "easy"]

    markdown = (out / "summary.md").read_text()
    assert "| test_oracle | 0.952 |" in markdown
    assert "test_unavailable: needs a package" in markdown
    for png in ("success", "precision", "precision_recall", "per_sequence_auc"):
        assert (out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Resume: nothing is re-tracked; a damaged results file is redone.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.txt")}
    BUILT.clear()
    assert _run(sequences, out) == 0
    assert sorted(BUILT) == ["test_oracle", "test_still"]  # availability probes only
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.txt")} == stamps
    damaged = out / "test_still" / "away.txt"
    damaged.write_text("\n".join(damaged.read_text().splitlines()[:-3]) + "\n")
    BUILT.clear()
    assert _run(sequences, out) == 0
    assert sorted(BUILT) == ["test_oracle", "test_still", "test_still"]
    assert len(read_results(damaged, "away", 60)) == 60


def test_score_only_and_bad_input_errors(
    sequences: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    out = tmp_path / "results"
    still = ("test_still",)
    assert _run(sequences, out, "--limit", "1", trackers=still) == 0
    BUILT.clear()
    assert _run(sequences, out, "--limit", "1", "--score-only", trackers=still) == 0
    assert BUILT == []

    # Scoring a sequence that has no results names it.
    assert _run(sequences, out, "--score-only", trackers=still) == 1
    assert "no results for sequence 'easy'" in caplog.text

    # Results made with other parameters are not mixed in.
    assert _run(sequences, out, "--limit", "1", "--param", "test_still.size=3", trackers=still) == 1
    assert "other parameters" in caplog.text

    # A listed but missing sequence.
    (sequences / "list.txt").write_text("easy\nmissing_one\n")
    try:
        assert _run(sequences, tmp_path / "other") == 1
        assert "missing_one" in caplog.text
    finally:
        (sequences / "list.txt").unlink()


def test_param_parsing_and_suite_recipe():
    parsed = tracker_overrides(["a.x=3", "a.y=[1, 2]", "b.z=fp16"], ["a", "b"])
    assert parsed == {"a": {"x": 3, "y": [1, 2]}, "b": {"z": "fp16"}}
    with pytest.raises(ValueError, match="'c' is not in --trackers"):
        tracker_overrides(["c.x=1"], ["depth_dcf"])
    with pytest.raises(ValueError, match=r"\[TRACKER\.\]KEY=VALUE"):
        tracker_overrides(["x"], ["a"])
    # Unqualified keys go to every tracker that has them.
    routed = tracker_overrides(["cell_size_px=4"], ["depth_dcf", "opencv_kcf"])
    assert routed == {"depth_dcf": {"cell_size_px": 4}, "opencv_kcf": {}}
    assert evaluate.SUITE_SEQUENCES >= 20


def test_evaluation_gives_no_pose_that_jumps(sequences: Path):
    """Like the node: once the still box holds the background instead of the target, its
    depth jumps metres in a frame; that is no pose of the target (UNCERTAIN, no position)."""
    sequence = read_sequence(sequences / "away")
    results = track_sequence(StillTracker(), "test_still", sequence, progress=False)
    params = OutcomeParams()

    def box_depth(index: int) -> float:
        estimate = robust_target_depth(
            sequence.frame(index).depth, results.boxes[index], params.depth
        )
        return np.nan if estimate is None else estimate.depth

    depth = np.array([box_depth(i) for i in range(len(sequence))])
    jumps = np.flatnonzero(np.abs(np.diff(depth)) > 1.0) + 1
    assert jumps.size, "the still box must come to hold the background"
    assert np.isnan(results.positions[jumps[0]]).all()
    assert results.states[jumps[0]] == TrackerState.UNCERTAIN
    stamps = np.arange(len(sequence)) / sequence.fps
    published = np.flatnonzero(np.isfinite(results.positions[:, 2]))
    for before, after in itertools.pairwise(published):
        z0, z1 = results.positions[before, 2], results.positions[after, 2]
        reach = DEPTH_NOISE_M + DEPTH_NOISE_SHARE * z0
        reach += params.max_target_speed * (stamps[after] - stamps[before])
        assert abs(z1 - z0) <= reach + 1e-9


def test_two_suites_are_reported_side_by_side(
    sequences: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Each built-in suite is stood in for by one tiny sequence (generating the real ones
    # takes minutes); what is checked is that both are run, scored and put side by side.
    folders = {"synthetic": [sequences / "easy"], "hard": [sequences / "away"]}
    asked: list[tuple[str, int, int]] = []

    def fake_suite(root: Path, size: int, seed: int, progress: bool, suite: str) -> list[Path]:
        asked.append((suite, size, seed))
        return folders[suite]

    monkeypatch.setattr(evaluate_tool, "synthetic_suite", fake_suite)
    out = tmp_path / "both"
    argv = ["--suite", "synthetic", "hard", "--trackers", "test_oracle", "test_still"]
    assert evaluate_tool.main([*argv, "--output", str(out), "--no-progress"]) == 0
    assert asked == [("synthetic", 24, 0), ("hard", 18, 0)]
    for dataset in ("synthetic_n24_s0", "hard_n18_s0"):
        assert (out / dataset / "summary.md").is_file()
    table = (out / evaluate.SIDE_BY_SIDE_FILE).read_text()
    assert "synthetic_n24_s0 AUC" in table and "hard_n18_s0 AUC" in table
    oracle = next(line for line in table.splitlines() if line.startswith("| test_oracle |"))
    assert oracle.count("| 0.952 |") == 2  # perfect boxes on both
    still = next(line for line in table.splitlines() if line.startswith("| test_still |"))
    assert "| 0.0 % |" in still  # the still box never says the target left (hard stand-in)
