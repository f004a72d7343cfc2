"""``soak``: a valid camera-rate stream into the tracker node for a long time (loopback DDS).

    python -m rgbd_tracker_ros.tools.soak --minutes 10 [--rate 30] [--window 60]

Starts the node (its own process), inits it on a synthetic target and plays it forth and back
at ``--rate`` Hz. Prints one row per window: frames in and out, frames tracked, latency p50 /
p95 / max (publishing to the target's arrival) and the node's RSS, then the totals; writes
``soak.json`` and the node's log under ``--output``. Exit status 1 if the node died or
published a non-finite value.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rgbd_tracker_ros.ros.soak import SoakConfig, format_report, run_soak
from rgbd_tracker_ros.tools.cli import print_and_save_report


def main(argv: list[str] | None = None) -> int:
    defaults = SoakConfig()
    parser = argparse.ArgumentParser(
        prog="soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, default=defaults.seconds / 60.0, help="duration of the stream"
    )
    parser.add_argument("--rate", type=float, default=defaults.rate_hz, help="frames per second")
    parser.add_argument(
        "--window", type=float, default=defaults.window_s, help="seconds per reported row"
    )
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--tracker", default=defaults.tracker)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--output", type=Path, default=defaults.output)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[soak] %(message)s")
    config = SoakConfig(
        seconds=60.0 * args.minutes,
        rate_hz=args.rate,
        width=args.width,
        height=args.height,
        tracker=args.tracker,
        seed=args.seed,
        window_s=args.window,
        output=args.output,
    )
    report = run_soak(config)
    return print_and_save_report(
        format_report(report), report, args.output / "soak.json", report.clean
    )


if __name__ == "__main__":
    sys.exit(main())
