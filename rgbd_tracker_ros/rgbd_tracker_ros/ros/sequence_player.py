"""Publish a DepthTrack-layout RGB-D sequence as RealSense-like camera topics.

Topics (relative to the node, so node ``camera`` in namespace ``camera`` gives the
realsense-ros 4.x names): ``~/color/image_raw`` (rgb8), ``~/aligned_depth_to_color/image_raw``
(16UC1 mm), ``~/color/camera_info``. Color, depth and camera_info of a frame share one stamp,
the publish time, as the driver does for aligned frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_tracker_ros.ros.conversions import camera_info_msg, image_msg
from rgbd_tracker_ros.ros.dds import apply_large_image_profile
from rgbd_tracker_ros.sequences.demo import demo_sequence
from rgbd_tracker_ros.sequences.depthtrack import RGBDSequence, read_sequence

FrameCallback = Callable[[int, Header], None]


class SequencePlayer(Node):
    """Plays a sequence once (or looping) at its frame rate.

    ``on_frame`` (optional) is told which frame index went out with which header, so an
    in-process recorder can match results to ground truth. With ``autoplay`` false the
    player waits for ``publish_next``/``play`` calls (the demo publishes one frame, starts
    the tracker on it, then plays the rest).
    """

    def __init__(
        self,
        node_name: str = "camera",
        namespace: str = "camera",
        on_frame: FrameCallback | None = None,
        autoplay: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(node_name, namespace=namespace, **kwargs)
        self.declare_parameter("sequence", "", _describe("Sequence folder; empty = built-in demo."))
        self.declare_parameter("rate", 0.0, _describe("Frames per second; 0 = the sequence's fps."))
        self.declare_parameter("loop", False, _describe("Start again after the last frame."))
        self.declare_parameter(
            "frame_id", "camera_color_optical_frame", _describe("Optical frame of the images.")
        )
        path = self.get_parameter("sequence").value
        self.sequence: RGBDSequence = read_sequence(Path(path) if path else demo_sequence())
        self._frame_id = self.get_parameter("frame_id").value
        self._loop = bool(self.get_parameter("loop").value)
        self._on_frame = on_frame
        rate = float(self.get_parameter("rate").value) or self.sequence.fps
        self._color_pub = self.create_publisher(Image, "~/color/image_raw", 5)
        self._depth_pub = self.create_publisher(Image, "~/aligned_depth_to_color/image_raw", 5)
        self._info_pub = self.create_publisher(CameraInfo, "~/color/camera_info", 5)
        self._index = 0
        self.finished = False
        self._timer = self.create_timer(1.0 / rate, self.publish_next, autostart=autoplay)
        self.get_logger().info(
            f"playing {self.sequence.name}: {len(self.sequence)} frames at {rate:g} fps"
        )

    def play(self, start: int = 0) -> None:
        """Play from frame ``start`` on the timer."""
        self._index = start
        self._timer.reset()

    def publish_next(self) -> None:
        if self._index >= len(self.sequence):
            if not self._loop:
                self.finished = True
                self._timer.cancel()
                return
            self._index = 0
        self.publish_frame(self._index)
        self._index += 1

    def publish_frame(self, index: int) -> Header:
        """Publish frame ``index`` now (color, depth, camera_info with one fresh stamp)."""
        header = Header(frame_id=self._frame_id, stamp=self.get_clock().now().to_msg())
        self._color_pub.publish(image_msg(self.sequence.color(index), header, "rgb8"))
        self._depth_pub.publish(image_msg(self.sequence.depth_mm(index), header, "16UC1"))
        self._info_pub.publish(camera_info_msg(self.sequence.intrinsics, header))
        if self._on_frame is not None:
            self._on_frame(index, header)
        return header


def _describe(text: str):
    from rcl_interfaces.msg import ParameterDescriptor

    return ParameterDescriptor(description=text)


def run(argv: list[str]) -> int:
    """Publish the sequence named by the node's parameters until it ends (or shutdown)."""
    # A camera stand-in publishes camera-sized images: the profile is its to apply.
    apply_large_image_profile(rclpy.logging.get_logger("sequence_player").info)
    rclpy.init(args=argv)
    player = SequencePlayer()
    try:
        while rclpy.ok() and not player.finished:
            rclpy.spin_once(player, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        player.destroy_node()
        rclpy.try_shutdown()
    return 0
