"""Bring up the RGB-D tracker, optionally with the RealSense camera and RViz.

ros2 launch rgbd_tracker_ros tracker.launch.py [launch_camera:=true] [tracker:=det model_path:=...]

``tracker``, ``model_path`` and ``device`` override ``params_file`` only when given: left
empty, the parameters file decides them. Asking for RViz or the camera where rviz2 or
realsense2_camera is not installed stops the launch before anything starts.

RViz gets config/tracker.rviz with this launch's names (camera and tracker namespaces, the
camera's optical frame), so its depth cloud, which a Publish Point click lands on, shows
the camera the tracker reads.
"""

import tempfile
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from rgbd_tracker_ros.paths import config_dir
from rgbd_tracker_ros.ros.dds import PROFILE_ENV, choose_profile, large_image_profile

# name, default, description (empty defaults of tracker/model_path/device mean "not set")
ARGUMENTS = [
    ("namespace", "", "Namespace of the tracker node (its topics and services move under it)."),
    ("params_file", str(config_dir() / "tracker.yaml"), "Node parameters YAML."),
    (
        "tracker",
        "",
        "Tracker name (README tracker table; tracker_node --help); empty: from params_file.",
    ),
    ("model_path", "", "TorchScript file made by export_model; empty: from params_file."),
    ("device", "", "auto, cpu, cuda, cuda:N; empty: from params_file."),
    ("log_level", "info", "Log level of the tracker node: debug, info, warn, error, fatal."),
    (
        "fastdds_profile",
        "",
        "Fast DDS XML profile for every process started here. Empty: "
        f"${PROFILE_ENV} if set, none if $FASTDDS_BUILTIN_TRANSPORTS is set, else the "
        "package's config/fastdds_large_images.xml; none: leave Fast DDS as it is.",
    ),
    ("camera_namespace", "camera", "RealSense camera namespace (realsense-ros 4.x)."),
    ("camera_name", "camera", "RealSense camera name (realsense-ros 4.x)."),
    ("launch_camera", "false", "Also start realsense2_camera with align_depth.enable:=true."),
    (
        "camera_profile",
        "",
        "Color and depth profile WxHxFPS (e.g. 640x480x30) for rs_launch.py; empty: the "
        "driver's default.",
    ),
    (
        "serial_no",
        "",
        "Camera serial number for rs_launch.py (write _123456 to keep it a string); empty: any.",
    ),
    ("camera_config_file", "", "YAML for rs_launch.py's config_file; empty: none."),
    ("rviz", "false", "Start RViz with the package's config/tracker.rviz."),
]

# What each optional package is needed for, and how to get it.
REQUIRED = {
    "rviz": ("rviz2", "sudo apt install ros-$ROS_DISTRO-rviz2"),
    "launch_camera": ("realsense2_camera", "sudo apt install ros-$ROS_DISTRO-realsense2-camera"),
}
# Launch arguments that override a node parameter when not empty.
NODE_OVERRIDES = {
    "tracker": "tracker.name",
    "model_path": "tracker.model_path",
    "device": "tracker.device",
}
# rs_launch.py's profile arguments: 4.55 names one per stream, 4.51-4.54 one per module.
CAMERA_PROFILE_ARGUMENTS = (
    "rgb_camera.color_profile",
    "depth_module.depth_profile",
    "rgb_camera.profile",
    "depth_module.profile",
)


def _share(package: str) -> str | None:
    try:
        return get_package_share_directory(package)
    except PackageNotFoundError:
        return None


