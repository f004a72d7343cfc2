"""One log: the library's ``logging`` lines come out of the node's rclpy logger, once.

The tracker node runs as its own process, as ``ros2 run`` starts it, so what is checked is
what a user sees on the console and on ``/rosout``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
from rcl_interfaces.msg import Log
from ros_harness import CAMERA, flat_depth_mm, gray_frame, small_intrinsics, wait_for

from rgbd_tracker_ros.ros.log_bridge import (
    PACKAGE_LOGGER,
    route_package_logging,
    severity,
    unroute_package_logging,
)

TEST_DIR = Path(__file__).resolve().parents[1]  # fake_trackers.py
# The node with the test trackers registered, started like the console script.
NODE = (
    f"import sys; sys.path.insert(0, {str(TEST_DIR)!r}); import fake_trackers; "
    "from rgbd_tracker_ros.tools.tracker_node import main; sys.exit(main())"
)
FAILURE = "injected tracker failure"


def test_python_levels_map_to_ros_severities():
    from rclpy.logging import LoggingSeverity as S

    assert [severity(level) for level in (5, 10, 20, 30, 40, 50)] == [
        S.DEBUG,
        S.DEBUG,
        S.INFO,
        S.WARN,
        S.ERROR,
        S.FATAL,
    ]


def _start_node(tmp_path: Path, log_level: str) -> subprocess.Popen:
    """A tracker node process reading the graph's camera, whose tracker always fails."""
    params = tmp_path / "failing.yaml"
    params.write_text("fail_every: 2\n")  # the warm-up's track() passes, then every other
    command = [sys.executable, "-c", NODE, "--ros-args", "--log-level", log_level]
    command += ["-p", "tracker.name:=test_steady", "-p", f"tracker.params_file:={params}"]
    inputs = ("color/image_raw", "depth/image_raw", "color/camera_info")
    for name, topic in zip(inputs, CAMERA, strict=True):
        command += ["-r", f"{name}:={topic}"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize(("log_level", "shown"), [("info", True), ("fatal", False)])
def test_a_tracker_error_is_one_line_of_the_node_log(graph, tmp_path, log_level, shown):
    rosout: list[Log] = []
    graph.client_node.create_subscription(Log, "/rosout", rosout.append, 100)
    node = _start_node(tmp_path, log_level)
    try:
        # Active once it subscribes (services answer only then: autostart loads first).
        assert wait_for(lambda: graph.color_pub.get_subscription_count(), timeout=120)
        color, depth, intr = gray_frame(), flat_depth_mm(), small_intrinsics()

        def tracking() -> bool:
            graph.publish(color, depth, intr)
            return graph.init((60, 40, 40, 30)).success

        assert wait_for(tracking, timeout=60)
        # Frames on which track() raises, one by one: the worker logs the first of the burst.
        for _ in range(4):
            header = graph.publish(color, depth, intr)
            assert wait_for(lambda: graph.targets_for(header), timeout=30)  # noqa: B023
        if shown:
            assert wait_for(lambda: _worker_errors(rosout)), "not on /rosout"
    finally:
        node.terminate()
        output = node.communicate(timeout=30)[0]
    lines = [line for line in output.splitlines() if FAILURE in line]
    if shown:
        assert len(lines) == 1, output
        assert lines[0].startswith("[ERROR]") and "[tracker.worker]" in lines[0], lines[0]
    else:
        assert lines == [], output


def _worker_errors(rosout: list[Log]) -> list[str]:
    return [m.msg for m in list(rosout) if m.name == "tracker.worker" and m.level == Log.ERROR]


def test_the_route_reaches_rosout_and_follows_the_node_level():
    rclpy.init()
    node = rclpy.create_node("log_route_test")
    listener = rclpy.create_node("log_route_listener")
    received: list[Log] = []
    listener.create_subscription(Log, "/rosout", received.append, 100)
    handler = route_package_logging(node.get_logger())
    library = logging.getLogger(PACKAGE_LOGGER + ".tracking.example")
    try:
        node.get_logger().set_level(rclpy.logging.LoggingSeverity.WARN)
        library.info("quiet line")

        def arrived() -> bool:
            library.warning("loud line")
            library.error("louder line")  # another severity, same route
            rclpy.spin_once(listener, timeout_sec=0.05)
            return {"loud line", "louder line"} <= {m.msg for m in received}

        assert wait_for(arrived, timeout=20)
        loud = next(m for m in received if m.msg == "loud line")
        assert loud.name == "log_route_test.tracking.example" and loud.level == 30
        assert not any(m.msg == "quiet line" for m in received)
    finally:
        unroute_package_logging(handler)
        node.destroy_node()
        listener.destroy_node()
        rclpy.try_shutdown()
    assert logging.getLogger(PACKAGE_LOGGER).propagate


def test_stopped_while_starting_the_node_exits_quietly():
    """SIGTERM (as launch sends on Ctrl-C) while the model loads: exit 0, no traceback."""
    name = f"tracker_stopped_early_{os.getpid()}"
    command = [sys.executable, "-c", NODE, "--ros-args", "-r", f"__node:={name}"]
    command += ["-p", "tracker.name:=test_slow_start"]
    node = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    probe = rclpy.create_node("stop_probe")
    try:
        # Seen in the graph: constructed, and configuring for the next ten seconds.
        assert wait_for(lambda: name in probe.get_node_names(), timeout=120)
    finally:
        probe.destroy_node()
        rclpy.try_shutdown()
        node.send_signal(signal.SIGTERM)
        output = node.communicate(timeout=120)[0]
    assert node.returncode == 0, output
    assert "Traceback" not in output, output
