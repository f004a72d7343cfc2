"""``sequence_player``: play a recorded or synthetic RGB-D sequence as a RealSense would.

Publishes a DepthTrack-layout folder (color/*.jpg, depth/*.png in mm, groundtruth.txt; see
make_sequence) as the topics realsense-ros 4.x publishes with align_depth.enable:=true:
  /camera/camera/color/image_raw                    rgb8
  /camera/camera/aligned_depth_to_color/image_raw   16UC1, millimetres
  /camera/camera/color/camera_info
(node `camera` in namespace `camera`; -r __ns:=/other moves them), all three of a frame with
one stamp: the time it is sent. So the tracker's launch file, RViz and rqt_image_view work
with it unchanged, no camera needed.

Parameters (--ros-args -p NAME:=VALUE):
  sequence   sequence folder; empty: the built-in demo sequence (made on first use)
  rate       frames per second; 0: the sequence's own (30 for the demo)
  loop       true: start again after the last frame (else exit at the end)
  frame_id   optical frame of the images (camera_color_optical_frame)

Example: ros2 run rgbd_tracker_ros sequence_player --ros-args -p loop:=true -p rate:=15
"""

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
