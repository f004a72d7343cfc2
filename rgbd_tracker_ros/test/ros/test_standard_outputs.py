"""The standard outputs, with the real vision_msgs and tf2 (the ROS source overlay builds them
where there is no apt install): detections, the target's TF frame, the pose in a fixed frame;
and what the node does where those packages are missing."""

from __future__ import annotations

import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TransformStamped
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.time import Time
from ros_harness import (
    OPTICAL_FRAME,
    Graph,
    flat_depth_mm,
    gray_frame,
    requires,
    small_intrinsics,
    wait_for,
)
from std_msgs.msg import Header

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.geometry import transform_point
from rgbd_tracker_ros.ros import detections, tf_frames
from rgbd_tracker_ros.ros.conversions import stamp_to_ns
from rgbd_tracker_ros.ros.detections import box_extent_3d

BOX = (60.0, 40.0, 40.0, 30.0)
# base_link (x forward, z up) -> the optical frame (z forward, y down) of a camera 0.2 m ahead
# of base_link's origin and 0.5 m up: optical z is base x, optical x is base -y, optical y
# is base -z.
MOUNT_TRANSLATION = (0.2, 0.0, 0.5)
MOUNT_ROTATION = (-0.5, 0.5, -0.5, 0.5)


def _by_stamp(messages: list, header: Header) -> list:
    stamp = stamp_to_ns(header.stamp)
    return [m for m in list(messages) if stamp_to_ns(m.header.stamp) == stamp]


class Outputs:
    """Subscriptions to the node's standard outputs on the graph's client node."""

    def __init__(self, graph: Graph) -> None:
        node = graph.client_node
        self.poses: list[PoseStamped] = []
        node.create_subscription(PoseStamped, "/tracker/target_pose", self.poses.append, 100)
        self.detections_2d: list = []
        self.detections_3d: list = []
        self.transforms: list[TransformStamped] = []
        if detections.vision_msgs_available():
            node.create_subscription(
                detections.Detection2DArray,
                "/tracker/detections_2d",
                self.detections_2d.append,
                100,
            )
            node.create_subscription(
                detections.Detection3DArray,
                "/tracker/detections_3d",
                self.detections_3d.append,
                100,
            )
        self.tf_buffer = None
        if tf_frames.tf2_available():
            from tf2_msgs.msg import TFMessage

            node.create_subscription(
                TFMessage, "/tf", lambda msg: self.transforms.extend(msg.transforms), 100
            )
            # What a robot's other nodes would do: look the target up in tf2's own buffer.
            self.tf_buffer = tf_frames.tf2_ros.Buffer()
            self._tf_listener = tf_frames.tf2_ros.TransformListener(self.tf_buffer, node)

    def lookup(self, target: str, header: Header) -> tuple[float, float, float]:
        """``tracker_target``'s origin in ``target`` at the frame's stamp, through tf2."""
        stamp = Time.from_msg(header.stamp)
        assert wait_for(lambda: self.tf_buffer.can_transform(target, "tracker_target", stamp))
        t = self.tf_buffer.lookup_transform(target, "tracker_target", stamp).transform.translation
        return t.x, t.y, t.z


def _track(graph: Graph, frames: int = 5) -> tuple[Header, TrackedTarget]:
    """Init on the first frame, then ``frames`` more; the last header and its target."""
    color, depth, intr = gray_frame(), flat_depth_mm(), small_intrinsics()
    assert wait_for(lambda: graph.publish(color, depth, intr) and graph.node._latest is not None)
    assert graph.init(BOX).success
    header = None
    for _ in range(frames):
        header = graph.publish(color, depth, intr)
        time.sleep(0.05)
    assert wait_for(lambda: graph.targets_for(header))
    target = graph.targets_for(header)[0]
    assert target.state == TrackedTarget.TRACKING and target.has_position
    return header, target


def _mount(graph: Graph) -> None:
    """base_link -> optical frame, as a robot's static TF would say."""
    mounting = TransformStamped()
    mounting.header.frame_id, mounting.child_frame_id = "base_link", OPTICAL_FRAME
    t, q = mounting.transform.translation, mounting.transform.rotation
    t.x, t.y, t.z = MOUNT_TRANSLATION
    q.x, q.y, q.z, q.w = MOUNT_ROTATION
    tf_frames.tf2_ros.StaticTransformBroadcaster(graph.client_node).sendTransform(mounting)


@requires("vision_msgs")
@requires("tf2_ros")
def test_detections_and_tf_frame_carry_the_target(graph):
    outputs = Outputs(graph)
    graph.activate()
    header, target = _track(graph)
    assert wait_for(lambda: _by_stamp(outputs.detections_2d, header))
    assert wait_for(lambda: _by_stamp(outputs.detections_3d, header))

    (array_2d,) = _by_stamp(outputs.detections_2d, header)
    assert array_2d.header.frame_id == OPTICAL_FRAME
    (d2,) = array_2d.detections
    assert d2.id == str(target.target_id) == "1"
    assert d2.results[0].hypothesis.score == pytest.approx(target.score)
    assert (d2.bbox.center.position.x, d2.bbox.center.position.y) == (80.0, 55.0)
    assert (d2.bbox.size_x, d2.bbox.size_y) == (40.0, 30.0)

    (array_3d,) = _by_stamp(outputs.detections_3d, header)
    assert array_3d.header.frame_id == OPTICAL_FRAME
    (d3,) = array_3d.detections
    assert d3.id == "1"
    centre = d3.bbox.center.position
    expected = (target.position.x, target.position.y, target.position.z)
    assert (centre.x, centre.y, centre.z) == pytest.approx(expected)
    size = d3.bbox.size
    assert (size.x, size.y, size.z) == pytest.approx(
        box_extent_3d((target.metric_width, target.metric_height))
    )
    assert size.x == pytest.approx(40 * 1.5 / 150.0, rel=0.05)  # 40 px at 1.5 m, fx 150

    def target_tf() -> list[TransformStamped]:
        transforms = _by_stamp(outputs.transforms, header)
        return [t for t in transforms if t.child_frame_id == "tracker_target"]

    assert wait_for(lambda: target_tf())
    (transform,) = target_tf()
    assert transform.header.frame_id == OPTICAL_FRAME
    assert transform.child_frame_id == "tracker_target"
    t = transform.transform.translation
    assert (t.x, t.y, t.z) == pytest.approx(expected)
    assert transform.transform.rotation.w == 1.0
    assert outputs.lookup(OPTICAL_FRAME, header) == pytest.approx(expected)

    lost = graph.publish(np.zeros_like(gray_frame()), flat_depth_mm(), small_intrinsics())
    assert wait_for(lambda: _by_stamp(outputs.detections_2d, lost))
    assert wait_for(lambda: _by_stamp(outputs.detections_3d, lost))
    assert _by_stamp(outputs.detections_2d, lost)[0].detections == []
    assert _by_stamp(outputs.detections_3d, lost)[0].detections == []


