"""Tracker speed: variants (device, eager/TorchScript, precision) timed per stage.

The ``benchmark`` command (``tools/benchmark.py``) says how the timing is done.
"""

from __future__ import annotations

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
VARIANT_AXES: dict[str, tuple[Any, ...]] = {"jit": (False, True), "precision": ("fp32", "fp16")}
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

    @property
    def fps(self) -> float:
        return float(np.median(self.fps_per_run))

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.variant.items()) or "default"

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
        }


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
) -> tuple[list[float], list[float], dict[str, list[float]], list[float]]:
    """Init times, track times, stage times (seconds) and per-run frames/s of one variant."""
    tracker = create_tracker(tracker_name, params)
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
        for frame in frames[1:]:
            start = time.perf_counter()
            result = tracker.track(frame)
            synchronize()
            run_times.append(time.perf_counter() - start)
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(seconds)
        track_times += run_times
        fps_runs.append(len(run_times) / sum(run_times))
    return init_times, track_times, stages, fps_runs


def benchmark_tracker(
    tracker_name: str,
    overrides: Mapping[str, Any],
    frames: list[Frame],
    init_box: tuple[float, float, float, float],
    devices: Sequence[str],
    vary: bool,
    warmup: int,
    runs: int,
) -> list[VariantResult]:
    """Time every variant of one tracker; speed-ups relative to the first on each device."""
    results: list[VariantResult] = []
    for variant in variants(parameter_names(tracker_name), overrides, devices, vary):
        params = {**overrides, **variant}
        device = str(params.get("device", "cpu"))
        torch = torch_for(device)
        if torch is not None:
            torch.cuda.reset_peak_memory_stats()
        synchronize = torch.cuda.synchronize if torch is not None else _no_sync
        LOG.info("timing %s %s", tracker_name, variant or "default")
        init_times, track_times, stages, fps_runs = time_variant(
            tracker_name, params, frames, init_box, warmup, runs, synchronize
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
                cuda_peak_mb=None if torch is None else torch.cuda.max_memory_allocated() / 2**20,
                params=params,
            )
        )
    for result in results:
        baseline = next(r for r in results if r.device == result.device)
        result.speedup = baseline.track.median_ms / result.track.median_ms
    return results


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
                stages or "–",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"
