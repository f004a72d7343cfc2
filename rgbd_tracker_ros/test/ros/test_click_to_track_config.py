"""Click-to-track out of the box: the shipped RViz config shows the camera's depth as a
surface a Publish Point click lands on, on the topics the tracker reads, and the launch file
gives RViz that config with its own names. (rviz2 itself is not on these machines: the
config is checked as RViz reads it, a YAML tree.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from ros_harness import requires

from rgbd_tracker_ros.ros.parameters import PARAMETERS
from rgbd_tracker_ros.ros.session import REMAPS

PACKAGE = Path(__file__).resolve().parents[2]
RVIZ = PACKAGE / "config" / "tracker.rviz"


def _config(path: Path = RVIZ) -> dict:
    return yaml.safe_load(path.read_text())["Visualization Manager"]


def _display(config: dict, plugin: str) -> dict:
    (display,) = [d for d in config["Displays"] if d["Class"] == f"rviz_default_plugins/{plugin}"]
    return display


def test_depth_cloud_shows_the_camera_the_tracker_reads():
    config = _config()
    cloud = _display(config, "DepthCloud")
    assert cloud["Enabled"] is True and cloud["Selectable"] is True
    assert cloud["Depth Map Topic"] == REMAPS["depth/image_raw"]
    assert cloud["Color Image Topic"] == REMAPS["color/image_raw"]
    assert cloud["CameraInfo Topic"] == REMAPS["color/camera_info"]
    # Best effort subscribes to reliable and best-effort cameras alike.
    assert cloud["Reliability Policy"] == "Best effort"
    # Nothing else a click could land on in front of it: no grid at the camera's plane.
    assert not [d for d in config["Displays"] if d["Class"].endswith("/Grid")]


def test_publish_point_goes_where_the_node_listens_and_the_frame_is_the_camera():
    config = _config()
    (tool,) = [t for t in config["Tools"] if t["Class"] == "rviz_default_plugins/PublishPoint"]
    assert tool["Topic"]["Value"] == PARAMETERS["click.rviz_topic"][0]
    assert config["Global Options"]["Fixed Frame"] == "camera_color_optical_frame"
    images = {d["Topic"]["Value"] for d in config["Displays"] if "Topic" in d}
    assert {"/tracker/debug_image", "/tracker/score_map", "/tracker/target_pose"} <= images


@requires("launch_ros")
def test_launch_gives_rviz_its_own_names():
    spec = importlib.util.spec_from_file_location(
        "tracker_launch", PACKAGE / "launch" / "tracker.launch.py"
    )
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    shipped = launch_file.rviz_config_for("/camera/camera/", "/tracker/", "camera")
    assert Path(shipped).read_text() == RVIZ.read_text()

    renamed = Path(launch_file.rviz_config_for("/arm/d405/", "/arm/tracker/", "d405"))
    config = _config(renamed)
    cloud = _display(config, "DepthCloud")
    assert cloud["Depth Map Topic"] == "/arm/d405/aligned_depth_to_color/image_raw"
    assert cloud["Color Image Topic"] == "/arm/d405/color/image_raw"
    assert config["Global Options"]["Fixed Frame"] == "d405_color_optical_frame"
    images = {d["Topic"]["Value"] for d in config["Displays"] if "Topic" in d}
    assert "/arm/tracker/debug_image" in images and "/tracker/debug_image" not in images
