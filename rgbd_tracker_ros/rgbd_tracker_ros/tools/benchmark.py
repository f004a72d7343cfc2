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
``device`` parameter makes it run on each of ``--devices``; a ``precision`` parameter (fp32 vs
fp16, CUDA only) is varied where the tracker has it, unless fixed with ``--param``. Within one
tracker and device, every variant's speed-up is its median track time relative to the first
variant's, measured in the same run.

Network trackers run the model forms of ``--forms`` (eager PyTorch, TorchScript ``.ts``, the
AOTInductor package ``.pt2``) on the same frames; each form's largest box and score
differences from the first form's run are reported. The forms are made from the tracker's
``model_path`` when it is an official checkpoint, or, with ``--random-weights`` (the only way
without a checkpoint), from a network with random weights drawn so that its features vary
like a trained one's (``networks/random_weights.py``; speed does not depend on the values).
Exported files go to ``<output>/models`` (a temporary folder without ``--output``); a .pt2
takes minutes to compile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgbd_tracker_ros.evaluation.benchmark import (
    REPORT_JSON,
    REPORT_TABLE,
    ModelForm,
    VariantResult,
    benchmark_tracker,
    format_table,
    torch_for,
)
from rgbd_tracker_ros.evaluation.stats import (
    json_ready,
    machine_info,
)
from rgbd_tracker_ros.sequences.demo import demo_sequence
from rgbd_tracker_ros.sequences.depthtrack import SequenceError, read_sequence
from rgbd_tracker_ros.tools.cli import add_param_argument, run_command, tracker_overrides
from rgbd_tracker_ros.tracking.device import limit_cpu_threads
from rgbd_tracker_ros.tracking.registry import DEFAULT_TRACKER, get_spec, parameter_names

LOG = logging.getLogger(__name__)


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
        "--no-variants", action="store_true", help="time only the default precision"
    )
    parser.add_argument(
        "--forms",
        nargs="+",
        choices=("eager", "torchscript", "pt2"),
        help="model forms of network trackers to compare (default: the model_path's own)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="network trackers run random-weight networks (no checkpoint needed)",
    )
    add_param_argument(parser)
    parser.add_argument("--threads", type=int, help="CPU threads for torch and OpenCV")
    parser.add_argument(
        "--output", type=Path, help=f"folder to write {REPORT_JSON} and {REPORT_TABLE} into"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def model_forms(
    name: str,
    overrides: Mapping[str, Any],
    forms: Sequence[str] | None,
    random_weights: bool,
    folder: Path,
    unavailable: dict[str, str],
) -> list[ModelForm]:
    """The model forms to time for tracker ``name`` (none for a weight-free tracker); a form
    that cannot be exported goes to ``unavailable`` with the reason, and the others run."""
    spec = get_spec(name)
    if not spec.needs_weights:
        return []
    # Network code only for network trackers: timing depth_dcf must not import torch.
    from rgbd_tracker_ros.tracking.model import export_network
    from rgbd_tracker_ros.tracking.networks import checkpoint
    from rgbd_tracker_ros.tracking.networks.export import COMPILED_SUFFIX, ExportError, model_form
    from rgbd_tracker_ros.tracking.networks.random_weights import randomise
    from rgbd_tracker_ros.tracking.params import Layer

    model_path = str(overrides.get("model_path", ""))
    if random_weights:
        architecture = spec.architectures[0]
        arch = checkpoint.architecture(architecture)
        network = randomise(checkpoint.build_network(arch, arch.default_kwds).eval(), seed=0)
    elif model_form(model_path) == "eager":
        loaded = checkpoint.load_network(model_path)
        network, architecture = loaded.network, loaded.architecture.name
    else:
        if forms and list(forms) != [model_form(model_path)]:
            raise ValueError(
                f"{name}: --forms needs an official checkpoint as model_path (or "
                f"--random-weights); {model_path or 'no model_path'} is one form only"
            )
        return [ModelForm(model_form(model_path), model_path=model_path)]
    result = []
    for form in forms or ("eager",):
        if form == "eager":
            result.append(ModelForm(form, network=network, architecture=architecture))
            continue
        path = folder / f"{name}{COMPILED_SUFFIX if form == 'pt2' else '.ts'}"
        LOG.info("exporting %s to %s", name, path)
        try:
            exported = export_network(
                network, architecture, path, name, Layer(dict(overrides), "--param")
            )
        except ExportError as error:
            LOG.warning("%s %s unavailable: %s", name, form, error)
            unavailable[f"{name} ({form})"] = str(error)
            continue
        result.append(ModelForm(form, model_path=str(exported)))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_benchmark, build_parser().parse_args(argv), (SequenceError, ValueError))


def _benchmark(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.runs < 1 or args.warmup < 0:
        raise ValueError("--frames and --runs must be at least 1, --warmup at least 0")
    overrides = tracker_overrides(args.param, args.trackers)
    uses_torch = any("device" in parameter_names(name) for name in args.trackers)
    if args.threads is not None:
        limit_cpu_threads(args.threads, torch_too=uses_torch)
    devices = args.devices or (
        ["cpu", "cuda"] if uses_torch and torch_for("cuda") is not None else ["cpu"]
    )
    sequence = read_sequence(args.sequence or demo_sequence())
    count = min(len(sequence), args.frames + 1)
    frames = [sequence.frame(i) for i in range(count)]
    init_box = tuple(float(v) for v in sequence.groundtruth[0])
    if not np.all(np.isfinite(init_box)):
        raise SequenceError(f"{sequence.path}: frame 1 has no ground-truth box to start from")

    results: list[VariantResult] = []
    unavailable: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        folder = (
            args.output / "models"
            if args.output
            else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        for name in args.trackers:
            try:
                forms = model_forms(
                    name, overrides[name], args.forms, args.random_weights, folder, unavailable
                )
                results += benchmark_tracker(
                    name,
                    overrides[name],
                    frames,
                    init_box,
                    devices,
                    not args.no_variants,
                    args.warmup,
                    args.runs,
                    forms,
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
