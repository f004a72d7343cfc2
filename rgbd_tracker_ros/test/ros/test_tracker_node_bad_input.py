"""Bad input never kills the node: each case is rejected, counted, and tracking goes on."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from ros_harness import (
    OPTICAL_FRAME,
    Graph,
    flat_depth_mm,
    gray_frame,
    small_intrinsics,
    wait_for,
)
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.ros.conversions import camera_info_msg, image_msg


@pytest.fixture
def tracking(graph):
    """An active node tracking a box, plus what a good frame is made of."""
    graph.activate()
    color, depth, intr = gray_frame(), flat_depth_mm(), small_intrinsics()
    assert wait_for(lambda: graph.publish(color, depth, intr) and graph.node._latest is not None)
    assert graph.init((60, 40, 40, 30)).success
    return graph, color, depth, intr


def _still_tracks(graph: Graph, color, depth, intr) -> None:
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header)), "node stopped answering"
    assert graph.targets_for(header)[0].state == TrackedTarget.TRACKING


def _error_count(graph: Graph, kind: str) -> int:
    return int(graph.record.last_diagnostic_values().get(f"errors.{kind}", "0"))


def _header(graph: Graph) -> Header:
    return Header(frame_id=OPTICAL_FRAME, stamp=graph.client_node.get_clock().now().to_msg())


def _send(graph: Graph, color_msg: Image, depth_msg: Image, info_msg: CameraInfo) -> None:
    graph.color_pub.publish(color_msg)
    graph.depth_pub.publish(depth_msg)
    graph.info_pub.publish(info_msg)


@pytest.mark.parametrize(
    "breakage",
    ["unsupported_encoding", "truncated_data", "empty_data", "size_mismatch", "zero_camera_info"],
)
def test_malformed_frames_are_rejected_and_counted(tracking, breakage):
    graph, color, depth, intr = tracking
    header = _header(graph)
    color_msg = image_msg(color, header, "rgb8")
    depth_msg = image_msg(depth, header, "16UC1")
    info_msg = camera_info_msg(intr, header)
    kind = "image"
    if breakage == "unsupported_encoding":
        color_msg.encoding = "yuv422"
    elif breakage == "truncated_data":
        color_msg.data = color_msg.data[: len(color_msg.data) // 2]
    elif breakage == "empty_data":
        depth_msg.data = []
    elif breakage == "size_mismatch":
        depth_msg = image_msg(flat_depth_mm(80, 60), header, "16UC1")
        kind = "frame"
    elif breakage == "zero_camera_info":
        info_msg.k = [0.0] * 9
        kind = "camera_info"
    _send(graph, color_msg, depth_msg, info_msg)
    assert wait_for(lambda: _error_count(graph, kind) >= 1), graph.record.last_diagnostic_values()
    assert not graph.targets_for(header), "a broken frame must not produce a result"
    assert graph.record.last_diagnostic_values()["_level"] == "1"  # WARN
    _still_tracks(graph, color, depth, intr)


@pytest.mark.parametrize("value", [0.0, math.nan, math.inf])
def test_depth_without_any_valid_reading_gives_2d_only(tracking, value):
    graph, color, _, intr = tracking
    header = _header(graph)
    depth = np.full(color.shape[:2], value, np.float32)
    _send(
        graph,
        image_msg(color, header, "rgb8"),
        image_msg(depth, header, "32FC1"),
        camera_info_msg(intr, header),
    )
    assert wait_for(lambda: graph.targets_for(header))
    target = graph.targets_for(header)[0]
    assert not target.has_position
    assert target.width == 40
    time.sleep(0.1)
    stamps = {(p.header.stamp.sec, p.header.stamp.nanosec) for p in graph.record.poses}
    assert (header.stamp.sec, header.stamp.nanosec) not in stamps


@pytest.mark.parametrize(
    "box",
    [(500, 500, 20, 20), (-100, -100, 50, 50), (math.nan, 10, 20, 20), (10, 10, 0, 20)],
)
def test_invalid_init_boxes_are_refused_with_a_reason(tracking, box):
    graph, color, depth, intr = tracking
    response = graph.init(box)
    assert not response.success
    assert response.message and response.target_id == 0
    _still_tracks(graph, color, depth, intr)


def test_init_box_partly_outside_is_clipped(tracking):
    graph, *_ = tracking
    response = graph.init((140, 100, 50, 50))
    assert response.success and "clipped" in response.message


def test_init_before_any_frame_and_reset_while_idle(graph):
    graph.activate()
    response = graph.init((10, 10, 20, 20))
    assert not response.success and "no camera frame" in response.message
    client = graph.client_node.create_client(Trigger, "/tracker/reset")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(Trigger.Request())
    assert wait_for(future.done)
    assert future.result().success and "not tracking" in future.result().message


def test_service_spam_is_answered_and_the_last_init_wins(tracking):
    graph, color, depth, intr = tracking
    futures = []
    start = time.monotonic()
    for i in range(100):
        box = (10 + i % 50, 10, 20, 20)
        request = type(graph.init_client.srv_type.Request())(x=float(box[0]), y=10.0)
        request.width, request.height = 20.0, 20.0
        futures.append(graph.init_client.call_async(request))
        time.sleep(max(0.0, start + (i + 1) * 0.01 - time.monotonic()))  # 100 calls/s
    assert wait_for(lambda: all(f.done() for f in futures), timeout=20)
    ids = [f.result().target_id for f in futures]
    assert all(f.result().success for f in futures)
    assert ids == sorted(ids) and len(set(ids)) == 100
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header))
    target = graph.targets_for(header)[0]
    assert target.target_id == ids[-1] and target.x == pytest.approx(10 + 99 % 50)


def test_duplicate_and_out_of_order_stamps_are_dropped(tracking):
    graph, color, depth, intr = tracking
    now = graph.client_node.get_clock().now().nanoseconds
    first = graph.publish(color, depth, intr, stamp_ns=now)
    assert wait_for(lambda: graph.targets_for(first))
    graph.publish(color, depth, intr, stamp_ns=now)  # duplicate
    graph.publish(color, depth, intr, stamp_ns=now - 100_000_000)  # 0.1 s older
    time.sleep(0.3)
    assert len(graph.targets_for(first)) == 1
    older = [
        t for t in graph.record.targets if t.header.stamp.sec * 10**9 + t.header.stamp.nanosec < now
    ]
    assert not [
        t for t in older if t.header.stamp.sec * 10**9 + t.header.stamp.nanosec == now - 100_000_000
    ]
    _still_tracks(graph, color, depth, intr)


def test_clock_jump_back_resets_the_synchroniser(tracking):
    graph, color, depth, intr = tracking
    now = graph.client_node.get_clock().now().nanoseconds
    graph.publish(color, depth, intr, stamp_ns=now)
    jumped = now - 30 * 1_000_000_000  # a bag restarting 30 s earlier
    headers = [
        graph.publish(color, depth, intr, stamp_ns=jumped + i * 33_000_000) for i in range(5)
    ]
    assert wait_for(lambda: any(graph.targets_for(h) for h in headers[1:]))


@pytest.mark.parametrize("model", ["missing", "corrupt"])
def test_bad_model_file_leaves_the_node_inactive_and_reporting(graph, tmp_path, model):
    path = tmp_path / "model.ts"
    if model == "corrupt":
        path.write_bytes(b"\x00not a torchscript file" * 10)
    node = graph.start_tracker(**{"tracker.name": "dimp", "tracker.model_path": str(path)})
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() != TransitionCallbackReturn.SUCCESS
    assert node._worker is None
    assert wait_for(lambda: graph.record.last_diagnostic_values().get("_level") == "2")
    message = graph.record.last_diagnostic_values()["_message"]
    assert "model.ts" in message, message
    assert node.trigger_activate() != TransitionCallbackReturn.SUCCESS  # retry: same answer
