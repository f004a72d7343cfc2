"""Soak the tracker node: a valid camera-rate stream for a long time, over loopback DDS.

The node runs in its own process (``stress.NodeProcess``) and tracks a synthetic target
played forth and back. Per window (a minute by default): frames in and out, the share
tracked, latency (publishing to the target's arrival) and the node's resident memory, so a
leak, a growing queue or a slowdown shows as a trend.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.ros.stress import (
    Graph,
    ValidStream,
    keep_dds_on_loopback,
    log_line_count,
    repeated_log_lines,
    start_tracking,
    tracker_node_process,
    wait_until_active,
)

_LOG = logging.getLogger(__name__)
DRAIN_S = 2.0
CALL_TIMEOUT_S = 30.0


@dataclass
class SoakConfig:
    seconds: float = 600.0
    rate_hz: float = 30.0
    width: int = 640
    height: int = 480
    tracker: str = "depth_dcf"
    seed: int = 0
    window_s: float = 60.0
    output: Path = Path("results/soak")


@dataclass
class SoakWindow:
    """One window of the run; latencies in ms over the frames answered, RSS at its end."""

    start_s: float
    frames_in: int
    frames_out: int
    tracking: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    rss_mb: float


@dataclass
class SoakReport:
    config: dict[str, Any]
    dds: dict[str, str]
    windows: list[SoakWindow]
    frames_in: int
    frames_out: int
    tracking: int
    rss_start_mb: float
    rss_end_mb: float
    node_exit_code: int | None  # None: still running at the end (as it should)
    seconds: float
    load_average_start: tuple[float, float, float]
    load_average_end: tuple[float, float, float]
    non_finite_outputs: int
    log_lines: int
    most_repeated_log: list[tuple[int, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.node_exit_code is None and self.non_finite_outputs == 0 and self.frames_out > 0


def run_soak(config: SoakConfig) -> SoakReport:
    dds = keep_dds_on_loopback()
    config.output.mkdir(parents=True, exist_ok=True)
    log_path = config.output / "tracker_node.log"
    log_path.unlink(missing_ok=True)
    node = tracker_node_process(config.tracker, log_path, [])
    stream = ValidStream(config.width, config.height, seed=config.seed + 3)
    graph = Graph()
    client = graph.client
    load_start = os.getloadavg()
    try:
        node.start()
        if not wait_until_active(client, node):
            raise RuntimeError(f"the tracker node did not become active; see {log_path}")
        if not start_tracking(client, stream, CALL_TIMEOUT_S):
            raise RuntimeError("the tracker node did not start tracking the stream")
        rss_start = node.rss_mb()
        sent: list[tuple[int, int]] = []  # (stamp, window)
        rss_by_window: list[float] = []
        start = time.monotonic()
        for index in range(round(config.seconds * config.rate_hz)):
            if node.exit_code() is not None:
                break
            due = start + index / config.rate_hz
            time.sleep(max(0.0, due - time.monotonic()))
            frame = stream[index + 1]
            stamp = client.publish_frame(frame.color, frame.depth_mm, stream.intrinsics)
            window = int((due - start) // config.window_s)
            while len(rss_by_window) <= window:
                rss_by_window.append(node.rss_mb())
                if len(rss_by_window) > 1:
                    _LOG.info("window %d: RSS %.0f MiB", len(rss_by_window) - 1, rss_by_window[-1])
            sent.append((stamp, window))
        time.sleep(DRAIN_S)
        rss_end = node.rss_mb()
        rss_by_window.append(rss_end)
        seconds = time.monotonic() - start
        windows = _windows(client, sent, rss_by_window[1:], config.window_s)
        exit_code = node.exit_code()
        non_finite = client.outputs.non_finite
    finally:
        graph.close()
        node.stop()
    log = node.log_text()
    return SoakReport(
        config={k: str(v) for k, v in asdict(config).items()},
        dds=dds,
        windows=windows,
        frames_in=sum(w.frames_in for w in windows),
        frames_out=sum(w.frames_out for w in windows),
        tracking=sum(w.tracking for w in windows),
        rss_start_mb=rss_start,
        rss_end_mb=rss_end,
        node_exit_code=exit_code,
        seconds=seconds,
        load_average_start=load_start,
        load_average_end=os.getloadavg(),
        non_finite_outputs=non_finite,
        log_lines=log_line_count(log),
        most_repeated_log=repeated_log_lines(log),
    )


def _windows(
    client: Any, sent: list[tuple[int, int]], rss_at_end: list[float], window_s: float
) -> list[SoakWindow]:
    count = max((window for _, window in sent), default=-1) + 1
    rows = []
    for window in range(count):
        stamps = [stamp for stamp, w in sent if w == window]
        targets = [client.target_for(stamp) for stamp in stamps]
        latencies = [
            1000.0 * latency
            for latency in (client.latency(stamp) for stamp in stamps)
            if latency is not None
        ]
        rows.append(
            SoakWindow(
                start_s=window * window_s,
                frames_in=len(stamps),
                frames_out=sum(t is not None for t in targets),
                tracking=sum(t is not None and t.state == TrackedTarget.TRACKING for t in targets),
                latency_p50_ms=_percentile(latencies, 50),
                latency_p95_ms=_percentile(latencies, 95),
                latency_max_ms=max(latencies, default=math.nan),
                rss_mb=rss_at_end[window] if window < len(rss_at_end) else math.nan,
            )
        )
    return rows


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def format_report(report: SoakReport) -> str:
    config = report.config
    lines = [
        f"soak: {report.seconds:.0f} s of {config['width']}x{config['height']} at "
        f"{config['rate_hz']} Hz, tracker {config['tracker']} (load average "
        f"{', '.join(f'{v:.1f}' for v in report.load_average_start)} at the start, "
        f"{', '.join(f'{v:.1f}' for v in report.load_average_end)} at the end)",
        "DDS: " + ", ".join(f"{k}={v}" for k, v in report.dds.items()),
        "| window start s | frames in | frames out | tracking | p50 ms | p95 ms | max ms "
        "| RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {w.start_s:.0f} | {w.frames_in} | {w.frames_out} | {w.tracking} | "
        f"{w.latency_p50_ms:.1f} | {w.latency_p95_ms:.1f} | {w.latency_max_ms:.1f} | "
        f"{w.rss_mb:.0f} |"
        for w in report.windows
    ]
    exit_text = "still running" if report.node_exit_code is None else report.node_exit_code
    lines += [
        f"frames: {report.frames_in} in, {report.frames_out} out, {report.tracking} tracking",
        f"RSS: {report.rss_start_mb:.0f} MiB at the start, {report.rss_end_mb:.0f} MiB at the "
        f"end ({report.rss_end_mb - report.rss_start_mb:+.0f} MiB)",
        f"node: {exit_text}; non-finite outputs: {report.non_finite_outputs}",
        f"node log: {report.log_lines} lines; most repeated: "
        + "; ".join(f"{count}x {line!r}" for count, line in report.most_repeated_log),
        "RESULT: " + ("clean" if report.clean else "FAILED"),
    ]
    return "\n".join(lines)
