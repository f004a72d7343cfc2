"""What the launch file and the parameters file promise holds (launch_ros has no wheel here,
so the launch file is checked by reading it, and the node is started the way it starts it)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import rclpy
import yaml
from rclpy.node import Node
from ros_harness import wait_for

from rgbd_tracker_ros.ros import dds
from rgbd_tracker_ros.ros.parameters import PARAMETERS

PACKAGE = Path(__file__).resolve().parents[2]
LAUNCH = PACKAGE / "launch" / "tracker.launch.py"
NODE_INPUTS = {"color/image_raw", "depth/image_raw", "color/camera_info"}


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
    values = _flatten(loaded["tracker"]["ros__parameters"])
    assert set(values) == set(PARAMETERS)
    for name, value in values.items():
        default = PARAMETERS[name][0]
        assert type(value) is type(default), f"{name}: {value!r} vs declared {default!r}"
        assert value == default, f"{name}: the YAML and the declared default disagree"


def _launch_calls() -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(LAUNCH.read_text())) if isinstance(n, ast.Call)]


def test_launch_file_names_what_exists():
    source = LAUNCH.read_text()
    setup = (PACKAGE / "setup.py").read_text()
    executables = re.findall(r'executable="([^"]+)"', source)
    assert "tracker_node" in executables
    assert "tracker_node = rgbd_tracker_ros.tools.tracker_node:main" in setup
    for name in ("tracker.yaml", "tracker.rviz"):
        assert f'"{name}"' in source and (PACKAGE / "config" / name).is_file()
    remapped = set(re.findall(r'\("([a-z_/]+)", camera_topic\(', source))
    assert remapped >= NODE_INPUTS
    declared = {
        call.args[0].value
        for call in _launch_calls()
        if getattr(call.func, "id", "") == "DeclareLaunchArgument"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    }
    table = re.findall(r'^\s+\("([a-z_]+)", "', source, flags=re.M)
    arguments = declared | set(table)
    for expected in ("launch_camera", "params_file", "tracker", "model_path", "device", "rviz"):
        assert expected in arguments, expected
    assert '"align_depth.enable": "true"' in source
    # The camera driver publishes the large images: it must start with the DDS profile.
    assert "fastdds_profile" in arguments
    assert f'PROFILE_ENV = "{dds.PROFILE_ENV}"' in source
    assert f'PROFILE_FILE = "{dds.large_image_profile().name}"' in source
    assert dds.large_image_profile().is_file()
    assert source.index("use_dds_profile, camera") > 0


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
