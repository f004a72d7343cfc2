"""tf2 in the node: clicked points in other frames refused without tf2_ros, transformed by
the real one; transforms at a stamp for the outputs; the target's frame broadcast.

The tf2 tests run against tf2_ros itself (the ROS source overlay builds it where there is
no apt install): a ``StaticTransformBroadcaster`` publishes the camera's mounting and the
node's ``Buffer`` looks the transform up, inverting it as a RealSense tree needs.
"""

from __future__ import annotations

import pytest
from geometry_msgs.msg import PointStamped, TransformStamped
from ros_harness import requires, wait_for

from rgbd_tracker_ros.ros import tf_frames
from rgbd_tracker_ros.ros.tf_frames import FrameError, TfFrames

OPTICAL = "camera_color_optical_frame"
requires_tf2 = requires("tf2_ros")


def _click(frame: str, x: float, y: float, z: float) -> PointStamped:
    msg = PointStamped()
    msg.header.frame_id = frame
    msg.point.x, msg.point.y, msg.point.z = x, y, z
    return msg


def optical_in_camera_link(y_offset: float = 0.015) -> TransformStamped:
    """camera_link (x forward, z up) -> the color optical frame (z forward, y down), the
    color imager ``y_offset`` m to the left, as realsense-ros publishes it."""
    transform = TransformStamped()
    transform.header.frame_id, transform.child_frame_id = "camera_link", OPTICAL
    transform.transform.translation.y = y_offset
    rotation = transform.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = -0.5, 0.5, -0.5, 0.5
    return transform


@pytest.fixture
def tf_nodes(make_node):
    """A node for TfFrames and one for the broadcaster, spun on one executor."""
    return [make_node("tf_frames_test"), make_node("tf_frames_tf_publisher")]


def test_points_in_the_optical_frame_need_no_transform(monkeypatch):
    monkeypatch.setattr(tf_frames, "tf2_ros", None)
    frames = TfFrames(node=None)
    assert not frames.uses_tf
    assert frames.in_frame(_click(OPTICAL, 0.1, 0.2, 1.5), OPTICAL) == (0.1, 0.2, 1.5)
    assert frames.in_frame(_click("", 0.1, 0.2, 1.5), OPTICAL) == (0.1, 0.2, 1.5)


def test_other_frames_are_refused_with_a_fix_when_tf2_is_missing(monkeypatch):
    monkeypatch.setattr(tf_frames, "tf2_ros", None)
    with pytest.raises(FrameError, match=r"tf2_ros is not installed.*fixed frame"):
        TfFrames(node=None).in_frame(_click("base_link", 1.0, 0.0, 0.0), OPTICAL)


@requires_tf2
def test_other_frames_are_transformed_with_the_latest_tf(tf_nodes):
    node, publisher = tf_nodes
    frames = TfFrames(node)
    assert frames.uses_tf
    broadcaster = tf_frames.tf2_ros.StaticTransformBroadcaster(publisher)
    broadcaster.sendTransform(optical_in_camera_link())
    click = _click("camera_link", 2.0, 0.3, 0.1)  # 2 m ahead, 0.3 m left, 0.1 m up

    def transformed():
        try:
            return frames.in_frame(click, OPTICAL)
        except FrameError:
            return None

    assert wait_for(lambda: transformed() is not None)
    # Right of the optical axis is +x, up is -y; measured from the imager 15 mm left.
    assert transformed() == pytest.approx((-(0.3 - 0.015), -0.1, 2.0))
    frames.close()
    assert not frames.uses_tf


@requires_tf2
def test_a_missing_transform_is_a_clear_error(tf_nodes):
    frames = TfFrames(tf_nodes[0])
    with pytest.raises(FrameError, match=r"'map'.*no transform to .*does not exist"):
        frames.in_frame(_click("map", 1.0, 0.0, 0.0), OPTICAL)


@requires_tf2
def test_the_target_frame_never_goes_back_in_time(tf_nodes):
    """Input stamps that jump back (a bag loop, a fuzzer) must not reach /tf: every tf2
    listener would log TF_OLD_DATA or TF_REPEATED_DATA for each such transform."""
    from tf2_msgs.msg import TFMessage

    node, listener = tf_nodes
    received: list[int] = []
    listener.create_subscription(
        TFMessage,
        "/tf",
        lambda msg: received.extend(t.header.stamp.sec for t in msg.transforms),
        10,
    )
    frames = TfFrames(node, broadcast=True)

    def target_at(sec: int) -> TransformStamped:
        transform = TransformStamped()
        transform.header.frame_id, transform.child_frame_id = OPTICAL, "tracker_target"
        transform.header.stamp.sec = sec
        transform.transform.rotation.w = 1.0
        return transform

    # Matched with the listener's subscription and the node's own (its tf2 listener).
    assert wait_for(lambda: frames._broadcaster.pub_tf.get_subscription_count() >= 2)
    assert [frames.broadcast(target_at(sec)) for sec in (5, 3, 5, 7)] == [True, False, False, True]
    assert wait_for(lambda: 7 in received)
    assert received == [5, 7]
    frames.close()
