"""The ``benchmark`` command: how fast a tracker initialises and tracks, per stage and variant.

Examples::

    benchmark --trackers depth_dcf opencv_mil
    benchmark --trackers dimp --param model_path=dimp50.ts --devices cpu cuda --output results/bench

Frames are decoded into memory first, so only the tracker is timed. Each variant runs a
warm-up (initialise + a few frames, discarded), then ``--runs`` timed passes over the same
frames; per-frame ``track()`` times and the stage times the tracker reports in
``TrackResult.timings`` are pooled over the passes. Frames/s is the median over passes of
frames / total track time.

Variants come from the tracker's own parameters (``config/trackers/<name>.yaml``): a
``device`` parameter makes it run on each of ``--devices``; ``jit`` (eager vs TorchScript)
and ``precision`` (fp32 vs fp16, CUDA only) parameters are varied where the tracker has
them, unless fixed with ``--param``. Within one tracker and device, every variant's speed-up
is its median track time relative to the first variant's, measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rgbd_tracker_ros.evaluation.cli import add_param_argument, run_command, tracker_overrides
from rgbd_tracker_ros.evaluation.stats import (
    TimingStats,
    json_ready,
    machine_info,
    peak_rss_mb,
    timing_stats,
)
from rgbd_tracker_ros.sequences.demo import demo_sequence
from rgbd_tracker_ros.sequences.depthtrack import SequenceError, read_sequence
from rgbd_tracker_ros.tracking.api import Frame
from rgbd_tracker_ros.tracking.device import limit_cpu_threads
from rgbd_tracker_ros.tracking.params import merge_params
from rgbd_tracker_ros.tracking.registry import DEFAULT_TRACKER, create_tracker

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
    defaults: Mapping[str, Any], fixed: Mapping[str, Any], devices: Sequence[str], vary: bool
) -> list[dict[str, Any]]:
    """The parameter sets to time for one tracker.

    ``defaults`` are the tracker's YAML parameters; a parameter in ``fixed`` (from
    ``--param``) is never varied. fp16 is only paired with CUDA devices.
    """
    axes: dict[str, Sequence[Any]] = {}
    if "device" in defaults and "device" not in fixed:
        axes["device"] = list(devices)
    if vary:
        axes.update({k: v for k, v in VARIANT_AXES.items() if k in defaults and k not in fixed})
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
    defaults = merge_params(tracker_name, overrides)
    results: list[VariantResult] = []
    for variant in variants(defaults, overrides, devices, vary):
        params = {**overrides, **variant}
        device = str(params.get("device", "cpu"))
        torch = _torch_for(device)
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


def _torch_for(device: str) -> Any:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark",
        description="Time trackers' initialize() and track() per stage and variant "
        "(device, eager/TorchScript, fp32/fp16): median, p95, frames/s, peak memory.",
    )
    parser.add_argument(
        "--trackers", nargs="+", default=[DEFAULT_TRACKER], help="registry names, timed in turn"
    )
    parser.add_argument(
        "--sequence", type=Path, help="DepthTrack-layout sequence (default: the demo, 640x480)"
    )
    parser.add_argument("--frames", type=int, default=100, help="tracked frames per run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first")
    parser.add_argument("--runs", type=int, default=3, help="timed passes over the frames")
    parser.add_argument(
        "--devices",
        nargs="+",
        help="devices for trackers with a 'device' parameter (default: cpu, and cuda if present)",
    )
    parser.add_argument(
        "--no-variants", action="store_true", help="time only the default jit/precision"
    )
    add_param_argument(parser)
    parser.add_argument("--threads", type=int, help="CPU threads for torch and OpenCV")
    parser.add_argument(
        "--output", type=Path, help=f"folder to write {REPORT_JSON} and {REPORT_TABLE} into"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_benchmark, build_parser().parse_args(argv), (SequenceError, ValueError))


def _benchmark(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.runs < 1 or args.warmup < 0:
        raise ValueError("--frames and --runs must be at least 1, --warmup at least 0")
    overrides = tracker_overrides(args.param, args.trackers)
    uses_torch = any("device" in merge_params(name, overrides[name]) for name in args.trackers)
    if args.threads is not None:
        limit_cpu_threads(args.threads, torch_too=uses_torch)
    devices = args.devices or (
        ["cpu", "cuda"] if uses_torch and _torch_for("cuda") is not None else ["cpu"]
    )
    sequence = read_sequence(args.sequence or demo_sequence())
    count = min(len(sequence), args.frames + 1)
    frames = [sequence.frame(i) for i in range(count)]
    init_box = tuple(float(v) for v in sequence.groundtruth[0])
    if not np.all(np.isfinite(init_box)):
        raise SequenceError(f"{sequence.path}: frame 1 has no ground-truth box to start from")

    results: list[VariantResult] = []
    unavailable: dict[str, str] = {}
    for name in args.trackers:
        try:
            results += benchmark_tracker(
                name,
                overrides[name],
                frames,
                init_box,
                devices,
                not args.no_variants,
                args.warmup,
                args.runs,
            )
        except ImportError as exc:
            LOG.warning("tracker %s unavailable: %s", name, exc)
            unavailable[name] = str(exc)
    width, height = frames[0].size_wh
    table = (
        f"{sequence.name}: {width}x{height}, {count - 1} frames x {args.runs} runs "
        f"(warm-up {args.warmup})\n\n{format_table(results)}"
        + "".join(f"unavailable: {name}: {reason}\n" for name, reason in unavailable.items())
    )
    sys.stdout.write(table)
    if args.output:
        document = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_info(),
            "sequence": str(sequence.path),
            "image_size": [width, height],
            "frames": count - 1,
            "warmup": args.warmup,
            "runs": args.runs,
            "results": [json_ready(r.as_dict()) for r in results],
            "unavailable": unavailable,
        }
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / REPORT_TABLE).write_text(table)
        (args.output / REPORT_JSON).write_text(
            json.dumps(document, indent=2, default=str, allow_nan=False) + "\n"
        )
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