@requires("vision_msgs")
@requires("tf2_ros")
def test_output_frame_gives_pose_and_3d_detection_in_the_fixed_frame(graph):
    outputs = Outputs(graph)
    _mount(graph)
    node = graph.activate(output_frame="base_link")
    assert wait_for(
        lambda: node._tf._buffer.can_transform("base_link", OPTICAL_FRAME, Time()), timeout=30
    )
    header, target = _track(graph)
    assert wait_for(lambda: _by_stamp(outputs.poses, header))
    (pose,) = _by_stamp(outputs.poses, header)
    assert pose.header.frame_id == "base_link"
    p = target.position  # optical: x right, y down, z forward
    # In base_link: forward = mount x + optical z, left = -optical x, up = mount z - optical y.
    expected = (0.2 + p.z, -p.x, 0.5 - p.y)
    position = pose.pose.position
    assert (position.x, position.y, position.z) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(
        transform_point((p.x, p.y, p.z), MOUNT_TRANSLATION, MOUNT_ROTATION)
    )
    o = pose.pose.orientation  # the optical axes in base_link: the mounting (q or -q)
    assert abs(np.dot((o.x, o.y, o.z, o.w), MOUNT_ROTATION)) == pytest.approx(1.0)
    assert target.header.frame_id == OPTICAL_FRAME  # the own message stays in the camera

    assert wait_for(lambda: _by_stamp(outputs.detections_3d, header))
    (array_3d,) = _by_stamp(outputs.detections_3d, header)
    assert array_3d.header.frame_id == "base_link"
    centre = array_3d.detections[0].bbox.center.position
    assert (centre.x, centre.y, centre.z) == pytest.approx(expected, abs=1e-6)
    # tf2 chains the robot's mounting with the node's tracker_target frame to the same point.
    assert outputs.lookup("base_link", header) == pytest.approx(expected, abs=1e-6)


@requires("tf2_ros")
def test_output_frame_without_a_transform_skips_the_pose_and_says_why(graph):
    graph.activate(output_frame="odom")
    header, _ = _track(graph)
    assert wait_for(lambda: "errors.tf" in graph.record.last_diagnostic_values())
    values = graph.record.last_diagnostic_values()
    assert "'odom'" in values["last_error"], values
    assert not [p for p in graph.record.poses if p.header.stamp == header.stamp]


def test_without_vision_msgs_the_detections_are_off_and_said_once(graph, monkeypatch, capfd):
    monkeypatch.setattr(detections, "Detection2DArray", None)
    node = graph.activate()
    _track(graph)
    assert node._detections_2d_pub is None and node._detections_3d_pub is None
    assert not [p for p in node.publishers if "detections" in p.topic_name]
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    said = [line for line in capfd.readouterr().err.splitlines() if "vision_msgs" in line]
    assert len(said) == 1 and "ros-$ROS_DISTRO-vision-msgs" in said[0], said


def test_without_tf2_the_tf_frame_is_off_and_output_frame_is_refused(graph, monkeypatch, capfd):
    monkeypatch.setattr(tf_frames, "tf2_ros", None)
    node = graph.start_tracker(output_frame="base_link")
    node.trigger_configure()
    assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert graph.init_client.wait_for_service(timeout_sec=60.0)
    refused = graph.init(BOX)
    assert not refused.success and "output_frame 'base_link' needs tf2_ros" in refused.message
    said = [line for line in capfd.readouterr().err.splitlines() if "tracker_target" in line]
    assert len(said) == 1 and "tf2_ros is not installed" in said[0], said
    assert node._broadcast_tf is False


def test_without_tf2_tracking_goes_on_in_the_optical_frame(graph, monkeypatch):
    monkeypatch.setattr(tf_frames, "tf2_ros", None)
    graph.activate()
    header, _ = _track(graph)
    assert wait_for(lambda: _by_stamp(graph.record.poses, header))
    assert _by_stamp(graph.record.poses, header)[0].header.frame_id == OPTICAL_FRAME


def test_the_parameters_turn_each_output_off(graph):
    node = graph.activate(
        **{"publish.detections_2d": False, "publish.detections_3d": False, "publish.tf": False}
    )
    _track(graph)
    assert node._detections_2d_pub is None and node._detections_3d_pub is None
    assert node._broadcast_tf is False
    assert not [p for p in node.publishers if p.topic_name in ("/tf", "/tracker/detections_2d")]
