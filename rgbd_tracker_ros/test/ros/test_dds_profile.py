"""The large-image Fast DDS profile: whole 640x480 frames reach a best-effort subscriber."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import wait_for
from sensor_msgs.msg import CameraInfo, Image

from rgbd_tracker_ros.ros.dds import (
    BUILTIN_TRANSPORTS_ENV,
    PROFILE_ENV,
    apply_large_image_profile,
    large_image_profile,
)
from rgbd_tracker_ros.ros.qos_benchmark import camera_command, dds_environment
from rgbd_tracker_ros.tools import tracker_node

FRAMES = 60
WIDTH, HEIGHT = 640, 480
PREFIX = "/dds_profile_test/camera"


def test_tools_apply_the_profile_only_where_the_user_configured_nothing():
    logged: list[str] = []
    env: dict[str, str] = {}
    assert apply_large_image_profile(logged.append, env) == str(large_image_profile())
    assert env[PROFILE_ENV] == str(large_image_profile())
    assert "shipped large-image profile" in logged[-1] and PROFILE_ENV in logged[-1]

    env = {PROFILE_ENV: "/etc/my_fleet_profile.xml"}
    assert apply_large_image_profile(logged.append, env) is None
    assert env == {PROFILE_ENV: "/etc/my_fleet_profile.xml"}
    assert "your profile /etc/my_fleet_profile.xml" in logged[-1]

    env = {BUILTIN_TRANSPORTS_ENV: "LARGE_DATA"}
    assert apply_large_image_profile(logged.append, env) is None
    assert env == {BUILTIN_TRANSPORTS_ENV: "LARGE_DATA"}
    assert "LARGE_DATA" in logged[-1] and "not applied" in logged[-1]
    assert len(logged) == 3  # one line per call


def test_the_tracker_node_leaves_fast_dds_alone(monkeypatch):
    """The node never sets a profile for itself: the user's environment stands."""
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    monkeypatch.delenv(BUILTIN_TRANSPORTS_ENV, raising=False)
    # A name of its own: a "tracker" left in the graph by an earlier test's process must not
    # count as this one being up.
    name = f"tracker_dds_env_{os.getpid()}"
    argv = ["tracker_node", "--ros-args", "-p", "autostart:=false", "-r", f"__node:={name}"]
    node = threading.Thread(target=tracker_node.main, args=(argv,), daemon=True)
    node.start()
    try:
        assert wait_for(rclpy.ok), "rclpy did not start"
        probe = rclpy.create_node("dds_probe")  # in the node's context
        assert wait_for(lambda: name in probe.get_node_names(), timeout=60)
        probe.destroy_node()
        assert PROFILE_ENV not in os.environ
        assert BUILTIN_TRANSPORTS_ENV not in os.environ
    finally:
        rclpy.try_shutdown()
        node.join(timeout=30)
    assert not node.is_alive()


def test_profile_segment_holds_large_camera_images():
    namespace = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(large_image_profile()).getroot()
    segment = root.find(".//f:transport_descriptor[f:type='SHM']/f:segment_size", namespace)
    assert segment is not None
    # Two 1280x720 rgb8 frames in flight, the largest RealSense color stream users run.
    assert int(segment.text) >= 2 * 1280 * 720 * 3
    participant = root.find(".//f:participant", namespace)
    assert participant is not None and participant.get("is_default_profile") == "true"


def test_best_effort_subscriber_gets_whole_frames_from_another_process():
    """A best-effort camera (SENSOR_DATA) started with the shipped profile."""
    rclpy.init()
    node = Node("dds_profile_probe")
    received: list[bool] = []
    # A history for every frame, so that a slow test executor cannot cost frames: only
    # transport loss counts.
    qos = QoSProfile(
        reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=FRAMES
    )
    node.create_subscription(
        Image,
        f"{PREFIX}/color/image_raw",
        lambda msg: received.append(len(msg.data) == WIDTH * HEIGHT * 3),
        qos,
    )
    # The stand-in starts once each of its topics has a matching subscriber.
    node.create_subscription(Image, f"{PREFIX}/aligned_depth_to_color/image_raw", id, qos)
    node.create_subscription(CameraInfo, f"{PREFIX}/color/camera_info", id, 10)
    camera = subprocess.Popen(
        camera_command("best_effort", FRAMES, prefix=PREFIX), env=dds_environment("profile")
    )
    try:
        deadline = time.monotonic() + 90.0
        while camera.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        camera.kill()
        camera.wait()
        node.destroy_node()
        rclpy.try_shutdown()
    assert all(received)
    # Without the profile 5-20 % of the frames arrived (make bench-qos).
    assert len(received) >= 0.9 * FRAMES, f"{len(received)} of {FRAMES} frames arrived"
