"""``qos_benchmark``: frames the tracker node answers from a camera in another process, per
camera QoS (reliable / best effort) and Fast DDS setting (defaults, the shipped profile,
LARGE_DATA). ``camera`` runs the camera stand-in alone (the benchmark starts it itself)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from rgbd_tracker_ros.ros import qos_benchmark
    from rgbd_tracker_ros.ros.inputs import RELIABILITY_SETTINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`"))
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run every scenario and print the table (default)")
    camera = commands.add_parser("camera", help="the camera stand-in alone")
    for sub in (parser, run):
        sub.add_argument("--frames", type=int, default=150, help="frames per scenario")
        sub.add_argument("--output", type=Path, default=Path("results/qos_benchmark"))
    camera.add_argument(
        "--reliability", choices=sorted(qos_benchmark.IMAGE_QOS), default="reliable"
    )
    camera.add_argument("--frames", type=int, default=150)
    camera.add_argument("--rate", type=float, default=30.0, help="frames per second")
    camera.add_argument("--width", type=int, default=640)
    camera.add_argument("--height", type=int, default=480)
    camera.add_argument("--prefix", default=qos_benchmark.CAMERA_PREFIX, help="topic prefix")
    camera.add_argument(
        "--expect",
        choices=sorted(RELIABILITY_SETTINGS),
        default="auto",
        help="start once the subscribers use this reliability (auto: the one offered)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[qos_benchmark] %(message)s")
    if args.command == "camera":
        return qos_benchmark.run_camera(
            args.reliability,
            args.frames,
            args.rate,
            args.width,
            args.height,
            args.prefix,
            args.expect,
        )
    return qos_benchmark.run_benchmark(args.frames, args.output)


if __name__ == "__main__":
    sys.exit(main())
