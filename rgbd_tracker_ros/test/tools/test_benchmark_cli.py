"""The benchmark tool: variant selection from tracker parameters, and a tiny timed run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fake_trackers import NoParams, fake_spec

from rgbd_tracker_ros.evaluation import benchmark
from rgbd_tracker_ros.sequences.synthetic import generate_sequence, preset_config
from rgbd_tracker_ros.tools import benchmark as benchmark_tool
from rgbd_tracker_ros.tools.cli import tracker_overrides
from rgbd_tracker_ros.tracking.api import Frame, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.registry import register


class StagedTracker:
    """Reports two stages; records the parameters it was built with."""

    name = "test_staged"

    def initialize(self, frame: Frame, box_xywh: tuple[float, float, float, float]) -> None:
        self._box = tuple(box_xywh)

    def track(self, frame: Frame) -> TrackResult:
        timings = {"features": 0.001, "solve": 0.002}
        return TrackResult(self._box, 1.0, TrackerState.TRACKING, timings=timings)


def build_staged(params: NoParams, model: None) -> StagedTracker:
    BUILT.append(dataclasses.asdict(params))
    return StagedTracker()


BUILT: list[dict[str, Any]] = []
register(fake_spec("test_staged", f"{__name__}:build_staged"))


def test_variants_come_from_tracker_parameters():
    defaults = {"device": "auto", "precision": "fp32", "other": 1}
    cpu_only = benchmark.variants(defaults, {}, ["cpu"], vary=True)
    # fp16 is never paired with a CPU device.
    assert cpu_only == [{"device": "cpu", "precision": "fp32"}]
    both = benchmark.variants(defaults, {}, ["cpu", "cuda"], vary=True)
    assert both == [
        {"device": "cpu", "precision": "fp32"},
        {"device": "cuda", "precision": "fp32"},
        {"device": "cuda", "precision": "fp16"},
    ]
    # A parameter fixed on the command line is not varied; --no-variants keeps only devices.
    assert benchmark.variants(defaults, {"precision": "fp32"}, ["cpu", "cuda"], vary=True) == [
        {"device": "cpu"},
        {"device": "cuda"},
    ]
    assert benchmark.variants(defaults, {}, ["cpu"], vary=False) == [{"device": "cpu"}]
    # A tracker without such parameters (e.g. OpenCV's) has a single default variant.
    assert benchmark.variants({"opencv_params": {}}, {}, ["cpu", "cuda"], vary=True) == [{}]


def test_form_deviation_is_the_largest_box_and_score_difference():
    first = [((10.0, 20.0, 30.0, 40.0), 0.5), ((11.0, 21.0, 30.0, 40.0), 0.6)]
    other = [((10.0, 20.0, 30.0, 40.0), 0.5), ((11.0, 21.002, 30.0, 39.9995), 0.59)]
    box, score = benchmark.deviation(first, other)
    assert box == pytest.approx(0.002) and score == pytest.approx(0.01)
    assert benchmark.deviation(first, first) == (0.0, 0.0)


def test_benchmark_run_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture):
    sequence = generate_sequence(
        preset_config("easy", seed=3, num_frames=8, width=64, height=48, photo_textures=False),
        tmp_path / "seq",
    )
    BUILT.clear()
    argv = ["--trackers", "test_staged", "--sequence", str(sequence), "--frames", "5"]
    argv += ["--runs", "2", "--warmup", "1", "--output", str(tmp_path / "out")]
    assert benchmark_tool.main(argv) == 0
    assert "test_staged" in capsys.readouterr().out
    document = json.loads((tmp_path / "out" / benchmark.REPORT_JSON).read_text())
    (result,) = document["results"]
    assert result["track"]["count"] == 10  # 5 frames x 2 runs
    assert len(result["fps_per_run"]) == 2
    assert set(result["stages"]) == {"features", "solve"}
    assert result["stages"]["solve"]["median_ms"] == pytest.approx(2.0)
    assert result["speedup"] == 1.0
    assert document["machine"]["cpu_count"] >= 1
    assert (tmp_path / "out" / benchmark.REPORT_TABLE).read_text().startswith("seq: 64x48")
    assert BUILT == [{}]


def test_param_routing_and_bad_flags():
    assert tracker_overrides(["test_staged.x=2"], ["test_staged"]) == {"test_staged": {"x": 2}}
    with pytest.raises(ValueError, match="no tracker in --trackers has parameter"):
        tracker_overrides(["nothing_has_this=1"], ["test_staged"])
    assert benchmark_tool.main(["--trackers", "test_staged", "--frames", "0"]) == 1


def run_random_weight_dimp(tmp_path: Path, *forms: str) -> dict[str, Any]:
    """Benchmark a random-weight DiMP-50 in ``forms`` on a small sequence: the JSON report."""
    sequence = generate_sequence(
        preset_config("easy", seed=4, num_frames=5, width=160, height=120, photo_textures=False),
        tmp_path / "seq",
    )
    argv = ["--trackers", "dimp", "--sequence", str(sequence), "--frames", "3", "--runs", "1"]
    argv += ["--warmup", "1", "--random-weights", "--forms", *forms]
    argv += ["--param", "image_sample_size=128", "--param", "device=cpu"]
    argv += ["--output", str(tmp_path / "out")]
    assert benchmark_tool.main(argv) == 0
    return json.loads((tmp_path / "out" / benchmark.REPORT_JSON).read_text())


def test_benchmark_compares_eager_and_torchscript_of_a_random_weight_network(tmp_path: Path):
    """The forms run the same frames and agree at the issue's tolerance."""
    document = run_random_weight_dimp(tmp_path, "eager", "torchscript")
    eager, scripted = document["results"]
    assert (eager["form"], scripted["form"]) == ("eager", "torchscript")
    assert eager["deviation"] == {"box_px": 0.0, "score": 0.0}
    assert scripted["deviation"]["box_px"] <= 1e-3 and scripted["deviation"]["score"] <= 1e-4
    assert scripted["params"]["model_path"] == str(tmp_path / "out" / "models" / "dimp.ts")
    assert {"backbone", "classify", "total"} <= set(scripted["stages"])


def test_a_form_that_cannot_be_exported_is_reported_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    """A .pt2 the export check refuses costs its row, not the run."""
    from rgbd_tracker_ros.tracking import model
    from rgbd_tracker_ros.tracking.networks.export import ExportError

    def refuse(*args: Any, **kwargs: Any) -> Path:
        raise ExportError("x.pt2: the compiled package does not track like the eager network")

    monkeypatch.setattr(model, "export_network", refuse)
    document = run_random_weight_dimp(tmp_path, "eager", "pt2")
    assert [result["form"] for result in document["results"]] == ["eager"]
    assert "does not track like the eager network" in document["unavailable"]["dimp (pt2)"]
    assert "unavailable: dimp (pt2): x.pt2" in capsys.readouterr().out
