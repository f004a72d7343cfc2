"""Fuzz the tracker node over loopback DDS: hostile inputs of every kind, mixed with a valid
stream, then check it still tracks.

Seeded and bounded (a count of inputs and a time limit). The node runs in its own process
(``stress.NodeProcess``): a crash is a dead process (counted, then restarted), a hang a
probe it does not answer in time (a fresh valid frame and a ``get_state`` call, every
``probe_every`` inputs). Every output is checked for inf/NaN and implausible 3D values.
Categories (``CATEGORIES``) say what each input breaks; see each ``_category`` function.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, PointStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import (
    DescribeParameters,
    GetParameters,
    ListParameters,
    SetParameters,
    SetParametersAtomically,
)
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from rgbd_tracker_msgs.srv import InitTarget
from rgbd_tracker_ros.geometry import Intrinsics
from rgbd_tracker_ros.ros.conversions import frame_messages, image_msg, ns_to_stamp
from rgbd_tracker_ros.ros.parameters import PARAMETERS
from rgbd_tracker_ros.ros.stress import (
    OPTICAL_FRAME,
    Graph,
    NodeProcess,
    StressClient,
    TrackingCheck,
    ValidStream,
    check_tracking,
    keep_dds_on_loopback,
    log_line_count,
    repeated_log_lines,
    tracker_node_process,
    wait_for,
    wait_until_active,
)

_LOG = logging.getLogger(__name__)

NAN, INF = math.nan, math.inf
HOSTILE_FLOATS = (NAN, INF, -INF, 0.0, -0.0, -1.0, 1e-300, 1e300, 1.7e308, -1e308, 5e-324)
K_INDEX = {"fx": 0, "cx": 2, "fy": 4, "cy": 5}  # in camera_info K, row-major
MAX_PENDING_CALLS = 32
PENDING_CALL_TIMEOUT_S = 30.0
# Transitions that end the node on purpose (shutdown): never sent, a finalized node is no crash.
SHUTDOWN_TRANSITIONS = (
    Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
    Transition.TRANSITION_INACTIVE_SHUTDOWN,
    Transition.TRANSITION_ACTIVE_SHUTDOWN,
)


@dataclass
class FuzzConfig:
    seed: int = 0
    count: int = 10_000  # hostile inputs (the valid frames mixed in are not counted)
    max_seconds: float = 900.0  # the fuzz stops here even if ``count`` is not reached
    width: int = 320
    height: int = 240
    tracker: str = "depth_dcf"
    categories: tuple[str, ...] = ()  # empty: all
    valid_share: float = 0.3  # chance of a valid frame after each input
    probe_every: int = 250
    reinit_every: int = 50  # inputs between inits on the valid stream (the fuzz resets it)
    hang_timeout_s: float = 30.0
    check_frames: int = 45  # valid frames of the tracking checks before and after
    output: Path = Path("results/fuzz")


@dataclass
class FuzzReport:
    config: dict[str, Any]
    dds: dict[str, str]
    inputs: dict[str, int]
    valid_frames: int
    probes: int
    crashes: int
    hangs: int
    non_finite_outputs: int
    implausible_outputs: int
    output_examples: list[str]
    outputs: dict[str, int]
    calls_sent: int
    calls_answered: int
    rss_before_mb: float
    rss_after_mb: float
    rss_peak_mb: float
    tracking_before: str
    tracking_after: str
    tracks_afterwards: bool
    seconds: float
    load_average: tuple[float, float, float]
    log_lines: int
    most_repeated_log: list[tuple[int, str]]
    node_error_counts: dict[str, str]  # what the node counted (its diagnostics), last run
    crash_logs: list[str] = field(default_factory=list)

    @property
    def total_inputs(self) -> int:
        return sum(self.inputs.values())

    @property
    def clean(self) -> bool:
        return (
            self.crashes == 0
            and self.hangs == 0
            and self.non_finite_outputs == 0
            and self.implausible_outputs == 0
            and self.tracks_afterwards
        )


class Fuzzer:
    """One fuzz run: the node, the client, the generators and the counts."""

    CATEGORY_NAMES = (
        "image",
        "camera_info",
        "size",
        "stamp",
        "depth",
        "init",
        "reset",
        "click",
        "rviz_click",
        "parameter",
        "parameter_service",
        "lifecycle",
        "burst",
    )

    def __init__(self, config: FuzzConfig, node: NodeProcess, client: StressClient) -> None:
        self.config = config
        self.node = node
        self.client = client
        self.rng = np.random.default_rng(config.seed)
        self.stream = ValidStream(config.width, config.height, seed=config.seed + 3)
        self.frame_index = 0
        self.inputs: Counter[str] = Counter()
        self.valid_frames = 0
        self.probes = 0
        self.crashes = 0
        self.hangs = 0
        self.crash_logs: list[str] = []
        self.calls_sent = 0
        self.calls_answered = 0
        self.rss_peak = 0.0
        self._pending: deque[tuple[float, Any]] = deque()
        self.categories: dict[str, Callable[[], None]] = {
            name: getattr(self, f"_{name}") for name in self.CATEGORY_NAMES
        }

    # --- the loop ------------------------------------------------------------------------

    def run(self, deadline: float) -> None:
        names = list(self.config.categories or self.CATEGORY_NAMES)
        unknown = set(names) - set(self.CATEGORY_NAMES)
        if unknown:
            raise ValueError(f"unknown fuzz categories: {', '.join(sorted(unknown))}")
        self._reinit()
        for index in range(self.config.count):
            if time.monotonic() > deadline:
                break
            name = names[int(self.rng.integers(len(names)))]
            self.categories[name]()
            self.inputs[name] += 1
            if self.rng.random() < self.config.valid_share:
                self._valid_frame()
            self._settle_calls()
            self.check_alive()
            if (index + 1) % self.config.probe_every == 0:
                self.probe()
            if (index + 1) % self.config.reinit_every == 0:
                self._reinit()
            time.sleep(0.002)  # a camera-like pace: the node's input queues are shallow
        self.probe()

    def probe(self) -> bool:
        """Is the node alive and answering? A fresh valid frame must come back, and its
        lifecycle state must be readable, within ``hang_timeout_s``."""
        self.probes += 1
        if self.node.exit_code() is not None:
            self._crashed()
            return False
        timeout = self.config.hang_timeout_s
        deadline = time.monotonic() + timeout
        answered = self.client.make_active(timeout)
        while answered and time.monotonic() < deadline:
            stamp = self._valid_frame()
            if wait_for(lambda stamp=stamp: self.client.target_for(stamp) is not None, 1.0):
                break
        else:
            answered = False
        self.rss_peak = max(self.rss_peak, self.node.rss_mb())
        if not answered:
            if self.node.exit_code() is not None:
                self._crashed()
            else:
                self.hangs += 1
                _LOG.error("the node did not answer a probe within %.0f s; restarting", timeout)
                self._restart()
        return answered

    def check_alive(self) -> None:
        """Count a crash (and restart the node) if its process has ended."""
        if self.node.exit_code() is not None:
            self._crashed()

    def _crashed(self) -> None:
        self.crashes += 1
        code = self.node.exit_code()
        tail = "\n".join(self.node.log_text().splitlines()[-30:])
        self.crash_logs.append(f"exit code {code}; last log lines:\n{tail}")
        _LOG.error("the node died (exit code %s); restarting", code)
        self._restart()

    def _restart(self) -> None:
        self.node.stop(timeout=5.0)
        self.node.start()
        wait_until_active(self.client, self.node)
        self._reinit()

    def _reinit(self) -> None:
        """Track the valid stream's target again (the fuzz keeps resetting it)."""
        frame = self.stream[self.frame_index]
        box = [float(v) for v in frame.box_xywh]
        if all(math.isfinite(v) for v in box):
            request = InitTarget.Request(x=box[0], y=box[1], width=box[2], height=box[3])
            self._call_async("init", request)

    def _valid_frame(self) -> int:
        self.frame_index += 1
        self.valid_frames += 1
        frame = self.stream[self.frame_index]
        return self.client.publish_frame(frame.color, frame.depth_mm, self.stream.intrinsics)

    # --- service calls without waiting -----------------------------------------------------

    def _call_async(self, name: str, request: Any) -> None:
        client = self.client.clients_by_name[name]
        if not client.service_is_ready():
            return  # e.g. ~/init while the node is inactive: nothing to call
        self._pending.append((time.monotonic(), client.call_async(request)))
        self.calls_sent += 1
        while len(self._pending) > MAX_PENDING_CALLS:
            started, future = self._pending[0]
            if future.done() or time.monotonic() - started > PENDING_CALL_TIMEOUT_S:
                self._pending.popleft()
                self.calls_answered += future.done()
            else:
                time.sleep(0.005)

    def _settle_calls(self) -> None:
        while self._pending and self._pending[0][1].done():
            self._pending.popleft()
            self.calls_answered += 1

    # --- helpers for messages -----------------------------------------------------------------

    def _choice(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def _header(self, stamp_ns: int | None = None) -> Header:
        stamp = time.time_ns() if stamp_ns is None else stamp_ns
        return Header(frame_id=OPTICAL_FRAME, stamp=ns_to_stamp(stamp))

    def _current(self) -> tuple[np.ndarray, np.ndarray, Intrinsics]:
        frame = self.stream[self.frame_index]
        return frame.color, frame.depth_mm, self.stream.intrinsics

    def _valid_messages(self, header: Header) -> tuple[Image, Image | None, CameraInfo]:
        return frame_messages(*self._current(), header)

    # --- categories -----------------------------------------------------------------------

    def _image(self) -> None:
        """Malformed color or depth images: encodings, sizes, steps and data that disagree."""
        header = self._header()
        color, depth, info = self._valid_messages(header)
        target = color if depth is None or self.rng.random() < 0.5 else depth
        breakage = self._choice(
            ["encoding", "truncated", "empty", "step", "huge_size", "zero_size", "endian", "extra"]
        )
        if breakage == "encoding":
            target.encoding = self._choice(["yuv422", "", "bgr16", "8UC4", "32FC1", "mono16", "??"])
        elif breakage == "truncated":
            target.data = bytes(target.data)[: int(self.rng.integers(0, len(target.data)))]
        elif breakage == "empty":
            target.data = b""
        elif breakage == "step":
            target.step = int(self._choice([0, 1, target.step - 1, target.step * 7, 2**32 - 1]))
        elif breakage == "huge_size":
            target.width, target.height = self._choice([(100_000, 100_000), (2**31, 1), (1, 2**31)])
        elif breakage == "zero_size":
            target.width, target.height = self._choice([(0, 0), (0, 240), (320, 0)])
        elif breakage == "endian":
            target.is_bigendian = 1
        else:
            target.data = bytes(target.data) + bytes(int(self.rng.integers(1, 4096)))
        self.client.send(color, depth, info)

    def _camera_info(self) -> None:
        """camera_info that is corrupt or no camera's: K, D, R, P, sizes, models."""
        header = self._header()
        color, depth, info = self._valid_messages(header)
        part = self._choice(
            ["fx", "fy", "cx", "cy", "k", "d", "d_length", "r", "p", "size", "model"]
        )
        if part in K_INDEX or part in ("k", "r", "p"):
            name = "k" if part in K_INDEX else part
            values = list(getattr(info, name))
            index = K_INDEX.get(part, int(self.rng.integers(len(values))))
            values[index] = self._choice(HOSTILE_FLOATS)
            setattr(info, name, values)
        elif part == "d":
            info.d = [float(self._choice((*HOSTILE_FLOATS, 0.1, 1e30))) for _ in range(5)]
        elif part == "d_length":
            info.d = [0.1] * int(self._choice([1, 3, 6, 7, 9, 13, 15, 100]))
        elif part == "size":
            info.width, info.height = self._choice([(0, 0), (1, 1), (2**32 - 1, 1), (640, 480)])
        else:
            info.distortion_model = self._choice(["", "equidistant", "fisheye", "x" * 1000])
            info.d = [0.5, 0.1, 0.0, 0.0, 0.2]
        self.client.send(color, depth, info)

    def _size(self) -> None:
        """A consistent frame of another size than the stream's (color, depth and info agree)."""
        width, height = self._choice([(1, 1), (2, 2), (1, 480), (10_000, 1), (321, 240), (16, 12)])
        scale = max(width, height)
        intrinsics = Intrinsics(
            fx=float(scale),
            fy=float(scale),
            cx=width / 2,
            cy=height / 2,
            width=width,
            height=height,
        )
        color = self.rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        depth = self.rng.integers(0, 5000, (height, width), dtype=np.uint16)
        self.client.publish_frame(color, depth, intrinsics)

    def _stamp(self) -> None:
        """Valid frames with stamps that repeat, step back a little or a lot, or are absurd."""
        now = time.time_ns()
        offset_s = self._choice([0.0, -0.01, -0.05, -0.2, -0.5, -2.0, -30.0, 1e6, -1.7e9])
        stamp = max(now + int(offset_s * 1e9), 0)
        stamp = self._choice([stamp, stamp, 0, (2**31 - 1) * 10**9])
        color, depth, intrinsics = self._current()
        self.client.publish_frame(color, depth, intrinsics, stamp_ns=int(stamp))

    def _depth(self) -> None:
        """A valid color image with depth that holds no usable reading (or absurd ones)."""
        header = self._header()
        color, _, info = self._valid_messages(header)
        shape = (self.config.height, self.config.width)
        kind = self._choice(["nan", "inf", "negative", "huge", "zero", "noise", "max16"])
        if kind == "zero":
            depth = image_msg(np.zeros(shape, np.uint16), header, "16UC1")
        elif kind == "max16":
            depth = image_msg(np.full(shape, 65535, np.uint16), header, "16UC1")
        else:
            values = {
                "nan": np.full(shape, NAN),
                "inf": np.full(shape, INF),
                "negative": np.full(shape, -1.5),
                "huge": np.full(shape, 3e38),
                "noise": self.rng.normal(2.0, 5.0, shape),
            }[kind]
            depth = image_msg(values.astype(np.float32), header, "32FC1")
        self.client.send(color, depth, info)

    def _init(self) -> None:
        """Init boxes that are not finite, empty, huge, outside or inside-out."""
        width, height = self.config.width, self.config.height
        box = [self._choice((*HOSTILE_FLOATS, 10.0, 50.0, width - 1.0)) for _ in range(4)]
        if self.rng.random() < 0.3:
            box = self._choice(
                [
                    [-100, -100, 50, 50],
                    [width, height, 10, 10],
                    [0, 0, width * 10, height * 10],
                    [10, 10, 0.5, 0.5],
                    [width - 1, height - 1, 5, 5],
                ]
            )
        x, y, w, h = (_float32(v) for v in box)
        request = InitTarget.Request(x=x, y=y, width=w, height=h)
        request.header.stamp = ns_to_stamp(int(self._choice([0, time.time_ns(), 10**18])))
        self._call_async("init", request)

    def _reset(self) -> None:
        self._call_async("reset", Trigger.Request())

    def _click(self) -> None:
        """rqt_image_view clicks anywhere: NaN, outside, on the edge, on near depth."""
        width, height = self.config.width, self.config.height
        values = (*HOSTILE_FLOATS, 0.0, width - 1.0, float(width), height - 1.0, width / 2)
        point = Point(x=float(self._choice(values)), y=float(self._choice(values)))
        point.z = float(self._choice(HOSTILE_FLOATS))
        self.client.click_pub.publish(point)

    def _rviz_click(self) -> None:
        """RViz points: unknown frames, behind the camera, at infinity, not finite."""
        msg = PointStamped()
        msg.header.frame_id = self._choice(["", OPTICAL_FRAME, "base_link", "map", "x" * 300])
        values = (*HOSTILE_FLOATS, 0.5, 1.0, 2.0)
        msg.point.x, msg.point.y, msg.point.z = (float(self._choice(values)) for _ in range(3))
        self.client.rviz_pub.publish(msg)

    def _parameter_value(self) -> ParameterValue:
        kind = int(self._choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 42, 200, 255]))
        value = ParameterValue(type=kind)
        value.bool_value = bool(self.rng.random() < 0.5)
        value.integer_value = int(self._choice([0, -1, 1, 3, 2**63 - 1, -(2**63)]))
        value.double_value = float(self._choice((*HOSTILE_FLOATS, 0.05, 0.5, 5.0)))
        value.string_value = self._choice(["", "auto", "reliable", "x" * 10_000, "\u00e9\u00e8"])
        value.byte_array_value = [bytes([b]) for b in self.rng.integers(0, 256, 3)]
        value.double_array_value = [float(self._choice(HOSTILE_FLOATS))]
        value.integer_array_value = [int(v) for v in self.rng.integers(-5, 5, 3)]
        value.string_array_value = ["a", ""]
        return value

    def _parameter(self) -> None:
        """Set parameters: ours (out of range, wrong type, read-only), unknown names, and
        value types rclpy does not know (it raised on them)."""
        names = [*PARAMETERS, "", "no_such", "x" * 500, "tracker..name", "/tracker/sync.slop"]
        parameters = [
            ParameterMsg(name=self._choice(names), value=self._parameter_value())
            for _ in range(int(self.rng.integers(1, 4)))
        ]
        if self.rng.random() < 0.5:
            self._call_async("set_parameters", SetParameters.Request(parameters=parameters))
        else:
            request = SetParametersAtomically.Request(parameters=parameters)
            self._call_async("set_parameters_atomically", request)

    def _parameter_service(self) -> None:
        """The other parameter services with odd names and depths."""
        names = [self._choice([*PARAMETERS, "", "x" * 1000, "no_such"]) for _ in range(3)]
        kind = self._choice(["get", "describe", "list"])
        if kind == "get":
            self._call_async("get_parameters", GetParameters.Request(names=names))
        elif kind == "describe":
            self._call_async("describe_parameters", DescribeParameters.Request(names=names))
        else:
            request = ListParameters.Request(prefixes=names)
            request.depth = int(self._choice([0, 1, 2**64 - 1]))
            self._call_async("list_parameters", request)

    def _lifecycle(self) -> None:
        """Transitions that are not valid in the current state (rclpy raised on them),
        garbage labels, and now and then a valid deactivate/activate round trip."""
        if self.rng.random() < 0.01:
            for step in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_ACTIVATE):
                request = ChangeState.Request(transition=Transition(id=step))
                self.client.call("change_state", request, self.config.hang_timeout_s)
            return
        transition = Transition(id=int(self.rng.integers(0, 256)))
        if transition.id in (*SHUTDOWN_TRANSITIONS, Transition.TRANSITION_DEACTIVATE):
            transition.id = Transition.TRANSITION_ACTIVATE  # invalid while active
        if self.rng.random() < 0.3:
            transition.label = self._choice(["activate", "configure", "x" * 300, "\u00e9", ""])
        self._call_async("change_state", ChangeState.Request(transition=transition))
        if self.rng.random() < 0.2:
            self._call_async("get_state", GetState.Request())

    def _burst(self) -> None:
        """A burst of valid frames as fast as they can be sent (queue pressure)."""
        for _ in range(int(self.rng.integers(5, 30))):
            self._valid_frame()


