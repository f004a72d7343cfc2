"""``tracker_node``: the tracking node (RGB-D frames in, tracked target out).

A lifecycle node; with ``autostart`` (the default) it configures and activates itself, loading
the tracker named by ``tracker.name``. Parameters and topics: ``config/tracker.yaml``.
"""

from __future__ import annotations

import sys

from rgbd_tracker_ros.ros.tracker_node import run
from rgbd_tracker_ros.tools.cli import parse_ros_tool_args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    parse_ros_tool_args("tracker_node", __doc__, argv)
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
