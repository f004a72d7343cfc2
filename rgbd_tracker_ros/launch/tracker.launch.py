"""Bring up the RGB-D tracker, optionally with the RealSense camera and RViz.

ros2 launch rgbd_tracker_ros tracker.launch.py [launch_camera:=true] [tracker:=det model_path:=...]
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"
PROFILE_FILE = "fastdds_large_images.xml"

ARGUMENTS = [
    ("camera_namespace", "camera", "RealSense camera namespace (realsense-ros 4.x)."),
    ("camera_name", "camera", "RealSense camera name (realsense-ros 4.x)."),
    ("launch_camera", "false", "Also start realsense2_camera with align_depth.enable:=true."),
    ("tracker", "depth_dcf", "Tracker name (README tracker table; tracker_node --help)."),
    ("model_path", "", "TorchScript model made by export_model (network trackers)."),
    ("device", "auto", "auto, cpu, cuda, cuda:N."),
    ("rviz", "false", "Start RViz with the package's config/tracker.rviz."),
    ("log_level", "info", "Node log level."),
]


def generate_launch_description() -> LaunchDescription:
    package_share = FindPackageShare("rgbd_tracker_ros")
    camera_ns = LaunchConfiguration("camera_namespace")
    camera_name = LaunchConfiguration("camera_name")

    def camera_topic(suffix: str) -> list:
        return ["/", camera_ns, "/", camera_name, "/", suffix]

    params_file = DeclareLaunchArgument(
        "params_file",
        default_value=PathJoinSubstitution([package_share, "config", "tracker.yaml"]),
        description="Node parameters YAML (default: the package's config/tracker.yaml).",
    )

    # Fast DDS reads this when each process starts: the camera driver publishes the large
    # images, so it needs the profile as much as the tracker (config/fastdds_large_images.xml).
    dds_profile = DeclareLaunchArgument(
        "fastdds_profile",
        default_value=EnvironmentVariable(
            PROFILE_ENV,
            default_value=PathJoinSubstitution([package_share, "config", PROFILE_FILE]),
        ),
        description=(
            "Fast DDS XML profile for every process started here (default: "
            f"${PROFILE_ENV}, else the package's {PROFILE_FILE})."
        ),
    )
    use_dds_profile = SetEnvironmentVariable(PROFILE_ENV, LaunchConfiguration("fastdds_profile"))

    camera = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("realsense2_camera"), "launch", "rs_launch.py"])
        ),
        launch_arguments={
            "camera_namespace": camera_ns,
            "camera_name": camera_name,
            "align_depth.enable": "true",
        }.items(),
        condition=IfCondition(LaunchConfiguration("launch_camera")),
    )

    tracker = Node(
        package="rgbd_tracker_ros",
        executable="tracker_node",
        name="tracker",
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "tracker.name": LaunchConfiguration("tracker"),
                "tracker.model_path": LaunchConfiguration("model_path"),
                "tracker.device": LaunchConfiguration("device"),
            },
        ],
        remappings=[
            ("color/image_raw", camera_topic("color/image_raw")),
            ("depth/image_raw", camera_topic("aligned_depth_to_color/image_raw")),
            ("color/camera_info", camera_topic("color/camera_info")),
            ("color/image_raw_mouse_left", camera_topic("color/image_raw_mouse_left")),
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )

    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([package_share, "config", "tracker.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )

    declared = [DeclareLaunchArgument(n, default_value=d, description=t) for n, d, t in ARGUMENTS]
    return LaunchDescription(
        [*declared, params_file, dds_profile, use_dds_profile, camera, tracker, rviz]
    )
