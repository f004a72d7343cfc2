"""ROS arguments on a tool's command line: what a tool's own parser must not see."""

from __future__ import annotations

from rclpy.utilities import remove_ros_args


def non_ros_args(argv: list[str]) -> list[str]:
    """``argv`` (program name first) without the program name and the ``--ros-args`` part."""
    return remove_ros_args(argv)[1:]