def _setup(context: LaunchContext) -> list:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    def wanted(name: str) -> bool:
        return IfCondition(LaunchConfiguration(name)).evaluate(context)

    # Everything asked for must exist before anything starts: no half-started launch.
    missing = [
        f"{flag}:=true needs {package}, which is not installed ({fix}, or {flag}:=false)"
        for flag, (package, fix) in REQUIRED.items()
        if wanted(flag) and _share(package) is None
    ]
    if missing:
        raise RuntimeError("; ".join(missing) + "; nothing was started")

    actions: list = [*_dds_actions(arg("fastdds_profile"), context.environment)]
    camera_ns, camera_name = arg("camera_namespace"), arg("camera_name")
    if wanted("launch_camera"):
        camera_args = {
            "camera_namespace": camera_ns,
            "camera_name": camera_name,
            "align_depth.enable": "true",
        }
        if arg("camera_profile"):
            camera_args.update(dict.fromkeys(CAMERA_PROFILE_ARGUMENTS, arg("camera_profile")))
        if arg("serial_no"):
            camera_args["serial_no"] = arg("serial_no")
        if arg("camera_config_file"):
            camera_args["config_file"] = arg("camera_config_file")
        rs_launch = f"{_share('realsense2_camera')}/launch/rs_launch.py"
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(rs_launch), launch_arguments=camera_args.items()
            )
        )

    def camera_topic(suffix: str) -> str:
        return f"/{camera_ns}/{camera_name}/{suffix}".replace("//", "/")

    overrides = {param: arg(name) for name, param in NODE_OVERRIDES.items() if arg(name)}
    actions.append(
        Node(
            package="rgbd_tracker_ros",
            executable="tracker_node",
            name="tracker",
            namespace=arg("namespace"),
            output="screen",
            emulate_tty=True,
            parameters=[arg("params_file"), *([overrides] if overrides else [])],
            remappings=[
                ("color/image_raw", camera_topic("color/image_raw")),
                ("depth/image_raw", camera_topic("aligned_depth_to_color/image_raw")),
                ("color/camera_info", camera_topic("color/camera_info")),
                ("color/image_raw_mouse_left", camera_topic("color/image_raw_mouse_left")),
            ],
            arguments=["--ros-args", "--log-level", arg("log_level")],
        )
    )
    if wanted("rviz"):
        tracker_ns = f"/{arg('namespace')}/tracker/".replace("//", "/")
        rviz_config = rviz_config_for(camera_topic(""), tracker_ns, camera_name)
        actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", rviz_config]))
    return actions


def rviz_config_for(camera_prefix: str, tracker_prefix: str, camera_name: str) -> str:
    """config/tracker.rviz with the topics and optical frame of this launch (a copy in a
    temporary folder where they differ from the defaults it names)."""
    shipped = config_dir() / "tracker.rviz"
    text = shipped.read_text()
    renamed = (
        text.replace("/camera/camera/", camera_prefix)
        .replace("/tracker/", tracker_prefix)
        .replace("camera_color_optical_frame", f"{camera_name}_color_optical_frame")
    )
    if renamed == text:
        return str(shipped)
    path = Path(tempfile.mkdtemp(prefix="rgbd_tracker_rviz_")) / "tracker.rviz"
    path.write_text(renamed)
    return str(path)


def _dds_actions(profile: str, environment) -> list:
    """The Fast DDS profile for the processes started here, said once in the log.

    The camera driver publishes the large images, so it needs the profile as much as the
    tracker (config/fastdds_large_images.xml explains).
    """
    if profile == "none":
        return [LogInfo(msg="Fast DDS: left as configured (fastdds_profile:=none)")]
    if profile:
        return [
            LogInfo(msg=f"Fast DDS: profile {profile} (launch argument fastdds_profile)"),
            SetEnvironmentVariable(PROFILE_ENV, profile),
        ]
    choice = choose_profile(environment, large_image_profile())
    actions: list = [LogInfo(msg=choice.message)]
    if choice.profile is not None:
        actions.append(SetEnvironmentVariable(PROFILE_ENV, choice.profile))
    return actions


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(n, default_value=d, description=t) for n, d, t in ARGUMENTS]
    return LaunchDescription([*declared, OpaqueFunction(function=_setup)])
