"""The tracker node's parameters: one table of names, defaults and descriptions.

``config/tracker.yaml`` mirrors this table with comments; a test checks they agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from rgbd_tracker_ros.outcome import OutcomeParams
from rgbd_tracker_ros.tracking.registry import DEFAULT_TRACKER, package_specs
from rgbd_tracker_ros.tracking.spec import TrackerSpec


def _weights(spec: TrackerSpec) -> str:
    return "needs model_path" if spec.needs_weights else "no weights"


# The defaults of what the outcome stage reads are OutcomeParams's (the evaluation uses them too).
_OUTCOME = OutcomeParams()

# name -> (default, description, read_only)
PARAMETERS: dict[str, tuple[Any, str, bool]] = {
    "autostart": (True, "Configure and activate on start.", True),
    "tracker.name": (
        DEFAULT_TRACKER,
        "Tracker: "
        + "; ".join(f"{s.name} ({s.inputs}, {_weights(s)})" for s in package_specs())
        + ".",
        True,
    ),
    "tracker.model_path": ("", "TorchScript file from export_model (network trackers).", True),
    "tracker.device": ("auto", "auto (cuda if available, else cpu), cpu, cuda, cuda:N.", True),
    "tracker.params_file": ("", "YAML of tracker parameters overriding its defaults.", True),
    "tracker.cpu_threads": (
        1,
        "Torch/OpenCV threads when the tracker runs on the CPU (1 suits the default tracker; "
        "network trackers gain from more).",
        True,
    ),
    "qos.reliability": (
        "auto",
        "Input QoS reliability: auto (match each input's publishers: reliable when they all "
        "are, else best_effort; re-checked while active), reliable or best_effort.",
        True,
    ),
    "qos.depth": (2, "Input QoS keep-last depth.", True),
    "sync.queue_size": (5, "Approximate-time synchroniser queue per input.", True),
    "sync.slop": (0.03, "Approximate-time synchroniser slop in seconds.", True),
    "sync.message_filters": (
        True,
        "Pair inputs with message_filters where installed (false: the built-in synchroniser).",
        True,
    ),
    "depth_scale": (0.001, "16UC1 depth units to metres (RealSense: 0.001).", True),
    "thresholds.uncertain_score": (
        _OUTCOME.uncertain_score,
        "TRACKING below this score is reported UNCERTAIN.",
        False,
    ),
    "thresholds.lost_score": (
        _OUTCOME.lost_score,
        "Below this score the result is reported LOST.",
        False,
    ),
    "thresholds.occlusion_depth_drop": (
        _OUTCOME.occlusion_depth_drop,
        "Box depth this fraction closer than the tracked depth while the score falls: occluded.",
        False,
    ),
    "thresholds.max_target_speed": (
        _OUTCOME.max_target_speed,
        "Fastest depth change (m/s) of the target: a box depth beyond it is no pose of it.",
        False,
    ),
    "depth.min_valid_pixels": (
        _OUTCOME.min_valid_pixels,
        "Fewer valid depth pixels in the box: no 3D position.",
        False,
    ),
    "depth.min_depth_m": (
        _OUTCOME.min_depth_m,
        "Depth readings below this (m) are ignored.",
        False,
    ),
    "depth.max_depth_m": (
        _OUTCOME.max_depth_m,
        "Depth readings above this (m) are ignored.",
        False,
    ),
    "output_frame": (
        "",
        "Fixed frame (base_link, map, ...) ~/target_pose and ~/detections_3d are published in, "
        "through tf2 at each frame's stamp; empty: the camera's optical frame.",
        True,
    ),
    "target_frame": (
        "tracker_target",
        "TF frame of the target (publish.tf), a child of the camera's optical frame.",
        True,
    ),
    "publish.score_map": (True, "Publish ~/score_map (32FC1).", True),
    "publish.marker": (True, "Publish ~/marker at the 3D target.", True),
    "publish.debug_image": (True, "Publish ~/debug_image while it has subscribers.", True),
    "publish.detections_2d": (
        True,
        "Publish ~/detections_2d (vision_msgs/Detection2DArray) where vision_msgs is installed.",
        True,
    ),
    "publish.detections_3d": (
        True,
        "Publish ~/detections_3d (vision_msgs/Detection3DArray) where vision_msgs is installed.",
        True,
    ),
    "publish.tf": (
        True,
        "Broadcast the target as TF frame target_frame where tf2_ros is installed.",
        True,
    ),
    "publish.diagnostics_period": (
        1.0,
        "Seconds between /diagnostics messages; 0 = off. With diagnostic_updater installed, "
        "its own diagnostic_updater.period takes precedence where set.",
        True,
    ),
    "diagnostics.stale_input": (
        3.0,
        "Seconds without a synchronised frame (while active) before diagnostics warn.",
        True,
    ),
    "diagnostics.error_hold": (
        10.0,
        "Seconds after the last error during which diagnostics stay at WARN.",
        True,
    ),
    "click.rviz_topic": ("/clicked_point", "RViz Publish Point topic (PointStamped).", True),
    "click.image_topic": (
        "color/image_raw_mouse_left",
        "rqt_image_view click on the color image (Point, pixels).",
        True,
    ),
    "click.debug_image_topic": (
        "~/debug_image_mouse_left",
        "rqt_image_view click on ~/debug_image (Point, pixels).",
        True,
    ),
    "click.default_box_size": (80, "Box side (px) for a click where depth is missing.", False),
    "click.depth_tolerance": (
        0.08,
        "Depth difference (m) of the region grown from a click.",
        False,
    ),
}


# name -> (lowest, highest) value. The descriptors carry them (rclpy refuses a value outside,
# NaN included, naming the parameter) and ``runtime_settings`` checks them again, so a value
# that reaches the node is always usable (a negative click.depth_tolerance used to crash it).
RANGES: dict[str, tuple[float, float]] = {
    "tracker.cpu_threads": (1, 256),
    "qos.depth": (1, 1000),
    "sync.queue_size": (1, 1000),
    "sync.slop": (0.0, 10.0),
    "depth_scale": (1e-6, 1.0),
    "thresholds.uncertain_score": (-1e3, 1e3),
    "thresholds.lost_score": (-1e3, 1e3),
    "thresholds.occlusion_depth_drop": (0.01, 0.99),
    "depth.min_valid_pixels": (1, 1_000_000),
    "depth.min_depth_m": (0.0, 100.0),
    "depth.max_depth_m": (0.01, 100.0),
    "publish.diagnostics_period": (0.0, 3600.0),
    "diagnostics.stale_input": (0.1, 3600.0),
    "diagnostics.error_hold": (0.0, 3600.0),
    "click.default_box_size": (4, 10_000),
    "click.depth_tolerance": (0.001, 10.0),
}


@dataclass
class TrackerSettings:
    name: str
    model_path: str
    device: str
    params_file: str
    cpu_threads: int


@dataclass
class RuntimeSettings:
    """The parameters that ``ros2 param set`` may change while the node runs."""

    outcome: OutcomeParams
    default_box_size: int
    depth_tolerance: float


def declare_parameters(node: Node) -> None:
    for name, (default, description, read_only) in PARAMETERS.items():
        descriptor = ParameterDescriptor(description=description, read_only=read_only)
        if name in RANGES:
            low, high = RANGES[name]
            if isinstance(default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high))]
            else:
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(low), to_value=float(high))
                ]
        node.declare_parameter(name, default, descriptor)


def check_range(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` when ``value`` is not a finite number in its range."""
    low, high = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be from {low:g} to {high:g}, got {value}")


