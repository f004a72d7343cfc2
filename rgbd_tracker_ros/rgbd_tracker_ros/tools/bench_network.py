"""Time the DiMP-family network interface per method: eager vs TorchScript, fp32 vs fp16.

    python -m rgbd_tracker_ros.tools.bench_network --arch det_dimp50 --device cpu

A benchmark, not a test: it prints the median milliseconds per call of the methods a tracked
frame uses (backbone, classification features, scores, box refinement with its IoU features) and of
the filter learning at initialisation and update, at the tracker's real input size. Weights
are random unless ``--checkpoint`` is given (speed does not depend on their values).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.dimp import solvers
from rgbd_tracker_ros.tracking.networks.export import half_precision_backbone

# Sizes of the DiMP-50 tracker (pytracking parameter/dimp/dimp50.py).
INIT_SAMPLES, INIT_ITERATIONS = 15, 10
MEMORY_SAMPLES, UPDATE_ITERATIONS = 50, 2
PROPOSALS, REFINEMENT_ITERATIONS = 10, 5


def _median_ms(call: Callable[[], object], repeats: int, warmup: int, sync: Callable[[], None]):
    for _ in range(warmup):  # TorchScript's profiling executor optimises after two runs
        call()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def time_network(
    net: nn.Module, size: int, device: torch.device, repeats: int, warmup: int
) -> dict[str, float]:
    """Median ms of each interface method on ``net`` for a ``size`` x ``size`` patch."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    color = torch.rand(1, 3, size, size, device=device) * 255
    depth = color.flip(-1) if bool(net.uses_depth) else None
    center = size / 2
    box = torch.tensor([[center - 40, center - 30, 80.0, 60.0]], device=device)
    proposals = box.reshape(1, 1, 4).repeat(1, PROPOSALS, 1)
    proposals = proposals + torch.randn(1, PROPOSALS, 4, device=device)
    with torch.no_grad():
        backbone = net.extract_backbone(color, depth)
        feat = net.classification_features(backbone)
        weights = net.filter_init(feat, box)
        modulation = [m.mean(0) for m in net.iou_modulation(backbone, box)]
        init_feat = feat.repeat(INIT_SAMPLES, 1, 1, 1)
        init_boxes = box.repeat(INIT_SAMPLES, 1)
        memory = feat.repeat(MEMORY_SAMPLES, 1, 1, 1)
        memory_boxes = box.repeat(MEMORY_SAMPLES, 1)
        sample_weights = torch.full((MEMORY_SAMPLES,), 1.0 / MEMORY_SAMPLES, device=device)
        calls: dict[str, Callable[[], object]] = {
            "extract_backbone": lambda: net.extract_backbone(color, depth),
            "classification_features": lambda: net.classification_features(backbone),
            "classify": lambda: net.classify(weights, feat),
            "refine_boxes": lambda: solvers.refine_boxes(
                net, modulation, backbone, proposals, REFINEMENT_ITERATIONS, [1.0], 1.0, False
            ),
            "optimize_filter (update)": lambda: solvers.optimize_filter(
                net, weights, memory, memory_boxes, sample_weights, UPDATE_ITERATIONS
            ),
            "initial_filter (init)": lambda: solvers.initial_filter(
                net, init_feat, init_boxes, INIT_ITERATIONS
            ),
        }
        results = {name: _median_ms(call, repeats, warmup, sync) for name, call in calls.items()}
    per_frame = ("extract_backbone", "classification_features", "classify")
    results["frame (no update)"] = (
        sum(results[name] for name in per_frame) + results["refine_boxes"]
    )
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_network", description=__doc__.splitlines()[0])
    names = [a.name for a in ckpt.ARCHITECTURES if a.name != "trdimp"]
    parser.add_argument("--arch", choices=names, default="dimp50")
    parser.add_argument("--checkpoint", help="official checkpoint (default: random weights)")
    parser.add_argument("--size", type=int, default=288, help="patch side in pixels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--half", action="store_true", help="also time an fp16 backbone")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.checkpoint:
        eager = ckpt.load_network(args.checkpoint).network
    else:
        arch = ckpt.architecture(args.arch)
        eager = ckpt.build_network(arch, arch.default_kwds).eval()
    eager = eager.to(device)
    variants = {"eager fp32": eager, "torchscript fp32": torch.jit.script(eager)}
    if args.half:
        scripted = torch.jit.script(copy.deepcopy(eager))  # scripting shares the parameters
        variants["torchscript fp16 backbone"] = half_precision_backbone(scripted)
    timings = {
        label: time_network(net, args.size, device, args.repeats, args.warmup)
        for label, net in variants.items()
    }
    print(
        f"{eager.architecture} {args.size}x{args.size} on {device} "
        f"({torch.get_num_threads()} threads), median ms over {args.repeats} calls"
    )
    labels = list(timings)
    print(f"{'method':28s}" + "".join(f"{label:>28s}" for label in labels))
    for method in timings[labels[0]]:
        row = "".join(f"{timings[label][method]:28.1f}" for label in labels)
        print(f"{method:28s}{row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