def _float32(value: float) -> float:
    """``value`` as a float32 message field takes it: beyond its range, the largest float32."""
    limit = float(np.finfo(np.float32).max)
    return (
        float(value)
        if not math.isfinite(value) or abs(value) <= limit
        else math.copysign(limit, value)
    )


def run_fuzz(config: FuzzConfig) -> FuzzReport:
    """Start a node, check it tracks, fuzz it, check again; everything in one report."""
    dds = keep_dds_on_loopback()
    config.output.mkdir(parents=True, exist_ok=True)
    log_path = config.output / "tracker_node.log"
    log_path.unlink(missing_ok=True)
    node = tracker_node_process(config.tracker, log_path, ["-p", "publish.diagnostics_period:=0.5"])
    graph = Graph()
    started = time.monotonic()
    try:
        node.start()
        if not wait_until_active(graph.client, node):
            raise RuntimeError(f"the tracker node did not become active; see {log_path}")
        fuzzer = Fuzzer(config, node, graph.client)
        before = _tracking(fuzzer)
        rss_before = node.rss_mb()
        fuzzer.run(started + config.max_seconds)
        graph.client.restore_parameters(config.hang_timeout_s)
        after = _tracking(fuzzer)
        rss_after = node.rss_mb()
        fuzzer.check_alive()
        outputs = graph.client.outputs
        report = FuzzReport(
            config={k: str(v) for k, v in asdict(config).items()},
            dds=dds,
            inputs=dict(sorted(fuzzer.inputs.items())),
            valid_frames=fuzzer.valid_frames,
            probes=fuzzer.probes,
            crashes=fuzzer.crashes,
            hangs=fuzzer.hangs,
            non_finite_outputs=outputs.non_finite,
            implausible_outputs=outputs.implausible,
            output_examples=list(outputs.examples),
            outputs=dict(sorted(outputs.counts.items())),
            calls_sent=fuzzer.calls_sent,
            calls_answered=fuzzer.calls_answered,
            rss_before_mb=rss_before,
            rss_after_mb=rss_after,
            rss_peak_mb=max(fuzzer.rss_peak, rss_after),
            tracking_before=before.describe(),
            tracking_after=after.describe(),
            tracks_afterwards=after.ok,
            seconds=time.monotonic() - started,
            load_average=os.getloadavg(),
            log_lines=0,
            most_repeated_log=[],
            node_error_counts={
                key: value
                for key, value in graph.client.diagnostics.items()
                if key.startswith("errors.")
            },
            crash_logs=fuzzer.crash_logs,
        )
    finally:
        graph.close()
        node.stop()
    log = node.log_text()
    report.log_lines = log_line_count(log)
    report.most_repeated_log = repeated_log_lines(log)
    return report


