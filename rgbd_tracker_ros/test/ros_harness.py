"""A real DDS graph for node tests: the tracker node in-process, a camera, a recorder."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import fake_trackers  # noqa: F401  (registers the test trackers)
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_msgs.srv import InitTarget
from rgbd_tracker_ros.geometry import Intrinsics
from rgbd_tracker_ros.ros.conversions import frame_messages, stamp_to_ns
from rgbd_tracker_ros.ros.spinning import BackgroundSpinner
from rgbd_tracker_ros.ros.tracker_node import TrackerNode

OPTICAL_FRAME = "camera_color_optical_frame"
CAMERA = ("/cam/color", "/cam/depth", "/cam/info")  # the graph's own camera publishers


def requires(module: str) -> pytest.MarkDecorator:
    """Skip, saying why, where ``module`` is missing: the ROS packages without a wheel come
    from an apt install or from the source overlay that scripts/setup_env.sh builds."""
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"{module} is not installed: scripts/setup_env.sh builds it from "
        "../shared/ros-overlay (or $ROS_OVERLAY_SRC); an apt ROS 2 install has it",
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@dataclass(frozen=True)
class Fed:
    """A frame the node received: its header, stamp and when the hand-over was seen (ns).

    Both times are on the ROS clock the node stamps its results with; the frame reached
    the worker before ``seen``.
    """

    header: Header
    stamp: int
    seen: int


@dataclass
class Recorder:
    targets: list[TrackedTarget] = field(default_factory=list)
    poses: list[PoseStamped] = field(default_factory=list)
    scores: list[Image] = field(default_factory=list)
    diagnostics: list[DiagnosticArray] = field(default_factory=list)

    def last_diagnostic_values(self, task: str = "rgbd tracking") -> dict[str, str]:
        """Key/values of the newest ``tracker: <task>`` status, plus its ``_message`` and
        ``_level``."""
        for array in reversed(list(self.diagnostics)):
            for status in array.status:
                if status.name == f"tracker: {task}":
                    values = {kv.key: kv.value for kv in status.values}
                    values["_message"] = status.message
                    values["_level"] = str(ord(status.level))
                    return values
        return {}


class Graph:
    """Owns rclpy, an executor thread, a camera publisher node and a recorder node.

    Spun single-threaded (``BackgroundSpinner``), as ``rclpy.spin`` is in the node's own
    process.
    """

    def __init__(self) -> None:
        rclpy.init()
        self.client_node = Node("test_client")
        self.record = Recorder()
        n = self.client_node
        self.color_pub = n.create_publisher(Image, CAMERA[0], 10)
        self.depth_pub = n.create_publisher(Image, CAMERA[1], 10)
        self.info_pub = n.create_publisher(CameraInfo, CAMERA[2], 10)
        n.create_subscription(TrackedTarget, "/tracker/target", self.record.targets.append, 100)
        n.create_subscription(PoseStamped, "/tracker/target_pose", self.record.poses.append, 100)
        n.create_subscription(Image, "/tracker/score_map", self.record.scores.append, 100)
        n.create_subscription(DiagnosticArray, "/diagnostics", self.record.diagnostics.append, 100)
        self.init_client = n.create_client(InitTarget, "/tracker/init")
        self.node: TrackerNode | None = None
        self.spinner = BackgroundSpinner(self.client_node)

    def start_tracker(self, inputs: tuple[str, str, str] = CAMERA, **overrides) -> TrackerNode:
        """A tracker node (not yet configured) reading color, depth, camera_info from
        ``inputs`` (default: this graph's camera publishers)."""
        values = {
            "tracker.name": "test_steady",
            "qos.depth": 10,
            "publish.diagnostics_period": 0.2,
        } | overrides
        remaps = ["color/image_raw", "depth/image_raw", "color/camera_info"]
        cli_args = ["--ros-args"]
        for name, topic in zip(remaps, inputs, strict=True):
            cli_args += ["-r", f"{name}:={topic}"]
        node = TrackerNode(
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
            cli_args=cli_args,
        )
        self.spinner.add(node)
        self.node = node
        return node

    def activate(self, inputs: tuple[str, str, str] = CAMERA, **overrides) -> TrackerNode:
        node = self.start_tracker(inputs, **overrides)
        node.trigger_configure()
        node.trigger_activate()
        assert self.init_client.wait_for_service(timeout_sec=60.0)
        if inputs == CAMERA:
            inputs = (self.color_pub, self.depth_pub, self.info_pub)
            assert wait_for(lambda: all(pub.get_subscription_count() > 0 for pub in inputs))
        return node

    def publish(
        self,
        color: np.ndarray,
        depth: np.ndarray | None,
        intrinsics: Intrinsics,
        stamp_ns: int | None = None,
        color_encoding: str = "rgb8",
    ) -> Header:
        header = Header(frame_id=OPTICAL_FRAME)
        if stamp_ns is None:
            header.stamp = self.client_node.get_clock().now().to_msg()
        else:
            header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        color_msg, depth_msg, info_msg = frame_messages(
            color, depth, intrinsics, header, color_encoding
        )
        self.color_pub.publish(color_msg)
        if depth_msg is not None:
            self.depth_pub.publish(depth_msg)
        self.info_pub.publish(info_msg)
        return header

    def feed(self, color: np.ndarray, depth_mm: np.ndarray, intrinsics: Intrinsics) -> Fed:
        """Publish a frame and wait until the node has handed it to its tracking worker.

        Frames fed this way reach the worker one at a time and in order: none is in flight
        when the next one is published.
        """
        header = self.publish(color, depth_mm, intrinsics)
        stamp = stamp_to_ns(header.stamp)

        def handed_over() -> bool:
            latest = self.node._latest if self.node is not None else None
            return latest is not None and stamp_to_ns(latest.header.stamp) >= stamp

        assert wait_for(handed_over, step=0.005), "the node never received the frame"
        return Fed(header, stamp, self.client_node.get_clock().now().nanoseconds)

    def init(self, box, stamp_ns: int = 0) -> InitTarget.Response:
        request = InitTarget.Request(
            x=float(box[0]), y=float(box[1]), width=float(box[2]), height=float(box[3])
        )
        request.header.stamp.sec, request.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        future = self.init_client.call_async(request)
        assert wait_for(future.done, timeout=60.0)
        return future.result()

    def targets_for(self, header: Header) -> list[TrackedTarget]:
        return _stamped(self.record.targets, header)

    def poses_for(self, header: Header) -> list[PoseStamped]:
        return _stamped(self.record.poses, header)

    def close(self) -> None:
        self.spinner.stop()
        if self.node is not None:
            self.node.close()
            self.node.destroy_node()
        self.client_node.destroy_node()
        rclpy.try_shutdown()


def _stamped(messages: list, header: Header) -> list:
    """The recorded messages that carry ``header``'s stamp."""
    stamp = stamp_to_ns(header.stamp)
    return [m for m in list(messages) if stamp_to_ns(m.header.stamp) == stamp]


def gray_frame(width: int = 160, height: int = 120, value: int = 128) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(value, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def flat_depth_mm(width: int = 160, height: int = 120, mm: int = 1500) -> np.ndarray:
    return np.full((height, width), mm, np.uint16)


def small_intrinsics(width: int = 160, height: int = 120) -> Intrinsics:
    return Intrinsics(fx=150.0, fy=150.0, cx=width / 2, cy=height / 2, width=width, height=height)
