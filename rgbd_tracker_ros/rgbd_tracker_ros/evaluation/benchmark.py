"""Tracker speed: variants (device, precision, model form) timed per stage.

The ``benchmark`` command (``tools/benchmark.py``) says how the timing is done. A network
tracker's model forms (eager, TorchScript, .pt2: ``ModelForm``) run the same frames, and each
form's boxes and scores are compared with the first form's (``deviation``).
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rgbd_tracker_ros.evaluation.stats import (
    TimingStats,
    peak_rss_mb,
    timing_stats,
)
from rgbd_tracker_ros.tracking.api import Frame
from rgbd_tracker_ros.tracking.registry import create_tracker, parameter_names

LOG = logging.getLogger(__name__)

# Parameters that select an implementation variant, with the values compared side by side.
VARIANT_AXES: dict[str, tuple[Any, ...]] = {"precision": ("fp32", "fp16")}
HALF_PRECISION = "fp16"
REPORT_JSON = "benchmark.json"
REPORT_TABLE = "benchmark.txt"


@dataclass
class VariantResult:
    """Timings of one tracker variant on one device."""

    tracker: str
    device: str
    variant: dict[str, Any]
    init: TimingStats
    track: TimingStats
    fps_per_run: list[float]
    stages: dict[str, TimingStats]
    peak_rss_mb: float
    cuda_peak_mb: float | None
    speedup: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    form: str | None = None
    # Largest box (pixels) and score differences from the first form's run on the same frames.
    deviation: tuple[float, float] | None = None
    outputs: list[tuple[tuple[float, ...], float]] = field(default_factory=list, repr=False)

    @property
    def fps(self) -> float:
        return float(np.median(self.fps_per_run))

    @property
    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.variant.items()]
        if self.form:
            parts.append(self.form)
        return ", ".join(parts) or "default"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker,
            "device": self.device,
            "variant": self.variant,
            "fps": self.fps,
            "fps_per_run": self.fps_per_run,
            "speedup": self.speedup,
            "init": self.init.as_dict(),
            "track": self.track.as_dict(),
            "stages": {k: v.as_dict() for k, v in self.stages.items()},
            "peak_rss_mb": self.peak_rss_mb,
            "cuda_peak_mb": self.cuda_peak_mb,
            "params": self.params,
            "form": self.form,
            "deviation": None
            if self.deviation is None
            else {"box_px": self.deviation[0], "score": self.deviation[1]},
        }


@dataclass
class ModelForm:
    """One form of a network tracker's model: a file (``model_path``) or an eager network in
    memory (``network`` of ``architecture``). A form compiled for one precision (a .pt2) names
    it in ``precision`` and is only timed in that precision."""

    name: str
    model_path: str | None = None
    network: Any = None
    architecture: str = ""
    precision: str | None = None

    def tracker_model(self, device: str, precision: str) -> Any:
        """The in-memory network as a ``TrackerModel`` (None for a file)."""
        if self.network is None:
            return None
        from rgbd_tracker_ros.tracking.device import resolve_device
        from rgbd_tracker_ros.tracking.model import TrackerModel
        from rgbd_tracker_ros.tracking.networks.export import half_precision_backbone

        target = resolve_device(device)
        network = copy.deepcopy(self.network).to(target)
        if precision == HALF_PRECISION:
            half_precision_backbone(network)
        return TrackerModel(network, target, self.architecture)


def variants(
    names: Collection[str], fixed: Mapping[str, Any], devices: Sequence[str], vary: bool
) -> list[dict[str, Any]]:
    """The parameter sets to time for one tracker.

    ``names`` are the tracker's parameter names; a parameter in ``fixed`` (from ``--param``)
    is never varied. fp16 is only paired with CUDA devices.
    """
    axes: dict[str, Sequence[Any]] = {}
    if "device" in names and "device" not in fixed:
        axes["device"] = list(devices)
    if vary:
        axes.update({k: v for k, v in VARIANT_AXES.items() if k in names and k not in fixed})
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    return [
        c
        for c in combos
        if not (
            c.get("precision") == HALF_PRECISION
            and not str(c.get("device", fixed.get("device", ""))).startswith("cuda")
        )
    ]


def time_variant(
    tracker_name: str,
    params: Mapping[str, Any],
    frames: list[Frame],
    init_box: tuple[float, float, float, float],
    warmup: int,
    runs: int,
    synchronize: Callable[[], None],
    model: Any = None,
) -> tuple[list[float], list[float], dict[str, list[float]], list[float], list[tuple[Any, float]]]:
    """Init times, track times, stage times (seconds), per-run frames/s and the last run's
    (box, score) per frame of one variant."""
    tracker = create_tracker(tracker_name, params, model=model)
    tracker.initialize(frames[0], init_box)
    for frame in frames[1 : 1 + warmup]:
        tracker.track(frame)
    synchronize()
    init_times: list[float] = []
    track_times: list[float] = []
    stages: dict[str, list[float]] = {}
    fps_runs: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        tracker.initialize(frames[0], init_box)
        synchronize()
        init_times.append(time.perf_counter() - start)
        run_times = []
        outputs = []
        for frame in frames[1:]:
            start = time.perf_counter()
            result = tracker.track(frame)
            synchronize()
            run_times.append(time.perf_counter() - start)
            outputs.append((result.box_xywh, result.score))
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(seconds)
        track_times += run_times
        fps_runs.append(len(run_times) / sum(run_times))
    return init_times, track_times, stages, fps_runs, outputs


def benchmark_tracker(
    tracker_name: str,
    overrides: Mapping[str, Any],
    frames: list[Frame],
    init_box: tuple[float, float, float, float],
    devices: Sequence[str],
    vary: bool,
    warmup: int,
    runs: int,
    forms: Sequence[ModelForm] = (),
) -> list[VariantResult]:
    """Time every variant (and model form) of one tracker; speed-ups relative to the first on
    each device, deviations relative to the first form of the same variant."""
    results: list[VariantResult] = []
    for variant in variants(parameter_names(tracker_name), overrides, devices, vary):
        params = {**overrides, **variant}
        device = str(params.get("device", "cpu"))
        precision = str(params.get("precision", "fp32"))
        torch = torch_for(device)
        synchronize = torch.cuda.synchronize if torch is not None else _no_sync
        for form in forms or [None]:
            if form is not None and form.precision not in (None, precision):
                continue
            form_params = dict(params)
            if form is not None and form.model_path is not None:
                form_params["model_path"] = form.model_path
            model = None if form is None else form.tracker_model(device, precision)
            if torch is not None:
                torch.cuda.reset_peak_memory_stats()
            LOG.info("timing %s %s %s", tracker_name, variant or "default", form and form.name)
            init_times, track_times, stages, fps_runs, outputs = time_variant(
                tracker_name, form_params, frames, init_box, warmup, runs, synchronize, model
            )
            results.append(
                VariantResult(
                    tracker=tracker_name,
                    device=device,
                    variant={k: v for k, v in variant.items() if k != "device"},
                    init=timing_stats(init_times),
                    track=timing_stats(track_times),
                    fps_per_run=fps_runs,
                    stages={k: timing_stats(v) for k, v in sorted(stages.items())},
                    peak_rss_mb=peak_rss_mb(),
                    cuda_peak_mb=None
                    if torch is None
                    else torch.cuda.max_memory_allocated() / 2**20,
                    params=form_params,
                    form=None if form is None else form.name,
                    outputs=outputs,
                )
            )
    for result in results:
        baseline = next(r for r in results if r.device == result.device)
        result.speedup = baseline.track.median_ms / result.track.median_ms
        if result.form is not None:
            first = next(
                r for r in results if (r.device, r.variant) == (result.device, result.variant)
            )
            result.deviation = deviation(first.outputs, result.outputs)
    return results


def deviation(
    reference: Sequence[tuple[Any, float]], other: Sequence[tuple[Any, float]]
) -> tuple[float, float]:
    """Largest box coordinate (pixels) and score differences over the frames of two runs."""
    boxes = np.abs(np.array([b for b, _ in reference]) - np.array([b for b, _ in other]))
    scores = np.abs(np.array([s for _, s in reference]) - np.array([s for _, s in other]))
    return float(boxes.max(initial=0.0)), float(scores.max(initial=0.0))


def torch_for(device: str) -> Any:
    """The torch module when ``device`` resolves to a GPU (to synchronise and read memory)."""
    if not (device.startswith("cuda") or device == "auto"):
        return None
    import torch

    return torch if torch.cuda.is_available() else None


def _no_sync() -> None:
    """CPU work is finished when the call returns."""


def format_table(results: list[VariantResult]) -> str:
    """Plain-text table, one row per variant, stage medians in the last column."""
    header = (
        "tracker",
        "device",
        "variant",
        "init ms",
        "track ms",
        "p95 ms",
        "fps",
        "speedup",
        "RSS MB",
        "CUDA MB",
        "max dbox px",
        "max dscore",
        "stages (median ms)",
    )
    rows = [header]
    for r in results:
        stages = " ".join(f"{k}={v.median_ms:.2f}" for k, v in r.stages.items())
        rows.append(
            (
                r.tracker,
                r.device,
                r.label,
                f"{r.init.median_ms:.2f}",
                f"{r.track.median_ms:.2f}",
                f"{r.track.p95_ms:.2f}",
                f"{r.fps:.1f}",
                f"{r.speedup:.2f}x",
                f"{r.peak_rss_mb:.0f}",
                "–" if r.cuda_peak_mb is None else f"{r.cuda_peak_mb:.0f}",
                "–" if r.deviation is None else f"{r.deviation[0]:.1e}",
                "–" if r.deviation is None else f"{r.deviation[1]:.1e}",
                stages or "–",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"
