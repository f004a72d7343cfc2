"""tracker.launch.py under the real launch, launch_ros and launch_testing, checked with the
real ``ros2`` command line (the ROS source overlay, or an apt install, provides them).

One launch starts the package's sequence player (a static synthetic target, looping) and
``tracker.launch.py`` three times, each in its own namespace:

- ``live``: the shipped parameters; the node must become active, accept an init through
  ``ros2 service call`` and publish poses;
- ``chosen``: a ``params_file`` choosing tracker, model and device (autostart off), which
  the launch file must not override;
- ``overridden``: the same file plus ``tracker:=`` and ``device:=``, which must win.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import pytest

OVERLAY = "launch_testing is not installed: scripts/setup_env.sh builds it from " + (
    "../shared/ros-overlay (or $ROS_OVERLAY_SRC); an apt ROS 2 install has it"
)
pytest.importorskip("launch_testing", reason=OVERLAY)

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.actions import GroupAction, IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from launch_ros.actions import Node  # noqa: E402

from launch import LaunchDescription  # noqa: E402
from rgbd_tracker_ros.sequences.depthtrack import read_sequence  # noqa: E402
from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, generate_sequence  # noqa: E402

CLI_TIMEOUT_S = 120.0
DIRECT = ("--no-daemon", "--spin-time", "3")  # discover without starting a ros2 daemon
CHOSEN = {
    "tracker.name": "det",
    "tracker.model_path": "/models/det_max.ts",
    "tracker.device": "cpu",
}


def _chosen_params_file(folder: Path) -> Path:
    path = folder / "chosen.yaml"
    tracker = {key.split(".")[1]: value for key, value in CHOSEN.items()}
    path.write_text(
        yaml.safe_dump({"/**": {"ros__parameters": {"autostart": False, "tracker": tracker}}})
    )
    return path


@pytest.mark.launch_test
def generate_test_description():
    folder = Path(tempfile.mkdtemp(prefix="launch_test_"))
    config = SyntheticConfig(seed=4, num_frames=6, width=320, height=240, translation=False)
    sequence = generate_sequence(config, folder / "static")
    params = _chosen_params_file(folder)
    launch_file = Path(get_package_share_directory("rgbd_tracker_ros")) / "launch"

    def tracker(**arguments: str) -> GroupAction:
        include = IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(launch_file / "tracker.launch.py")),
            launch_arguments=arguments.items(),
        )
        return GroupAction([include], scoped=True, forwarding=False)

    player = Node(
        package="rgbd_tracker_ros",
        executable="sequence_player",
        name="camera",
        namespace="camera",
        parameters=[{"sequence": str(sequence), "loop": True, "rate": 10.0}],
        output="screen",
    )
    description = LaunchDescription(
        [
            player,
            tracker(namespace="live"),
            tracker(namespace="chosen", params_file=str(params)),
            tracker(
                namespace="overridden", params_file=str(params), tracker="dimp", device="cuda:1"
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )
    return description, {"sequence": sequence}


def ros2(*args: str) -> str:
    """Output of one ``ros2`` command."""
    result = subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=120)
    return result.stdout + result.stderr


def ros2_until(expected: str, *args: str) -> str:
    """Repeat a ``ros2`` command until its output contains ``expected`` (nodes start slowly)."""
    deadline = time.monotonic() + CLI_TIMEOUT_S
    output = ""
    while time.monotonic() < deadline:
        output = ros2(*args)
        if expected in output:
            return output
        time.sleep(1.0)
    raise AssertionError(f"ros2 {' '.join(args)}: no {expected!r} in:\n{output}")


def chosen_parameters(node: str) -> dict:
    """The parameters ``CHOSEN`` names, as ``ros2 param dump`` shows them."""
    output = ros2_until("ros__parameters", "param", "dump", node, *DIRECT)
    tracker = next(iter(yaml.safe_load(output).values()))["ros__parameters"]["tracker"]
    return {name: tracker[name.split(".")[1]] for name in CHOSEN}


class TestTrackerLaunch(unittest.TestCase):
    def test_live_node_activates_and_tracks_after_an_init_through_the_service(self, sequence):
        ros2_until("active [3]", "lifecycle", "get", "/live/tracker", *DIRECT)
        x, y, w, h = (float(v) for v in read_sequence(sequence).groundtruth[0])
        request = f"{{x: {x}, y: {y}, width: {w}, height: {h}}}"
        ros2_until(
            "success=True",
            "service",
            "call",
            "/live/tracker/init",
            "rgbd_tracker_msgs/srv/InitTarget",
            request,
        )
        pose = ros2_until(
            "position:",
            "topic",
            "echo",
            "--once",
            "/live/tracker/target_pose",
            "geometry_msgs/msg/PoseStamped",
            *DIRECT,
        )
        self.assertIn("frame_id: camera_color_optical_frame", pose)

    def test_params_file_chooses_tracker_model_and_device(self):
        self.assertEqual(chosen_parameters("/chosen/tracker"), CHOSEN)
        ros2_until("unconfigured [1]", "lifecycle", "get", "/chosen/tracker", *DIRECT)

    def test_launch_arguments_given_override_the_params_file(self):
        expected = CHOSEN | {"tracker.name": "dimp", "tracker.device": "cuda:1"}
        self.assertEqual(chosen_parameters("/overridden/tracker"), expected)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_process_exited_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
