"""How many camera frames the tracker node answers, per camera QoS and Fast DDS setting.

A camera stand-in publishes 640x480 color, aligned depth and camera_info at 30 Hz from its
own process, with the QoS realsense-ros uses (images SYSTEM_DEFAULT: reliable; or
SENSOR_DATA: best effort; camera_info DEFAULT), and is started with the Fast DDS settings
of the scenario: the user's defaults (no profile, no transports variable), the shipped
large-image profile, or ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``. The tracker node runs
as its own process with the same settings and no target, so it answers every frame it
receives (state IDLE); the figure is answered frames out of those sent. ``make bench-qos``
(tools/qos_benchmark.py) runs it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (
    QoSProfile,
    qos_profile_sensor_data,
    qos_profile_system_default,
)
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.evaluation.stats import machine_info
from rgbd_tracker_ros.geometry import Intrinsics
from rgbd_tracker_ros.ros.conversions import camera_info_msg, image_msg, stamp_to_ns
from rgbd_tracker_ros.ros.dds import BUILTIN_TRANSPORTS_ENV, PROFILE_ENV, large_image_profile
from rgbd_tracker_ros.ros.inputs import RELIABILITY_SETTINGS
from rgbd_tracker_ros.ros.session import CAMERA_PREFIX, tracker_command

_LOG = logging.getLogger(__name__)
# The realsense-ros 4.x defaults: images SYSTEM_DEFAULT (reliable; `color_qos:=SENSOR_DATA`
# makes them best effort), camera_info DEFAULT (reliable, keep last 10).
IMAGE_QOS = {"reliable": qos_profile_system_default, "best_effort": qos_profile_sensor_data}
INFO_QOS = QoSProfile(depth=10)
CAMERA_TOPICS = ("color/image_raw", "aligned_depth_to_color/image_raw", "color/camera_info")
OPTICAL_FRAME = "camera_color_optical_frame"
TARGET_SHARE = 0.95
READY_TIMEOUT_S = 120.0
SETTLE_S = 1.0
DRAIN_S = 2.0


# --- the camera stand-in (its own process) ------------------------------------------------


class CameraStandIn(Node):
    """Publishes one fixed RGB-D frame over and over with fresh stamps, like the driver."""

    def __init__(self, prefix: str, reliability: str, width: int, height: int) -> None:
        super().__init__("camera_stand_in")
        image_qos = IMAGE_QOS[reliability]
        self.topics = [f"{prefix.rstrip('/')}/{t}" for t in CAMERA_TOPICS]
        self._publishers = [
            self.create_publisher(Image, self.topics[0], image_qos),
            self.create_publisher(Image, self.topics[1], image_qos),
            self.create_publisher(CameraInfo, self.topics[2], INFO_QOS),
        ]
        # SYSTEM_DEFAULT reliability is reliable with Fast DDS (and every Tier 1 RMW).
        offered = RELIABILITY_SETTINGS[reliability]
        self._offered = [offered, offered, INFO_QOS.reliability]
        header = Header(frame_id=OPTICAL_FRAME)
        rng = np.random.default_rng(0)
        color = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        depth = np.full((height, width), 1500, np.uint16)
        intrinsics = Intrinsics(
            fx=0.9 * width, fy=0.9 * width, cx=width / 2, cy=height / 2, width=width, height=height
        )
        self._messages = [
            image_msg(color, header, "rgb8"),
            image_msg(depth, header, "16UC1"),
            camera_info_msg(intrinsics, header),
        ]

    def subscribed(self, expect: str) -> bool:
        """Every topic has a matched subscriber with the reliability ``expect`` names
        (``auto``: the one offered, as the node's auto QoS would choose)."""
        forced = RELIABILITY_SETTINGS[expect]
        for topic, publisher, offered in zip(
            self.topics, self._publishers, self._offered, strict=True
        ):
            wanted = offered if forced is None else forced
            infos = self.get_subscriptions_info_by_topic(topic)
            if publisher.get_subscription_count() == 0 or not any(
                info.qos_profile.reliability == wanted for info in infos
            ):
                return False
        return True

    def publish_frame(self) -> None:
        stamp = self.get_clock().now().to_msg()
        for publisher, msg in zip(self._publishers, self._messages, strict=True):
            msg.header.stamp = stamp
            publisher.publish(msg)


def run_camera(
    reliability: str, frames: int, rate: float, width: int, height: int, prefix: str, expect: str
) -> int:
    """Publish ``frames`` frames at ``rate`` Hz once the subscribers ``expect`` describes
    are there (the camera stand-in's process)."""
    rclpy.init()
    camera = CameraStandIn(prefix, reliability, width, height)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not camera.subscribed(expect):
            if time.monotonic() > deadline:
                camera.get_logger().error("no matching subscriber appeared")
                return 2
            rclpy.spin_once(camera, timeout_sec=0.05)
        time.sleep(SETTLE_S)  # let the subscriber's side of the match complete as well
        start = time.monotonic()
        for index in range(frames):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            camera.publish_frame()
        time.sleep(SETTLE_S)  # a reliable writer repairs the last frames
    finally:
        camera.destroy_node()
        rclpy.try_shutdown()
    return 0


def camera_command(
    reliability: str,
    frames: int,
    expect: str = "auto",
    prefix: str = CAMERA_PREFIX,
    rate: float = 30.0,
) -> list[str]:
    """The stand-in's command line: ``frames`` 640x480 frames at ``rate`` Hz on ``prefix``."""
    return [
        sys.executable,
        "-m",
        "rgbd_tracker_ros.tools.qos_benchmark",
        "camera",
        "--reliability",
        reliability,
        "--frames",
        str(frames),
        "--expect",
        expect,
        "--prefix",
        prefix,
        "--rate",
        str(rate),
    ]


def dds_environment(setting: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """A process environment with exactly one Fast DDS setting: ``default`` (neither
    variable), ``profile`` (the shipped one) or ``large_data`` (builtin transports)."""
    env = dict(os.environ if base is None else base)
    env.pop(PROFILE_ENV, None)
    env.pop(BUILTIN_TRANSPORTS_ENV, None)
    if setting == "profile":
        env[PROFILE_ENV] = str(large_image_profile())
    elif setting == "large_data":
        env[BUILTIN_TRANSPORTS_ENV] = "LARGE_DATA"
    elif setting != "default":
        raise ValueError(f"unknown Fast DDS setting {setting!r}")
    return env


# --- the benchmark (this process: recorder and graph probe) --------------------------------


@dataclass(frozen=True)
class Scenario:
    camera: str  # reliable | best_effort
    dds: str  # default | profile | large_data
    node_qos: str = "auto"

    @property
    def label(self) -> str:
        return f"{self.camera} camera, DDS {self.dds}, node qos.reliability={self.node_qos}"


SCENARIOS = (
    Scenario("reliable", "default"),
    Scenario("best_effort", "profile"),
    Scenario("reliable", "default", node_qos="best_effort"),  # the node before auto QoS
    Scenario("best_effort", "default"),
    Scenario("best_effort", "large_data"),
)


@dataclass
class ScenarioResult:
    camera: str
    dds: str
    node_qos: str
    subscribed: str  # what the node subscribed the color topic with
    frames: int
    answered: int

    @property
    def share(self) -> float:
        return self.answered / self.frames if self.frames else 0.0


class Recorder(Node):
    def __init__(self) -> None:
        super().__init__("qos_benchmark_recorder")
        self._lock = threading.Lock()
        self._stamps: set[int] = set()
        self.create_subscription(TrackedTarget, "/tracker/target", self._on_target, 300)

    def _on_target(self, msg: TrackedTarget) -> None:
        with self._lock:
            self._stamps.add(stamp_to_ns(msg.header.stamp))

    def take(self) -> int:
        with self._lock:
            count, self._stamps = len(self._stamps), set()
            return count

    def node_subscription(self, topic: str) -> str | None:
        """The tracker node's reliability on ``topic``, None while it has no subscription."""
        for info in self.get_subscriptions_info_by_topic(topic):
            if info.node_name == "tracker":
                return info.qos_profile.reliability.name.lower()
        return None


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_scenario(
    recorder: Recorder, scenario: Scenario, frames: int, log_dir: Path
) -> ScenarioResult:
    env = dds_environment(scenario.dds)
    color_topic = CAMERA_PREFIX + CAMERA_TOPICS[0]
    log_path = log_dir / f"{scenario.camera}_{scenario.dds}_{scenario.node_qos}.log"
    node_args = ["-p", f"qos.reliability:={scenario.node_qos}"]
    with log_path.open("w") as log:
        node = subprocess.Popen(
            tracker_command("depth_dcf", node_args), env=env, stdout=log, stderr=subprocess.STDOUT
        )
        camera = None
        try:
            if not _wait(lambda: recorder.node_subscription(color_topic), READY_TIMEOUT_S):
                raise RuntimeError(f"the tracker node did not subscribe; see {log_path}")
            recorder.take()
            command = camera_command(scenario.camera, frames, expect=scenario.node_qos)
            camera = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            subscribed = ""
            while camera.poll() is None:
                subscribed = recorder.node_subscription(color_topic) or subscribed
                time.sleep(0.1)
            if camera.returncode != 0:
                raise RuntimeError(f"the camera stand-in failed; see {log_path}")
            time.sleep(DRAIN_S)
            answered = recorder.take()
        finally:
            for process in (camera, node):
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
    return ScenarioResult(
        scenario.camera, scenario.dds, scenario.node_qos, subscribed, frames, answered
    )


def format_table(results: list[ScenarioResult]) -> str:
    lines = [
        "| camera QoS | Fast DDS (camera and node) | node qos.reliability | node subscribed "
        "| answered | share |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.camera} | {r.dds} | {r.node_qos} | {r.subscribed} | "
            f"{r.answered}/{r.frames} | {r.share:.0%} |"
        )
    return "\n".join(lines)


def run_benchmark(frames: int, output: Path) -> int:
    """Every scenario in turn; prints the table, writes ``qos_benchmark.json``."""
    output.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="qos_benchmark_"))
    rclpy.init()
    recorder = Recorder()
    executor = SingleThreadedExecutor()
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    results = []
    try:
        for scenario in SCENARIOS:
            _LOG.info("%s ...", scenario.label)
            results.append(run_scenario(recorder, scenario, frames, log_dir))
            _LOG.info("  %d/%d answered", results[-1].answered, frames)
    finally:
        executor.shutdown()
        recorder.destroy_node()
        rclpy.try_shutdown()
        spinner.join(timeout=5)
    print(format_table(results))
    for result in results[:2]:
        verdict = "met" if result.share >= TARGET_SHARE else "NOT met"
        print(f"target >= {TARGET_SHARE:.0%}, {result.camera} camera, DDS {result.dds}: {verdict}")
    record = {
        "frames": frames,
        "results": [asdict(r) | {"share": r.share} for r in results],
        "node_logs": str(log_dir),
        "machine": machine_info(),
    }
    (output / "qos_benchmark.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0
