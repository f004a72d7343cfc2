"""What the parameters file and the launch file promise holds. The launch file runs under
the real launch (test_launch_tracker.py); here: the parameters file, the node started the
way the launch file starts it, and a launch that cannot start everything starts nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.node import Node
from ros_harness import requires, wait_for

from rgbd_tracker_ros.ros.parameters import PARAMETERS

PACKAGE = Path(__file__).resolve().parents[2]


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def test_parameters_file_matches_the_declared_parameters():
    loaded = yaml.safe_load((PACKAGE / "config" / "tracker.yaml").read_text())
    values = _flatten(loaded["/**"]["ros__parameters"])
    assert set(values) == set(PARAMETERS)
    for name, value in values.items():
        default = PARAMETERS[name][0]
        assert type(value) is type(default), f"{name}: {value!r} vs declared {default!r}"
        assert value == default, f"{name}: the YAML and the declared default disagree"


@requires("launch_ros")
@pytest.mark.parametrize(
    ("flag", "package"), [("rviz", "rviz2"), ("launch_camera", "realsense2_camera")]
)
def test_a_missing_package_stops_the_launch_before_anything_starts(flag, package):
    """rviz:=true without rviz2 (launch_camera:=true without realsense2_camera) used to fail
    after tracker_node had started, and left it running."""
    marker = f"orphan_check_{os.getpid()}_{flag}"  # in the node's remappings, if it started
    command = ["ros2", "launch", "rgbd_tracker_ros", "tracker.launch.py", f"{flag}:=true"]
    command.append(f"camera_namespace:={marker}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    orphans = _processes_mentioning(marker)
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"left running: {orphans}\n{output}"
    assert result.returncode != 0, output
    assert f"{flag}:=true needs {package}, which is not installed" in output
    assert "nothing was started" in output and "process started" not in output


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        if text in cmdline and "ros2 launch" not in cmdline:
            found.append(int(entry.name))
    return found


def test_node_starts_with_the_params_file_and_remaps():
    """The command line the launch file produces: --params-file plus remappings."""
    command = [
        sys.executable,
        "-m",
        "rgbd_tracker_ros.tools.tracker_node",
        "--ros-args",
        "--params-file",
        str(PACKAGE / "config" / "tracker.yaml"),
        "-r",
        "color/image_raw:=/cam_under_test/color/image_raw",
        "-r",
        "depth/image_raw:=/cam_under_test/aligned_depth_to_color/image_raw",
        "-r",
        "color/camera_info:=/cam_under_test/color/camera_info",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rclpy.init()
    probe = Node("launch_probe")
    try:
        expected = {
            "/cam_under_test/color/image_raw",
            "/cam_under_test/aligned_depth_to_color/image_raw",
            "/cam_under_test/color/camera_info",
        }

        def subscribed() -> bool:
            topics = {name for name in expected if probe.get_subscriptions_info_by_topic(name)}
            return topics == expected

        def serving() -> bool:
            services = dict(probe.get_service_names_and_types())
            return "/tracker/init" in services and "/tracker/reset" in services

        # A fresh process imports torch and rclpy first: tens of seconds on a busy machine.
        assert wait_for(subscribed, timeout=180.0), (
            "the node did not subscribe to the remapped inputs"
        )
        # Discovery announces each entity on its own: the services may be seen after the inputs.
        assert wait_for(serving, timeout=60.0), "the node offers no init/reset services"
        assert process.poll() is None
    finally:
        probe.destroy_node()
        rclpy.try_shutdown()
        process.terminate()
        output = process.communicate(timeout=60)[0].decode()
    assert "Traceback" not in output, output