def value(node: Node, name: str) -> Any:
    return node.get_parameter(name).value


def tracker_settings(node: Node) -> TrackerSettings:
    return TrackerSettings(
        name=value(node, "tracker.name"),
        model_path=value(node, "tracker.model_path"),
        device=value(node, "tracker.device"),
        params_file=value(node, "tracker.params_file"),
        cpu_threads=int(value(node, "tracker.cpu_threads")),
    )


def runtime_settings(values: dict[str, Any]) -> RuntimeSettings:
    """Build from a name -> value mapping, so a pending ``ros2 param set`` can be validated.

    Raises ``ValueError`` naming the parameter and its allowed values.
    """
    for name in runtime_names():
        if name in RANGES:
            check_range(name, values[name])
    try:
        outcome = OutcomeParams(
            uncertain_score=float(values["thresholds.uncertain_score"]),
            lost_score=float(values["thresholds.lost_score"]),
            occlusion_depth_drop=float(values["thresholds.occlusion_depth_drop"]),
            max_target_speed=float(values["thresholds.max_target_speed"]),
            min_valid_pixels=int(values["depth.min_valid_pixels"]),
            min_depth_m=float(values["depth.min_depth_m"]),
            max_depth_m=float(values["depth.max_depth_m"]),
        )
    except ValueError as error:
        raise ValueError(f"thresholds.* / depth.*: {error}") from None
    settings = RuntimeSettings(
        outcome=outcome,
        default_box_size=int(values["click.default_box_size"]),
        depth_tolerance=float(values["click.depth_tolerance"]),
    )
    return settings


def runtime_names() -> list[str]:
    return [name for name, (_, _, read_only) in PARAMETERS.items() if not read_only]
