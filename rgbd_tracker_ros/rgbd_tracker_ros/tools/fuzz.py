"""``fuzz``: hostile inputs to the tracker node over loopback DDS; does it survive and track?

    python -m rgbd_tracker_ros.tools.fuzz --count 10000 --seed 0 [--seconds 900]

Starts the node (its own process), checks it tracks a valid synthetic stream, sends
``--count`` seeded hostile inputs of every category (malformed images, camera_info that is no
camera's, odd sizes and stamps, unusable depth, bad boxes and clicks, out-of-range or
mistyped parameters, invalid lifecycle transitions, bursts) mixed with valid frames, then
checks again. Prints inputs per category, crashes, hangs, non-finite outputs, RSS before and
after; writes ``fuzz.json`` and the node's log under ``--output``. DDS stays on this machine
whatever the environment says. Exit status 1 unless clean (0 crashes, 0 hangs, 0 non-finite
or implausible outputs, tracking afterwards).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rgbd_tracker_ros.ros.fuzz import FuzzConfig, Fuzzer, format_report, run_fuzz
from rgbd_tracker_ros.tools.cli import print_and_save_report


def main(argv: list[str] | None = None) -> int:
    defaults = FuzzConfig()
    parser = argparse.ArgumentParser(
        prog="fuzz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=defaults.count, help="hostile inputs")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--seconds", type=float, default=defaults.max_seconds, help="time limit of the fuzzing"
    )
    parser.add_argument(
        "--categories",
        nargs="+",
        choices=Fuzzer.CATEGORY_NAMES,
        default=[],
        help="only these categories (default: all)",
    )
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--tracker", default=defaults.tracker)
    parser.add_argument("--output", type=Path, default=defaults.output)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[fuzz] %(message)s")
    config = FuzzConfig(
        seed=args.seed,
        count=args.count,
        max_seconds=args.seconds,
        width=args.width,
        height=args.height,
        tracker=args.tracker,
        categories=tuple(args.categories),
        output=args.output,
    )
    report = run_fuzz(config)
    return print_and_save_report(
        format_report(report), report, args.output / "fuzz.json", report.clean
    )


if __name__ == "__main__":
    sys.exit(main())