def _tracking(fuzzer: Fuzzer) -> TrackingCheck:
    config = fuzzer.config
    fuzzer.client.make_active(config.hang_timeout_s)
    return check_tracking(
        fuzzer.client, fuzzer.stream, config.check_frames, 15.0, config.hang_timeout_s
    )


def format_report(report: FuzzReport) -> str:
    lines = [
        f"fuzz: seed {report.config['seed']}, {report.total_inputs} hostile inputs "
        f"+ {report.valid_frames} valid frames in {report.seconds:.0f} s "
        f"(load average {', '.join(f'{v:.1f}' for v in report.load_average)})",
        "DDS: " + ", ".join(f"{k}={v}" for k, v in report.dds.items()),
        "inputs per category: " + ", ".join(f"{k} {v}" for k, v in report.inputs.items()),
        f"crashes: {report.crashes}",
        f"hangs: {report.hangs} (of {report.probes} probes)",
        f"non-finite outputs: {report.non_finite_outputs}",
        f"implausible outputs: {report.implausible_outputs}",
        "outputs: " + ", ".join(f"{k} {v}" for k, v in report.outputs.items()),
        f"service calls: {report.calls_answered} answered of {report.calls_sent} sent",
        f"RSS: {report.rss_before_mb:.0f} MiB before, {report.rss_after_mb:.0f} MiB after, "
        f"{report.rss_peak_mb:.0f} MiB peak",
        f"tracking before: {report.tracking_before}",
        f"tracking after:  {report.tracking_after}",
        "node's own error counts: "
        + ", ".join(f"{k[len('errors.') :]} {v}" for k, v in report.node_error_counts.items()),
        f"node log: {report.log_lines} lines; most repeated: "
        + "; ".join(f"{count}x {line!r}" for count, line in report.most_repeated_log),
    ]
    lines += [f"  example: {example}" for example in report.output_examples]
    lines += [f"  crash: {crash}" for crash in report.crash_logs]
    lines.append("RESULT: " + ("clean" if report.clean else "FAILED"))
    return "\n".join(lines)
