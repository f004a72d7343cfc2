"""Drive a tracker node with a played sequence and record what it publishes.

Shared by the demo and the node-level benchmark: the tracker node runs as its own
process (as ``ros2 run`` would start it, with the launch file's remappings), the
sequence player and a recorder run here. The target is initialised through the real
``/tracker/init`` service on the first frame.
"""

from __future__ import annotations

import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_msgs.msg import Header

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_msgs.srv import InitTarget
from rgbd_tracker_ros.paths import config_dir
from rgbd_tracker_ros.ros.conversions import stamp_to_ns
from rgbd_tracker_ros.ros.sequence_player import SequencePlayer
from rgbd_tracker_ros.ros.spinning import BackgroundSpinner

LOG = logging.getLogger(__name__)

CAMERA_PREFIX = "/camera/camera/"
REMAPS = {
    "color/image_raw": CAMERA_PREFIX + "color/image_raw",
    "depth/image_raw": CAMERA_PREFIX + "aligned_depth_to_color/image_raw",
    "color/camera_info": CAMERA_PREFIX + "color/camera_info",
}
SERVICE_TIMEOUT_S = 120.0
FIRST_RESULT_TIMEOUT_S = 60.0
DRAIN_S = 1.5


@dataclass
class Record:
    """What came back for one played frame (None fields: nothing received)."""

    target: TrackedTarget | None = None
    pose: PoseStamped | None = None
    received_s: float = float("nan")  # wall-clock receipt time of ``target``


@dataclass
class SessionResult:
    records: list[Record]
    sent_stamps_s: list[float]
    published: int
    duration_s: float
    target_id: int
    node_log: str = ""
    extra: dict[str, float] = field(default_factory=dict)


class Recorder(Node):
    def __init__(self) -> None:
        super().__init__("tracker_recorder")
        self.by_stamp: dict[int, Record] = {}
        self._lock = threading.Lock()
        self.create_subscription(TrackedTarget, "/tracker/target", self._on_target, 50)
        self.create_subscription(PoseStamped, "/tracker/target_pose", self._on_pose, 50)
        self.init_client = self.create_client(InitTarget, "/tracker/init")

    def _record(self, header: Header) -> Record:
        with self._lock:
            return self.by_stamp.setdefault(stamp_to_ns(header.stamp), Record())

    def _on_target(self, msg: TrackedTarget) -> None:
        record = self._record(msg.header)
        record.target, record.received_s = msg, time.time()

    def _on_pose(self, msg: PoseStamped) -> None:
        self._record(msg.header).pose = msg


def tracker_command(tracker: str, extra_args: list[str] | None = None) -> list[str]:
    """The tracker node's command line, with the remappings the launch file uses."""
    args = [sys.executable, "-m", "rgbd_tracker_ros.tools.tracker_node", "--ros-args"]
    args += ["--params-file", str(config_dir() / "tracker.yaml"), "-p", f"tracker.name:={tracker}"]
    for source, target in REMAPS.items():
        args += ["-r", f"{source}:={target}"]
    return args + list(extra_args or [])


class NodeProcess:
    """The tracker node as its own process, its output in ``log_path``."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def exit_code(self) -> int | None:
        """None while it runs."""
        return self._process.poll() if self._process is not None else None

    def rss_mb(self) -> float:
        """Resident memory in MiB (nan once the process is gone)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return math.nan
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024.0 if match else math.nan

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask it to stop (SIGINT, as Ctrl-C), kill it after ``timeout``; its exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(2)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def tracker_node_process(tracker: str, log_path: Path, extra_args: list[str]) -> NodeProcess:
    return NodeProcess(tracker_command(tracker, extra_args), log_path)


def run_session(
    sequence: Path,
    tracker: str = "depth_dcf",
    rate: float = 0.0,
    node_args: list[str] | None = None,
) -> SessionResult:
    """Play ``sequence`` at ``rate`` fps (0 = its own) to a fresh tracker node process.

    Call ``dds.apply_large_image_profile`` once before: both processes publish or receive
    camera-sized images.
    """
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tracker_node_{os.getpid()}.log"
    log_path.unlink(missing_ok=True)
    node = NodeProcess(tracker_command(tracker, node_args), log_path)
    node.start()
    try:
        result = _play(sequence, rate)
    finally:
        node.stop()
    result.node_log = node.log_text()
    return result


def _play(sequence: Path, rate: float) -> SessionResult:
    rclpy.init()
    # Stamp of the last copy of each frame index that went out (frame 0 may go out
    # several times while the node starts).
    stamps: dict[int, int] = {}

    def on_frame(index: int, header: Header) -> None:
        stamps[index] = stamp_to_ns(header.stamp)

    player = SequencePlayer(
        on_frame=on_frame,
        autoplay=False,
        parameter_overrides=_player_parameters(sequence, rate),
    )
    recorder = Recorder()
    spinner = BackgroundSpinner(player, recorder)
    try:
        target_id = _start_tracking(player, recorder)
        start = time.time()
        player.play(start=1)
        while not player.finished:
            time.sleep(0.05)
        time.sleep(DRAIN_S)
        duration = time.time() - start
        order = [stamps[i] for i in sorted(stamps)]
        records = [recorder.by_stamp.get(stamp, Record()) for stamp in order]
        return SessionResult(
            records=records,
            sent_stamps_s=[stamp * 1e-9 for stamp in order],
            published=len(order),
            duration_s=duration,
            target_id=target_id,
        )
    finally:
        spinner.stop()
        player.destroy_node()
        recorder.destroy_node()
        rclpy.try_shutdown()


def _player_parameters(sequence: Path, rate: float):
    from rclpy.parameter import Parameter

    return [Parameter("sequence", value=str(sequence)), Parameter("rate", value=float(rate))]


def _start_tracking(player: SequencePlayer, recorder: Recorder) -> int:
    """Init on frame 0 through the service; frame 0 is re-sent until the node tracks it."""
    if not recorder.init_client.wait_for_service(timeout_sec=SERVICE_TIMEOUT_S):
        raise RuntimeError("the tracker node's /tracker/init service did not appear")
    box = [float(v) for v in player.sequence.groundtruth[0]]
    if not np.all(np.isfinite(box)):
        raise RuntimeError("the sequence's first frame has no ground-truth box to start from")
    request = InitTarget.Request(x=box[0], y=box[1], width=box[2], height=box[3])
    target_id = 0
    deadline = time.time() + FIRST_RESULT_TIMEOUT_S
    while time.time() < deadline:
        player.publish_frame(0)
        time.sleep(0.1)
        if not target_id:
            response = _call(recorder, request)
            target_id = response.target_id if response is not None and response.success else 0
        elif _seen_target(recorder, target_id):
            return target_id
    raise RuntimeError("the tracker node did not start tracking on the first frame")


def _call(recorder: Recorder, request: InitTarget.Request) -> InitTarget.Response | None:
    future = recorder.init_client.call_async(request)
    deadline = time.time() + 10.0
    while not future.done() and time.time() < deadline:
        time.sleep(0.01)
    return future.result() if future.done() else None


def _seen_target(recorder: Recorder, target_id: int) -> bool:
    return any(
        r.target is not None and r.target.target_id == target_id
        for r in list(recorder.by_stamp.values())
    )
