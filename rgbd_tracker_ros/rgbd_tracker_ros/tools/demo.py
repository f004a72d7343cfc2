"""``make demo``: track the built-in RGB-D sequence through the real ROS interfaces.

Plays the sequence as RealSense topics, runs the tracker node as its own process, starts
it with the ``/tracker/init`` service and scores what ``/tracker/target`` and
``/tracker/target_pose`` said against the ground truth. Writes ``report.md``,
``report.json``, an overlay GIF and a 3D trajectory plot; exits 0 only if tracking worked.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rgbd_tracker_ros.evaluation.metrics import center_error, iou, position_error_cm
from rgbd_tracker_ros.evaluation.stats import percentile
from rgbd_tracker_ros.ros.dds import apply_large_image_profile
from rgbd_tracker_ros.ros.session import SessionResult, run_session
from rgbd_tracker_ros.sequences.demo import demo_sequence
from rgbd_tracker_ros.sequences.depthtrack import RGBDSequence, read_sequence
from rgbd_tracker_ros.tracking.api import TrackerState

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassCriteria:
    """What "tracking worked" means for the demo (README explains the choice)."""

    min_processed: float = 0.5  # share of played frames with a result
    min_mean_iou: float = 0.5  # over visible frames that got a result
    max_median_error_cm: float = 10.0  # 3D error over frames with a pose
    min_absent_flagged: float = 0.7  # absent frames reported LOST or UNCERTAIN


@dataclass
class DemoReport:
    sequence: str
    tracker: str
    frames_played: int
    frames_processed: int
    visible_frames: int
    absent_frames: int
    mean_iou: float
    mean_center_error_px: float
    median_3d_error_cm: float
    mean_3d_error_cm: float
    poses: int
    absent_flagged: float
    output_rate_hz: float
    latency_p50_ms: float
    latency_p95_ms: float
    passed: bool
    failures: list[str]


def score(
    sequence: RGBDSequence, session: SessionResult, tracker: str
) -> tuple[DemoReport, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The report, and per played frame: box, 3D position, state (-1: no result), score."""
    n = min(len(sequence), session.published)
    gt = sequence.groundtruth[:n]
    gt3d = sequence.groundtruth_3d[:n] if sequence.groundtruth_3d is not None else None
    boxes = np.full((n, 4), np.nan)
    positions = np.full((n, 3), np.nan)
    states = np.full(n, -1)
    scores = np.full(n, np.nan)
    latencies = []
    for i, record in enumerate(session.records[:n]):
        if record.target is None:
            continue
        t = record.target
        boxes[i] = (t.x, t.y, t.width, t.height)
        states[i] = t.state
        scores[i] = t.score
        latencies.append(record.received_s - session.sent_stamps_s[i])
        if record.pose is not None:
            p = record.pose.pose.position
            positions[i] = (p.x, p.y, p.z)
    processed = states >= 0
    visible = np.all(np.isfinite(gt), axis=1)
    ious = iou(np.nan_to_num(boxes), np.nan_to_num(gt, nan=0.0))
    ious = np.where(visible & processed, ious, np.nan)
    errors = center_error(np.nan_to_num(boxes), np.nan_to_num(gt, nan=0.0))
    errors = np.where(visible & processed, errors, np.nan)
    err3d = position_error_cm(positions, gt3d) if gt3d is not None else np.full(n, np.nan)
    absent = ~visible & processed
    flagged = np.isin(states, (TrackerState.LOST, TrackerState.UNCERTAIN))
    report = DemoReport(
        sequence=sequence.name,
        tracker=tracker,
        frames_played=n,
        frames_processed=int(processed.sum()),
        visible_frames=int(visible.sum()),
        absent_frames=int((~visible).sum()),
        mean_iou=_mean(ious),
        mean_center_error_px=_mean(errors),
        median_3d_error_cm=percentile(err3d, 50),
        mean_3d_error_cm=_mean(err3d),
        poses=int(np.isfinite(positions[:, 0]).sum()),
        absent_flagged=float(flagged[absent].mean()) if absent.any() else math.nan,
        output_rate_hz=float(processed.sum() / session.duration_s),
        latency_p50_ms=percentile(latencies, 50) * 1000.0,
        latency_p95_ms=percentile(latencies, 95) * 1000.0,
        passed=False,
        failures=[],
    )
    report.failures = _check(report, PassCriteria())
    report.passed = not report.failures
    return report, boxes, positions, states, scores


