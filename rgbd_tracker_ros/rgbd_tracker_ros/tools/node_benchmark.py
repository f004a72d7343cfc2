"""Node-level numbers: output rate, latency and drops of the running tracker node.

Plays a sequence to the node at the camera rate and at 3x the tracker's own rate (measured
first, offline, with ``track()`` alone), so the one-slot mailbox has to drop frames: the
output rate then follows the tracker while the latency stays about one tracker step.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rgbd_tracker_ros.evaluation.stats import machine_info, percentile
from rgbd_tracker_ros.ros.dds import apply_large_image_profile
from rgbd_tracker_ros.ros.parameters import PARAMETERS
from rgbd_tracker_ros.ros.session import SessionResult, run_session
from rgbd_tracker_ros.sequences.demo import demo_sequence
from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.tracking.device import limit_cpu_threads
from rgbd_tracker_ros.tracking.registry import create_tracker

LOG = logging.getLogger(__name__)
OFFLINE_WARMUP = 5
MAX_INPUT_RATE_HZ = 240.0


@dataclass
class NodeRun:
    label: str
    requested_rate_hz: float
    input_rate_hz: float
    output_rate_hz: float
    published: int
    processed: int
    dropped: int
    latency_p50_ms: float
    latency_p95_ms: float


def offline_rate(sequence_path: Path, tracker: str, frames: int = 60) -> float:
    """Frames per second of ``track()`` alone on the sequence (median step time).

    Uses the node's default CPU thread count, so the offline rate is the one the node sees.
    """
    limit_cpu_threads(PARAMETERS["tracker.cpu_threads"][0])
    sequence = read_sequence(sequence_path)
    instance = create_tracker(tracker, {})
    instance.initialize(sequence.frame(0), tuple(float(v) for v in sequence.groundtruth[0]))
    steps = []
    for i in range(1, min(frames, len(sequence))):
        frame = sequence.frame(i)
        start = time.perf_counter()
        instance.track(frame)
        if i > OFFLINE_WARMUP:
            steps.append(time.perf_counter() - start)
    return 1.0 / statistics.median(steps)


def summarise(label: str, rate: float, session: SessionResult) -> NodeRun:
    received = [r for r in session.records if r.target is not None]
    latencies = [
        r.received_s - stamp
        for r, stamp in zip(session.records, session.sent_stamps_s, strict=True)
        if r.target is not None
    ]
    stamps = np.array(session.sent_stamps_s)
    span = float(stamps[-1] - stamps[0]) if len(stamps) > 1 else math.nan
    return NodeRun(
        label=label,
        requested_rate_hz=rate,
        input_rate_hz=(len(stamps) - 1) / span if span > 0 else math.nan,
        output_rate_hz=len(received) / session.duration_s,
        published=session.published,
        processed=len(received),
        dropped=session.published - len(received),
        latency_p50_ms=percentile(latencies, 50) * 1000.0,
        latency_p95_ms=percentile(latencies, 95) * 1000.0,
    )


def format_table(runs: list[NodeRun]) -> str:
    header = (
        "| run | input Hz | output Hz | published | processed | dropped | p50 ms | p95 ms |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r.label} | {r.input_rate_hz:.1f} | {r.output_rate_hz:.1f} | {r.published} | "
        f"{r.processed} | {r.dropped} | {r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} |"
        for r in runs
    ]
    return "\n".join([header, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracker", default="depth_dcf", help="tracker name (default depth_dcf)")
    parser.add_argument("--sequence", type=Path, help="sequence folder (default: built-in demo)")
    parser.add_argument("--output", type=Path, default=Path("results/node_benchmark"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[node_benchmark] %(message)s")
    apply_large_image_profile(LOG.info)
    path = args.sequence or demo_sequence()
    camera_rate = read_sequence(path).fps
    tracker_rate = offline_rate(path, args.tracker)
    LOG.info("%s alone: %.1f frames/s", args.tracker, tracker_rate)
    overload = min(3.0 * tracker_rate, MAX_INPUT_RATE_HZ)
    runs = []
    for label, rate in (("camera rate", camera_rate), ("3x tracker rate", overload)):
        LOG.info("playing at %.1f Hz (%s)", rate, label)
        runs.append(summarise(label, rate, run_session(path, args.tracker, rate=rate)))
    table = format_table(runs)
    print(f"tracker {args.tracker}: track() alone {tracker_rate:.1f} frames/s\n{table}")
    args.output.mkdir(parents=True, exist_ok=True)
    record = {
        "tracker": args.tracker,
        "offline_fps": tracker_rate,
        "runs": [asdict(r) for r in runs],
        "machine": machine_info(),
    }
    (args.output / "node_benchmark.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
