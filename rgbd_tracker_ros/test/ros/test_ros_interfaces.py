"""The interface package works over a real DDS graph (rclpy on Fast DDS from the wheels)."""

from __future__ import annotations

import os
import time

import pytest
import rclpy
from rclpy.node import Node

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_msgs.srv import InitTarget
from rgbd_tracker_ros.ros.spinning import BackgroundSpinner


def test_dds_is_kept_on_this_machine():
    assert os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST"
    assert os.environ.get("ROS_DOMAIN_ID", "").isdigit()


def test_state_constants_match_the_tracker_api():
    from rgbd_tracker_ros.tracking.api import TrackerState

    for state in TrackerState:
        assert getattr(TrackedTarget, state.name) == state.value


@pytest.fixture
def make_node():
    rclpy.init()
    spinner = BackgroundSpinner()
    nodes: list[Node] = []

    def make(name: str) -> Node:
        node = Node(name)
        spinner.add(node)
        nodes.append(node)
        return node

    yield make
    spinner.stop()
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown()


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_tracked_target_round_trip_over_a_topic(make_node):
    talker, listener = make_node("talker"), make_node("listener")
    received: list[TrackedTarget] = []
    listener.create_subscription(TrackedTarget, "target", received.append, 10)
    publisher = talker.create_publisher(TrackedTarget, "target", 10)
    sent = TrackedTarget(state=TrackedTarget.UNCERTAIN, score=0.25, x=1.5, y=2.5, width=30.0)
    sent.header.frame_id = "camera_color_optical_frame"
    sent.header.stamp.sec = 42
    sent.has_position = True
    sent.position.z = 1.25
    sent.target_id = 7

    def published_and_received() -> bool:
        publisher.publish(sent)
        return bool(received)

    assert _wait_for(published_and_received)
    assert received[0] == sent


def test_init_target_service_round_trip(make_node):
    server, client_node = make_node("server"), make_node("client")
    seen: list[InitTarget.Request] = []

    def handle(request: InitTarget.Request, response: InitTarget.Response):
        seen.append(request)
        response.success = request.width > 0
        response.message = f"box {request.width:g}x{request.height:g}"
        response.target_id = 3
        return response

    server.create_service(InitTarget, "init", handle)
    client = client_node.create_client(InitTarget, "init")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(InitTarget.Request(x=10.0, y=20.0, width=40.0, height=50.0))
    assert _wait_for(future.done)
    response = future.result()
    assert response.success and response.target_id == 3
    assert response.message == "box 40x50"
    assert seen[0].x == pytest.approx(10.0)
