"""The one-shot GPU check: every network tracker in every model form and precision on CUDA.

    bash scripts/gpu_check.sh [--output results/gpu_check]      (or: make gpu-check)

Runs the ROS-free core from a checkout with only python3, a CUDA PyTorch, OpenCV and NumPy
(``scripts/gpu_check.sh`` sets the path up). For each network tracker (random weights drawn like
a trained network's, ``networks/random_weights.py``; speed does not depend on the values),
each form (eager, TorchScript ``.ts``, AOTInductor ``.pt2``) and precision (fp32, fp16), on the
demo sequence: CUDA ``track()`` median and p95, ``initialize()`` time, peak GPU memory; the
largest box and score differences from the eager fp32 run on the CPU, and of fp16 from fp32 in
the same form. One Markdown table goes to ``<output>/gpu_check.md``; progress is printed.

Compiling a ``.pt2`` takes minutes, so the packages are built last and only while the time
budget (``--budget``) allows; a row that did not fit says so. Without a GPU the check says
clearly that none was found and runs the CPU-only part of the same table (eager and
TorchScript, fp32, CPU times), so the whole path is exercised anywhere (CI runs it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rgbd_tracker_ros.evaluation.benchmark import (
    ModelForm,
    VariantResult,
    benchmark_tracker,
    deviation,
)
from rgbd_tracker_ros.sequences.demo import demo_sequence
from rgbd_tracker_ros.sequences.depthtrack import SequenceError, read_sequence
from rgbd_tracker_ros.tools.cli import run_command
from rgbd_tracker_ros.tracking.api import Frame
from rgbd_tracker_ros.tracking.model import export_network
from rgbd_tracker_ros.tracking.networks import checkpoint
from rgbd_tracker_ros.tracking.networks.export import ExportError
from rgbd_tracker_ros.tracking.networks.random_weights import randomise
from rgbd_tracker_ros.tracking.params import Layer
from rgbd_tracker_ros.tracking.registry import get_spec

LOG = logging.getLogger("gpu_check")

TABLE = "gpu_check.md"
NETWORK_TRACKERS = ("dimp", "det", "trdimp")
# Refinement on every frame, as with a trained network that keeps finding its target.
OVERRIDES = {"target_not_found_threshold": -1.0}
WARMUP = 3


@dataclass
class Row:
    """One line of the table: a timed form, or one that was not built (``note``)."""

    tracker: str
    form: str
    precision: str
    result: VariantResult | None = None
    vs_cpu: tuple[float, float] | None = None
    vs_fp32: tuple[float, float] | None = None
    note: str = ""


@dataclass
class _Run:
    """What the check holds for one tracker."""

    name: str
    architecture: str
    network: Any
    reference: VariantResult
    results: list[VariantResult]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=Path("results/gpu_check"), help=f"folder for {TABLE}"
    )
    parser.add_argument("--trackers", nargs="+", default=list(NETWORK_TRACKERS))
    parser.add_argument(
        "--sequence", type=Path, help="DepthTrack-layout sequence (default: the demo, 640x480)"
    )
    parser.add_argument("--frames", type=int, default=40, help="tracked frames per run")
    parser.add_argument(
        "--budget", type=float, default=420.0, help="seconds after which no .pt2 is compiled"
    )
    parser.add_argument(
        "--image-sample-size", type=int, help="search patch side (default: each tracker's)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_check, build_parser().parse_args(argv), (SequenceError, ValueError))


def _progress(message: str) -> None:
    print(f"[gpu_check] {message}", flush=True)


def _check(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ValueError("--frames must be at least 1")
    start = time.monotonic()
    cuda = torch.cuda.is_available()
    if cuda:
        _progress(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    else:
        _progress(
            f"NO GPU FOUND (torch {torch.__version__}: torch.cuda.is_available() is False). "
            "Running the CPU-only fallback: eager and TorchScript in fp32 on the CPU; "
            "no GPU numbers."
        )
    sequence = read_sequence(args.sequence or demo_sequence())
    frames = [sequence.frame(i) for i in range(min(len(sequence), args.frames + 1))]
    init_box = tuple(float(v) for v in sequence.groundtruth[0])
    overrides = dict(OVERRIDES)
    if args.image_sample_size:
        overrides["image_sample_size"] = args.image_sample_size
    device = "cuda" if cuda else "cpu"
    precisions = ("fp32", "fp16") if cuda else ("fp32",)
    runs = []
    for name in args.trackers:
        spec = get_spec(name)
        if not spec.needs_weights:
            raise ValueError(f"{name} is not a network tracker")
        architecture = spec.architectures[0]
        arch = checkpoint.architecture(architecture)
        network = randomise(checkpoint.build_network(arch, arch.default_kwds).eval(), seed=0)
        eager = ModelForm("eager", network=network, architecture=architecture)
        _progress(f"{name}: CPU reference run (eager, fp32)")
        (reference,) = _time(name, overrides, frames, init_box, "cpu", "fp32", [eager])
        _progress(f"{name}: exporting TorchScript")
        path = args.output / "models" / f"{name}.ts"
        export_network(network, architecture, path, name, Layer(overrides, "gpu_check"))
        forms = [eager, ModelForm("torchscript", model_path=str(path))]
        results = []
        for precision in precisions:
            _progress(f"{name}: eager and TorchScript in {precision} on {device}")
            results += _time(name, overrides, frames, init_box, device, precision, forms)
        runs.append(_Run(name, architecture, network, reference, results))
    notes = []
    for run in runs:
        for precision in precisions if cuda else ():
            elapsed = time.monotonic() - start
            if elapsed > args.budget:
                notes.append(Row(run.name, "pt2", precision, note="not built: time budget spent"))
                continue
            _progress(f"{run.name}: compiling a .pt2 for cuda {precision} ({elapsed:.0f} s in)")
            path = args.output / "models" / f"{run.name}_{precision}.pt2"
            try:
                export_network(
                    run.network,
                    run.architecture,
                    path,
                    run.name,
                    Layer(overrides, "gpu_check"),
                    "cuda",
                    precision,
                )
            except ExportError as error:  # no C++ compiler, a method torch cannot export
                _progress(f"{run.name}: no .pt2: {error}")
                notes.append(Row(run.name, "pt2", precision, note=f"not built: {error}"))
                continue
            form = ModelForm("pt2", model_path=str(path), precision=precision)
            run.results += _time(run.name, overrides, frames, init_box, "cuda", precision, [form])
        if not cuda:
            notes.append(Row(run.name, "pt2", "fp32", note="not built: compiled for CUDA only"))
    rows = [row for run in runs for row in _rows(run)] + notes
    elapsed = time.monotonic() - start
    header = (
        f"GPU check: {torch.cuda.get_device_name(0) if cuda else 'NO GPU FOUND (CPU only)'}, "
        f"torch {torch.__version__}, {len(frames) - 1} frames of {sequence.name} "
        f"({frames[0].size_wh[0]}x{frames[0].size_wh[1]}), random weights, {elapsed:.0f} s\n\n"
    )
    table = header + format_rows(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / TABLE).write_text(table)
    sys.stdout.write(table)
    _progress(f"wrote {args.output / TABLE}")
    return 0


def _time(
    name: str,
    overrides: dict[str, Any],
    frames: list[Frame],
    init_box: tuple[float, ...],
    device: str,
    precision: str,
    forms: list[ModelForm],
) -> list[VariantResult]:
    params = {**overrides, "device": device, "precision": precision}
    return benchmark_tracker(name, params, frames, init_box, [device], False, WARMUP, 1, forms)


def _rows(run: _Run) -> list[Row]:
    """Rows of one tracker: differences from the CPU run, and of fp16 from fp32."""
    rows = []
    for result in run.results:
        precision = str(result.params["precision"])
        fp32 = next(
            r for r in run.results if r.form == result.form and r.params["precision"] == "fp32"
        )
        rows.append(
            Row(
                run.name,
                str(result.form),
                precision,
                result,
                deviation(run.reference.outputs, result.outputs),
                None if precision == "fp32" else deviation(fp32.outputs, result.outputs),
            )
        )
    return rows


def format_rows(rows: list[Row]) -> str:
    """The Markdown table (one row per tracker, form and precision)."""
    lines = [
        "| tracker | form | precision | device | init ms | track median ms | track p95 ms "
        "| peak GPU MB | vs CPU fp32: box px / score | fp16 vs fp32: box px / score |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        result = row.result
        if result is None:
            cells = [row.tracker, row.form, row.precision, "–", row.note, "", "", "", "", ""]
        else:
            cells = [
                row.tracker,
                row.form,
                row.precision,
                result.device,
                f"{result.init.median_ms:.1f}",
                f"{result.track.median_ms:.1f}",
                f"{result.track.p95_ms:.1f}",
                "–" if result.cuda_peak_mb is None else f"{result.cuda_peak_mb:.0f}",
                _pair(row.vs_cpu),
                _pair(row.vs_fp32),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pair(value: tuple[float, float] | None) -> str:
    return "–" if value is None else f"{value[0]:.1e} / {value[1]:.1e}"


if __name__ == "__main__":
    sys.exit(main())