def _check(report: DemoReport, criteria: PassCriteria) -> list[str]:
    failures = []
    processed = report.frames_processed / max(report.frames_played, 1)
    if processed < criteria.min_processed:
        failures.append(f"processed {processed:.0%} of frames < {criteria.min_processed:.0%}")
    if not report.mean_iou >= criteria.min_mean_iou:
        failures.append(f"mean IoU {report.mean_iou:.2f} < {criteria.min_mean_iou}")
    if not report.median_3d_error_cm <= criteria.max_median_error_cm:
        failures.append(
            f"median 3D error {report.median_3d_error_cm:.1f} cm > {criteria.max_median_error_cm}"
        )
    if report.absent_frames and not report.absent_flagged >= criteria.min_absent_flagged:
        failures.append(
            f"only {report.absent_flagged:.0%} of absent frames reported lost/uncertain "
            f"< {criteria.min_absent_flagged:.0%}"
        )
    return failures


def _mean(values: np.ndarray) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else math.nan


def write_outputs(
    out: Path,
    report: DemoReport,
    sequence: RGBDSequence,
    boxes: np.ndarray,
    positions: np.ndarray,
    states: np.ndarray,
    scores: np.ndarray,
    docs: Path | None = None,
) -> None:
    """The report and its pictures in ``out``; with ``docs``, the README's copies there too."""
    from rgbd_tracker_ros.evaluation import demo_media

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    demo_media.overlay_gif(out / "overlay.gif", sequence, boxes, states, scores)
    demo_media.trajectory_plot(out / "trajectory.png", sequence.groundtruth_3d, positions)
    (out / "report.md").write_text(_markdown(report))
    if docs is not None:
        docs.mkdir(parents=True, exist_ok=True)
        demo_media.overlay_gif(
            docs / "demo_overlay.gif",
            sequence,
            boxes,
            states,
            scores,
            width=demo_media.README_GIF_WIDTH,
            stride=demo_media.README_GIF_STRIDE,
        )
        shutil.copyfile(out / "trajectory.png", docs / "demo_trajectory.png")


def _markdown(r: DemoReport) -> str:
    verdict = "PASSED" if r.passed else "FAILED: " + "; ".join(r.failures)
    rows = {
        "frames processed / played": f"{r.frames_processed} / {r.frames_played}",
        "mean IoU (visible frames)": f"{r.mean_iou:.3f}",
        "mean centre error": f"{r.mean_center_error_px:.1f} px",
        "3D error median / mean": f"{r.median_3d_error_cm:.1f} / {r.mean_3d_error_cm:.1f} cm",
        "frames with a 3D pose": f"{r.poses}",
        "absent frames reported lost/uncertain": f"{r.absent_flagged:.0%} of {r.absent_frames}",
        "output rate": f"{r.output_rate_hz:.1f} Hz",
        "latency (stamp to receipt) p50 / p95": (
            f"{r.latency_p50_ms:.1f} / {r.latency_p95_ms:.1f} ms"
        ),
    }
    table = [f"| {name} | {value} |" for name, value in rows.items()]
    return "\n".join(
        [
            f"# Demo: {r.tracker} on {r.sequence}",
            "",
            "| metric | value |",
            "|---|---|",
            *table,
            "",
            f"**{verdict}**",
            "",
            "![overlay](overlay.gif)",
            "",
            "![trajectory](trajectory.png)",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("results/demo"), help="report folder")
    parser.add_argument("--sequence", type=Path, help="sequence folder (default: built-in demo)")
    parser.add_argument("--tracker", default="depth_dcf", help="tracker name (default depth_dcf)")
    parser.add_argument(
        "--docs", type=Path, help="also write the README's small copies of the pictures here"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[demo] %(message)s")
    apply_large_image_profile(LOG.info)
    path = args.sequence or demo_sequence()
    sequence = read_sequence(path)
    LOG.info("playing %s (%d frames) to the tracker node", sequence.name, len(sequence))
    session = run_session(path, args.tracker)
    report, boxes, positions, states, scores = score(sequence, session, args.tracker)
    write_outputs(args.output, report, sequence, boxes, positions, states, scores, args.docs)
    print(_markdown(report).split("![overlay]")[0])
    LOG.info("report written to %s", args.output / "report.md")
    if not report.passed:
        tail = "\n".join(session.node_log.splitlines()[-20:])
        LOG.error("tracking did not work well enough; tracker node log tail:\n%s", tail)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
