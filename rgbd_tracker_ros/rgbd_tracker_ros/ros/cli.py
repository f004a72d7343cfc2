"""Command lines of the ROS executables: ``--help`` works, ROS arguments pass through."""

from __future__ import annotations

import argparse

from rclpy.utilities import remove_ros_args

ROS_ARGS_HELP = (
    "ROS arguments follow --ros-args, e.g. --ros-args --params-file config/tracker.yaml "
    "-r color/image_raw:=/camera/camera/color/image_raw -p tracker.name:=det"
)


def parse_cli(prog: str, description: str | None, argv: list[str]) -> argparse.Namespace:
    """Parse the non-ROS part of ``argv`` (there is none besides ``--help`` today)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=ROS_ARGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.parse_args(remove_ros_args(argv)[1:])
