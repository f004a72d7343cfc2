"""The large-image Fast DDS profile: whole 640x480 frames reach a best-effort subscriber."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from rgbd_tracker_ros.ros.dds import PROFILE_ENV, large_image_profile, use_large_image_profile

FRAMES = 60
WIDTH, HEIGHT = 640, 480

# A camera-like publisher in its own process: reliable keep-last 10 (RealSense's
# SYSTEM_DEFAULT), 30 Hz, one 921 KB rgb8 image per frame. It starts once it has matched the
# subscriber and the test says on stdin that the subscriber has matched it, and it stays up
# until killed, so that neither discovery nor its exit can cost frames.
PUBLISHER = textwrap.dedent(
    f"""
    import sys
    import time
    import rclpy
    from sensor_msgs.msg import Image
    from rgbd_tracker_ros.ros.dds import use_large_image_profile
    use_large_image_profile()
    rclpy.init()
    node = rclpy.create_node("camera_like_publisher")
    pub = node.create_publisher(Image, "/dds_profile_test/image", 10)
    while pub.get_subscription_count() == 0:
        time.sleep(0.05)
    sys.stdin.readline()
    data = bytes(range(256)) * ({WIDTH} * {HEIGHT} * 3 // 256)
    for i in range({FRAMES}):
        msg = Image(height={HEIGHT}, width={WIDTH}, encoding="rgb8", step={WIDTH} * 3, data=data)
        msg.header.frame_id = str(i)
        pub.publish(msg)
        time.sleep(1.0 / 30.0)
    sys.stdin.read()
    """
)


def test_profile_is_used_unless_the_user_chose_one(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert use_large_image_profile() == str(large_image_profile())
    assert os.environ[PROFILE_ENV] == str(large_image_profile())
    monkeypatch.setenv(PROFILE_ENV, "/etc/my_fleet_profile.xml")
    assert use_large_image_profile() == "/etc/my_fleet_profile.xml"


def test_profile_segment_holds_large_camera_images():
    namespace = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(large_image_profile()).getroot()
    segment = root.find(".//f:transport_descriptor[f:type='SHM']/f:segment_size", namespace)
    assert segment is not None
    # Two 1280x720 rgb8 frames in flight, the largest RealSense color stream users run.
    assert int(segment.text) >= 2 * 1280 * 720 * 3
    participant = root.find(".//f:participant", namespace)
    assert participant is not None and participant.get("is_default_profile") == "true"


def _spin_until(node: Node, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    return done()


def test_best_effort_subscriber_gets_whole_frames_from_another_process():
    rclpy.init()
    node = Node("dds_profile_probe")
    received: list[int] = []
    # A history for every frame, so that a slow test executor cannot cost frames: only
    # transport loss counts.
    qos = QoSProfile(
        reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=FRAMES
    )
    subscription = node.create_subscription(
        Image,
        "/dds_profile_test/image",
        lambda msg: received.append(len(msg.data) == WIDTH * HEIGHT * 3),
        qos,
    )
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER], stdin=subprocess.PIPE)
    try:
        assert _spin_until(node, lambda: subscription.get_publisher_count() > 0, 90.0)
        publisher.stdin.write(b"go\n")
        publisher.stdin.flush()
        # A lost frame never comes: past the deadline, what arrived is judged.
        _spin_until(node, lambda: len(received) == FRAMES, 60.0)
    finally:
        publisher.kill()
        publisher.wait()
        node.destroy_node()
        rclpy.try_shutdown()
    assert all(received)
    # Without the profile about a third of the frames arrived (20-50 of 150 here).
    assert len(received) >= 0.9 * FRAMES, f"{len(received)} of {FRAMES} frames arrived"
