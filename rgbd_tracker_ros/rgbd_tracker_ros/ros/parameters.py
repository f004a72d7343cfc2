"""The tracker node's parameters: one table of names, defaults and descriptions.

``config/tracker.yaml`` mirrors this table with comments; a test checks they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
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
    "publish.score_map": (True, "Publish ~/score_map (32FC1).", True),
    "publish.marker": (True, "Publish ~/marker at the 3D target.", True),
    "publish.debug_image": (True, "Publish ~/debug_image while it has subscribers.", True),
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
        "rqt_image_view click topic (Point, pixels).",
        True,
    ),
    "click.default_box_size": (80, "Box side (px) for a click where depth is missing.", False),
    "click.depth_tolerance": (
        0.08,
        "Depth difference (m) of the region grown from a click.",
        False,
    ),
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
        node.declare_parameter(
            name, default, ParameterDescriptor(description=description, read_only=read_only)
        )


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
    """Build from a name -> value mapping, so a pending ``ros2 param set`` can be validated."""
    try:
        outcome = OutcomeParams(
            uncertain_score=float(values["thresholds.uncertain_score"]),
            lost_score=float(values["thresholds.lost_score"]),
            occlusion_depth_drop=float(values["thresholds.occlusion_depth_drop"]),
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
    if settings.default_box_size < 4:
        raise ValueError("click.default_box_size must be >= 4")
    return settings


def runtime_names() -> list[str]:
    return [name for name, (_, _, read_only) in PARAMETERS.items() if not read_only]
