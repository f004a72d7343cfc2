"""What the fuzz and soak tools share: the tracker node in its own process, a client that
feeds it over loopback DDS and checks everything it publishes, and a valid stream to track.

The node runs as ``ros2 run`` would start it (``session.tracker_command``), so a crash is a
dead process and its memory is its own. Every numeric field of every output is checked for
inf/NaN (a 32FC1 image's pixels included) and 3D values for plausibility.
"""

from __future__ import annotations

import array
import logging
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, PointStamped, PoseStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import (
    DescribeParameters,
    GetParameters,
    ListParameters,
    SetParameters,
    SetParametersAtomically,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_msgs.srv import InitTarget
from rgbd_tracker_ros.evaluation.metrics import iou
from rgbd_tracker_ros.geometry import Intrinsics
from rgbd_tracker_ros.outcome import MAX_METRES
from rgbd_tracker_ros.ros.conversions import frame_messages, ns_to_stamp, stamp_to_ns
from rgbd_tracker_ros.ros.dds import (
    apply_large_image_profile,
    keep_discovery_local,
    local_discovery_settings,
)
from rgbd_tracker_ros.ros.parameters import PARAMETERS, runtime_names
from rgbd_tracker_ros.ros.session import REMAPS, NodeProcess, tracker_command
from rgbd_tracker_ros.ros.spinning import BackgroundSpinner
from rgbd_tracker_ros.sequences.synthetic import RenderedFrame, SyntheticConfig, SyntheticSequence

LOG = logging.getLogger(__name__)

NODE = "/tracker"
OPTICAL_FRAME = "camera_color_optical_frame"
CLICK_IMAGE_TOPIC = "/color/image_raw_mouse_left"  # click.image_topic, relative to /tracker
CLICK_RVIZ_TOPIC = "/clicked_point"
OUTPUTS: dict[str, Any] = {
    f"{NODE}/target": TrackedTarget,
    f"{NODE}/target_pose": PoseStamped,
    f"{NODE}/score_map": Image,
    f"{NODE}/debug_image": Image,
    f"{NODE}/marker": Marker,
    "/diagnostics": DiagnosticArray,
}
STARTUP_TIMEOUT_S = 120.0


def keep_dds_on_loopback() -> dict[str, str]:
    """Force DDS discovery onto this machine for this process and the node it starts.

    Whatever the caller's environment says: stress traffic never leaves the host. Returns the
    settings in force, for the report.
    """
    keep_discovery_local(os.environ, override=True)
    os.environ.pop("ROS_STATIC_PEERS", None)
    apply_large_image_profile(LOG.info)
    names = (
        *local_discovery_settings(os.environ),
        "ROS_DOMAIN_ID",
        "FASTRTPS_DEFAULT_PROFILES_FILE",
    )
    return {name: os.environ.get(name, "") for name in names}


def tracker_node_process(tracker: str, log_path: Path, extra_args: list[str]) -> NodeProcess:
    return NodeProcess(tracker_command(tracker, extra_args), log_path)


# --- checking what the node publishes ---------------------------------------------------------

_FLOAT_ENCODINGS = {"32FC1": "<f4", "64FC1": "<f8"}


def non_finite_fields(msg: Any, prefix: str = "") -> list[str]:
    """The numeric fields of ``msg`` (nested messages and arrays too) holding inf or NaN.

    A float image's pixels count as numbers: ``data`` of a 32FC1/64FC1 ``Image`` is read.
    """
    bad: list[str] = []
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        path = prefix + name
        if isinstance(value, float):
            if not math.isfinite(value):
                bad.append(path)
        elif _is_message(value):
            bad += non_finite_fields(value, path + ".")
        elif (
            isinstance(value, (list, tuple))
            and value
            and hasattr(value[0], "get_fields_and_field_types")
        ):
            for index, item in enumerate(value):
                bad += non_finite_fields(item, f"{path}[{index}].")
        elif isinstance(value, (list, tuple, array.array, np.ndarray)) and len(value):
            numbers = np.asarray(value)
            if numbers.dtype.kind == "f" and not np.isfinite(numbers).all():
                bad.append(path)
    if isinstance(msg, Image) and msg.encoding in _FLOAT_ENCODINGS:
        pixels = np.frombuffer(bytes(msg.data), dtype=_FLOAT_ENCODINGS[msg.encoding])
        if not np.isfinite(pixels).all():
            bad.append(prefix + "data (pixels)")
    return bad


def _is_message(value: Any) -> bool:
    return hasattr(value, "get_fields_and_field_types")


def implausible_values(msg: Any) -> list[str]:
    """3D values of a target, pose or marker farther than any target can be (``MAX_METRES``)."""
    values: dict[str, float] = {}
    if isinstance(msg, TrackedTarget):
        values = {
            "position.x": msg.position.x,
            "position.y": msg.position.y,
            "position.z": msg.position.z,
            "depth": msg.depth,
            "metric_width": msg.metric_width,
            "metric_height": msg.metric_height,
        }
    elif isinstance(msg, (PoseStamped, Marker)):
        pose = msg.pose
        values = {"pose.position.x": pose.position.x, "pose.position.y": pose.position.y}
        values["pose.position.z"] = pose.position.z
    return [name for name, value in values.items() if abs(value) > MAX_METRES]


@dataclass
class OutputLog:
    """Counts of what came out, and every output that broke the rules (first few kept)."""

    counts: Counter[str] = field(default_factory=Counter)
    non_finite: int = 0
    implausible: int = 0
    examples: list[str] = field(default_factory=list)

    def check(self, topic: str, msg: Any) -> None:
        self.counts[topic] += 1
        bad = non_finite_fields(msg)
        odd = implausible_values(msg)
        if bad:
            self.non_finite += 1
        if odd:
            self.implausible += 1
        if (bad or odd) and len(self.examples) < 10:
            self.examples.append(f"{topic}: non-finite {bad}, implausible {odd}")


# --- a valid stream to track ------------------------------------------------------------------


class ValidStream:
    """An easy synthetic sequence, rendered once and played forth and back (no jump)."""

    def __init__(self, width: int, height: int, frames: int = 90, seed: int = 3) -> None:
        config = SyntheticConfig(seed=seed, num_frames=frames, width=width, height=height)
        sequence = SyntheticSequence(config)
        self.frames: list[RenderedFrame] = [sequence.render(i) for i in range(frames)]
        self.intrinsics: Intrinsics = sequence.intrinsics

    def __getitem__(self, index: int) -> RenderedFrame:
        period = 2 * len(self.frames) - 2
        phase = index % period
        return self.frames[phase if phase < len(self.frames) else period - phase]


# --- the client -------------------------------------------------------------------------------


class StressClient(Node):
    """Publishes to the node's inputs, calls its services, records its outputs.

    ``latency`` gets (stamp_ns, seconds from publishing to the target's arrival).
    """

    def __init__(self, context: rclpy.Context) -> None:
        super().__init__("stress_client", context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.color_pub = self.create_publisher(Image, REMAPS["color/image_raw"], qos)
        self.depth_pub = self.create_publisher(Image, REMAPS["depth/image_raw"], qos)
        self.info_pub = self.create_publisher(CameraInfo, REMAPS["color/camera_info"], qos)
        self.click_pub = self.create_publisher(Point, CLICK_IMAGE_TOPIC, 10)
        self.rviz_pub = self.create_publisher(PointStamped, CLICK_RVIZ_TOPIC, 10)
        self.outputs = OutputLog()
        self.targets: dict[int, TrackedTarget] = {}
        self.diagnostics: dict[str, str] = {}  # the node's newest tracking status values
        self.sent_at: dict[int, float] = {}  # stamp -> monotonic time, for latency
        self.arrived_at: dict[int, float] = {}
        self._lock = threading.Lock()
        for topic, msg_type in OUTPUTS.items():
            self.create_subscription(msg_type, topic, self._recorder(topic), 50)
        self.clients_by_name = {
            "init": self.create_client(InitTarget, f"{NODE}/init"),
            "reset": self.create_client(Trigger, f"{NODE}/reset"),
            "change_state": self.create_client(ChangeState, f"{NODE}/change_state"),
            "get_state": self.create_client(GetState, f"{NODE}/get_state"),
            "set_parameters": self.create_client(SetParameters, f"{NODE}/set_parameters"),
            "set_parameters_atomically": self.create_client(
                SetParametersAtomically, f"{NODE}/set_parameters_atomically"
            ),
            "get_parameters": self.create_client(GetParameters, f"{NODE}/get_parameters"),
            "describe_parameters": self.create_client(
                DescribeParameters, f"{NODE}/describe_parameters"
            ),
            "list_parameters": self.create_client(ListParameters, f"{NODE}/list_parameters"),
        }

    def _recorder(self, topic: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            with self._lock:
                self.outputs.check(topic, msg)
                if isinstance(msg, TrackedTarget):
                    stamp = stamp_to_ns(msg.header.stamp)
                    self.targets[stamp] = msg
                    self.arrived_at[stamp] = time.monotonic()
                elif isinstance(msg, DiagnosticArray):
                    for status in msg.status:
                        if status.name.endswith("rgbd tracking"):
                            self.diagnostics = {kv.key: kv.value for kv in status.values}

        return record

    def target_for(self, stamp_ns: int) -> TrackedTarget | None:
        with self._lock:
            return self.targets.get(stamp_ns)

    def latency(self, stamp_ns: int) -> float | None:
        """Seconds from publishing the frame stamped ``stamp_ns`` to its target's arrival."""
        with self._lock:
            sent, arrived = self.sent_at.get(stamp_ns), self.arrived_at.get(stamp_ns)
        return None if sent is None or arrived is None else arrived - sent

    def publish_frame(
        self,
        color: np.ndarray,
        depth_mm: np.ndarray | None,
        intrinsics: Intrinsics,
        stamp_ns: int | None = None,
    ) -> int:
        """A valid color + depth + camera_info set; its stamp (now unless given)."""
        stamp = time.time_ns() if stamp_ns is None else stamp_ns
        header = Header(frame_id=OPTICAL_FRAME, stamp=ns_to_stamp(stamp))
        with self._lock:
            self.sent_at[stamp] = time.monotonic()
        self.send(*frame_messages(color, depth_mm, intrinsics, header))
        return stamp

    def send(self, color: Image, depth: Image | None, info: CameraInfo) -> None:
        self.color_pub.publish(color)
        if depth is not None:
            self.depth_pub.publish(depth)
        self.info_pub.publish(info)

    def call(self, name: str, request: Any, timeout: float) -> Any | None:
        """The response, or None when none came within ``timeout`` s."""
        client = self.clients_by_name[name]
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.005)
        return future.result() if future.done() else None

    def state(self, timeout: float) -> str | None:
        response = self.call("get_state", GetState.Request(), timeout)
        return response.current_state.label if response is not None else None

    def make_active(self, timeout: float) -> bool:
        """Walk the node to 'active' from wherever it is; False if it does not get there."""
        steps = {
            "unconfigured": Transition.TRANSITION_CONFIGURE,
            "inactive": Transition.TRANSITION_ACTIVATE,
        }
        for _ in range(4):
            label = self.state(timeout)
            if label == "active":
                return True
            if label not in steps:
                return False
            request = ChangeState.Request(transition=Transition(id=steps[label]))
            self.call("change_state", request, timeout)
        return self.state(timeout) == "active"

    def restore_parameters(self, timeout: float) -> bool:
        """Every run-time parameter back to its default (the fuzz may have changed them)."""
        parameters = [
            Parameter(name, value=PARAMETERS[name][0]).to_parameter_msg()
            for name in runtime_names()
        ]
        response = self.call(
            "set_parameters_atomically",
            SetParametersAtomically.Request(parameters=parameters),
            timeout,
        )
        return response is not None and response.result.successful


class Graph:
    """rclpy in its own context with a ``StressClient`` spun on a background thread."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.client = StressClient(self.context)
        self.spinner = BackgroundSpinner(self.client, context=self.context)

    def close(self) -> None:
        self.spinner.stop()
        self.client.destroy_node()
        rclpy.try_shutdown(context=self.context)


# --- does it track? ---------------------------------------------------------------------------


@dataclass
class TrackingCheck:
    """A valid stream played after an init on its first frame: what came back."""

    frames: int
    answered: int
    tracked: int  # answered TRACKING with IoU >= 0.5 against the ground truth
    mean_iou: float
    init_ok: bool

    @property
    def ok(self) -> bool:
        return (
            self.init_ok
            and self.answered >= self.frames // 2
            and self.tracked >= 0.8 * self.answered
        )

    def describe(self) -> str:
        return (
            f"init {'ok' if self.init_ok else 'FAILED'}, {self.answered}/{self.frames} frames "
            f"answered, {self.tracked} tracked at IoU >= 0.5 (mean IoU {self.mean_iou:.2f})"
        )


def start_tracking(client: StressClient, stream: ValidStream, timeout: float) -> bool:
    """Reset, then init on the stream's first frame through ``~/init`` once the node has it."""
    client.call("reset", Trigger.Request(), timeout)
    first = stream[0]
    box = [float(v) for v in first.box_xywh]
    request = InitTarget.Request(x=box[0], y=box[1], width=box[2], height=box[3])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamp = client.publish_frame(first.color, first.depth_mm, stream.intrinsics)
        if wait_for(lambda stamp=stamp: client.target_for(stamp) is not None, 2.0):
            response = client.call("init", request, timeout)
            if response is not None and response.success:
                return True
    return False


def check_tracking(
    client: StressClient, stream: ValidStream, frames: int, rate_hz: float, timeout: float
) -> TrackingCheck:
    """Init on the stream's first frame, play ``frames`` more; compare with the truth."""
    init_ok = start_tracking(client, stream, timeout)
    sent: list[tuple[int, np.ndarray]] = []
    for index in range(1, frames + 1):
        frame = stream[index]
        stamp = client.publish_frame(frame.color, frame.depth_mm, stream.intrinsics)
        sent.append((stamp, frame.box_xywh))
        time.sleep(1.0 / rate_hz)
    wait_for(lambda: client.target_for(sent[-1][0]) is not None, timeout)
    ious = []
    tracked = 0
    for stamp, truth in sent:
        target = client.target_for(stamp)
        if target is None:
            continue
        predicted = np.array([[target.x, target.y, target.width, target.height]])
        overlap = float(iou(predicted, truth[None, :])[0])
        ious.append(overlap)
        tracked += target.state == TrackedTarget.TRACKING and overlap >= 0.5
    mean_iou = float(np.mean(ious)) if ious else 0.0
    return TrackingCheck(frames, len(ious), tracked, mean_iou, init_ok)


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_until_active(
    client: StressClient, node: NodeProcess, timeout: float = STARTUP_TIMEOUT_S
) -> bool:
    """After a (re)start: the node's services answer and it is active (autostart)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and node.exit_code() is None:
        if client.state(timeout=2.0) == "active":
            return True
    return False


# --- the node's log ---------------------------------------------------------------------------

_LOG_PREFIX = re.compile(r"^\[(\w+)\] \[[\d.]+\] \[[^\]]*\]: ")
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?")


def repeated_log_lines(log: str, top: int = 3) -> list[tuple[int, str]]:
    """The most repeated lines of a log, numbers masked: ``(count, line)``, most first.

    A throttled message repeats at most once per throttle period, so a count far above
    ``duration / period`` is a flood.
    """
    lines: Counter[str] = Counter()
    for line in log.splitlines():
        if line.strip():
            lines[_NUMBER.sub("#", _LOG_PREFIX.sub("", line))[:120]] += 1
    return [(count, line) for line, count in lines.most_common(top)]


def log_line_count(log: str) -> int:
    return sum(1 for line in log.splitlines() if line.strip())
