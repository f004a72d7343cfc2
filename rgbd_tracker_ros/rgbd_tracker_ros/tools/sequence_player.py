"""``sequence_player``: publish a DepthTrack-layout RGB-D sequence as RealSense-like topics."""

from __future__ import annotations

import sys

from rgbd_tracker_ros.ros.sequence_player import run
from rgbd_tracker_ros.tools.cli import parse_ros_tool_args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    parse_ros_tool_args("sequence_player", __doc__, argv)
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
