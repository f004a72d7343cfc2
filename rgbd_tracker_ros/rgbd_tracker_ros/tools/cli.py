"""What the command lines share: ``--param`` and exit codes (evaluate, benchmark), ROS arguments
passing through (tracker_node, sequence_player), reports (fuzz, soak)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from rgbd_tracker_ros.tracking.registry import parameter_names

LOG = logging.getLogger(__name__)
ROS_ARGS_HELP = (
    "ROS arguments follow --ros-args, e.g. --ros-args --params-file config/tracker.yaml "
    "-r color/image_raw:=/camera/camera/color/image_raw -p tracker.name:=det"
)
PARAM_HELP = (
    "parameter override, VALUE in YAML; without TRACKER. it applies to every tracker that "
    "has KEY (repeatable)"
)


def add_param_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param", action="append", default=[], metavar="[TRACKER.]KEY=VALUE", help=PARAM_HELP
    )


def tracker_overrides(items: Sequence[str], trackers: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``[TRACKER.]KEY=VALUE`` items per tracker; an unqualified key goes to trackers having it."""
    overrides: dict[str, dict[str, Any]] = {name: {} for name in trackers}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {item!r}: expected [TRACKER.]KEY=VALUE")
        parsed = yaml.safe_load(value)
        tracker, dot, param = key.partition(".")
        if dot and tracker in overrides:
            overrides[tracker][param] = parsed
            continue
        takers = [name for name in trackers if key in parameter_names(name)]
        if not takers:
            raise ValueError(
                f"--param {item!r}: {tracker!r} is not in --trackers, and no tracker in "
                f"--trackers has parameter {key!r}"
                if dot
                else f"--param {item!r}: no tracker in --trackers has parameter {key!r}"
            )
        for name in takers:
            overrides[name][key] = parsed
    return overrides


def run_command(
    command: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    user_errors: tuple[type[Exception], ...],
) -> int:
    """Run ``command``; a user error (bad input, bad flag) is one log line and exit code 1."""
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return command(args)
    except user_errors as exc:
        LOG.error("%s", exc)
        return 1


def parse_ros_tool_args(prog: str, description: str | None, argv: list[str]) -> argparse.Namespace:
    """Parse the non-ROS part of ``argv`` of a ROS executable (only ``--help`` today).

    rclpy is imported here, not at the top, so that evaluate and benchmark run without ROS.
    """
    from rgbd_tracker_ros.ros.arguments import non_ros_args

    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=ROS_ARGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.parse_args(non_ros_args(argv))


def print_and_save_report(text: str, report: Any, path: Path, clean: bool) -> int:
    """Print ``text``, write the ``report`` dataclass to ``path`` as JSON; 0 if ``clean``."""
    print(text)
    path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if clean else 1
