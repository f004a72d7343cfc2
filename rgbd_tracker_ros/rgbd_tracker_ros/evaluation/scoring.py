"""Score saved results against their sequences' ground truth: every metric, per tracker.

Kept apart from tracking so that results can be re-scored (new metric, other thresholds)
without running any tracker again.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rgbd_tracker_ros.evaluation import metrics
from rgbd_tracker_ros.evaluation.results import (
    ResultsError,
    SequenceResults,
    read_results,
    results_path,
)
from rgbd_tracker_ros.evaluation.stats import TimingStats, json_ready, timing_stats
from rgbd_tracker_ros.sequences.depthtrack import RGBDSequence


@dataclass(frozen=True)
class ScoringOptions:
    """Choices of the long-term behaviour metrics.

    ``score_threshold``: the confidence under which a frame counts as "target not
    reported"; None uses the tracker's F-maximising threshold from the Pr/Re analysis (the
    threshold that is reported with F). ``reacquire_iou`` / ``reacquire_within``: a
    re-appearance is re-acquired when IoU exceeds the former within the latter many frames.
    """

    score_threshold: float | None = None
    reacquire_iou: float = 0.3
    reacquire_within: int = 30
    resolution: int = metrics.LONG_TERM_RESOLUTION


@dataclass
class SequenceScore:
    """One tracker on one sequence (the initialisation frame excluded)."""

    sequence: str
    frames: int
    visible_frames: int
    auc: float
    precision_20: float
    mean_iou: float
    absent_frames: int
    absent_detected: int
    reappearances: int
    reacquired: int
    position_error_median_cm: float
    fps: float
    success_curve: np.ndarray = field(repr=False)
    precision_curve: np.ndarray = field(repr=False)


@dataclass
class TrackerScore:
    """Every metric of one tracker over a set of sequences."""

    tracker: str
    sequences: list[SequenceScore]
    auc: float
    precision_20: float
    success_curve: np.ndarray
    precision_curve: np.ndarray
    long_term: metrics.PrecisionRecallF
    operating_threshold: float
    absence: metrics.AbsenceStats
    reacquisition: metrics.ReacquisitionStats
    position: metrics.PositionErrorStats | None
    init_time: TimingStats
    track_time: TimingStats
    stage_times: dict[str, TimingStats]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN becomes None so the file stays strict JSON)."""
        lt = self.long_term
        summary = {
            "tracker": self.tracker,
            "sequences": len(self.sequences),
            "auc": self.auc,
            "precision_20px": self.precision_20,
            "lt_precision": lt.precision,
            "lt_recall": lt.recall,
            "lt_f_score": lt.f_score,
            "lt_threshold": lt.threshold,
            "operating_threshold": self.operating_threshold,
            "absent_frames": self.absence.absent_frames,
            "absent_detected": self.absence.detected,
            "absent_detection_rate": self.absence.rate,
            "reappearances": self.reacquisition.events,
            "reacquired": self.reacquisition.reacquired,
            "reacquisition_rate": self.reacquisition.rate,
            "reacquisition_mean_delay_frames": self.reacquisition.mean_delay,
            "position_error": None if self.position is None else asdict(self.position),
            "init_time": self.init_time.as_dict(),
            "track_time": self.track_time.as_dict(),
            "stage_times": {k: v.as_dict() for k, v in self.stage_times.items()},
            "curves": {
                "success_thresholds": metrics.SUCCESS_THRESHOLDS.tolist(),
                "success": self.success_curve.tolist(),
                "precision_thresholds_px": metrics.PRECISION_THRESHOLDS.tolist(),
                "precision": self.precision_curve.tolist(),
                "lt_thresholds": lt.thresholds.tolist(),
                "lt_precision": lt.precision_curve.tolist(),
                "lt_recall": lt.recall_curve.tolist(),
                "lt_f": lt.f_curve.tolist(),
            },
            "per_sequence": [
                {
                    k: v
                    for k, v in asdict(s).items()
                    if k not in ("success_curve", "precision_curve")
                }
                for s in self.sequences
            ],
        }
        return json_ready(summary)


def load_results(
    results_dir: Path, tracker: str, sequences: list[RGBDSequence]
) -> list[SequenceResults]:
    """The saved results of ``tracker`` for each sequence, checked against its length."""
    return [
        read_results(results_path(results_dir, tracker, s.name), s.name, len(s)) for s in sequences
    ]


def score_tracker(
    tracker: str,
    results: list[SequenceResults],
    sequences: list[RGBDSequence],
    options: ScoringOptions | None = None,
) -> TrackerScore:
    """All metrics of one tracker; ``results[i]`` belongs to ``sequences[i]``."""
    opts = options or ScoringOptions()
    if len(results) != len(sequences) or not sequences:
        raise ValueError(f"{len(results)} results for {len(sequences)} sequences")
    per_frame = []
    for res, seq in zip(results, sequences, strict=True):
        if res.sequence != seq.name or len(res) != len(seq):
            raise ResultsError(
                f"tracker {tracker!r}: results for {res.sequence!r} ({len(res)} frames) do not "
                f"fit sequence {seq.name!r} ({len(seq)} frames)"
            )
        per_frame.append(_frame_metrics(res, seq))

    try:
        long_term = metrics.long_term_precision_recall(
            [f["bounded_iou"] for f in per_frame],
            [f["scores"] for f in per_frame],
            opts.resolution,
        )
    except ValueError as exc:
        raise ValueError(f"tracker {tracker!r}: {exc}") from exc
    threshold = long_term.threshold if opts.score_threshold is None else opts.score_threshold

    scores = []
    absence = metrics.AbsenceStats(0, 0)
    reacquisition = metrics.ReacquisitionStats(())
    errors, truths = [], []
    for res, seq, frame in zip(results, sequences, per_frame, strict=True):
        claimed = metrics.reports_target(frame["lost"], frame["scores"], threshold)
        seq_absence = metrics.absence_detection(frame["visible"], claimed)
        seq_reacq = metrics.reacquisition(
            frame["iou"], claimed, opts.reacquire_iou, opts.reacquire_within
        )
        absence = metrics.AbsenceStats(
            absence.absent_frames + seq_absence.absent_frames,
            absence.detected + seq_absence.detected,
        )
        reacquisition = reacquisition + seq_reacq
        seq_errors = np.full(len(frame["iou"]), np.nan)
        if seq.groundtruth_3d is not None:
            estimated = np.where(claimed[:, None], res.positions[1:], np.nan)
            seq_errors = metrics.position_error_cm(estimated, seq.groundtruth_3d[1:])
            errors.append(seq_errors)
            truths.append(seq.groundtruth_3d[1:])
        scores.append(_sequence_score(seq.name, res, frame, seq_absence, seq_reacq, seq_errors))

    position = None
    if truths:
        position = metrics.position_error_stats(np.concatenate(errors), np.concatenate(truths))
    stage_names = sorted({name for res in results for name in res.stage_times})
    return TrackerScore(
        tracker=tracker,
        sequences=scores,
        auc=metrics.success_auc(metrics.mean_curve([s.success_curve for s in scores])),
        precision_20=metrics.precision_at(metrics.mean_curve([s.precision_curve for s in scores])),
        success_curve=metrics.mean_curve([s.success_curve for s in scores]),
        precision_curve=metrics.mean_curve([s.precision_curve for s in scores]),
        long_term=long_term,
        operating_threshold=threshold,
        absence=absence,
        reacquisition=reacquisition,
        position=position,
        init_time=timing_stats(res.times[0] for res in results),
        track_time=timing_stats(np.concatenate([res.times[1:] for res in results])),
        stage_times={
            name: timing_stats(
                np.concatenate([res.stage_times.get(name, np.array([]))[1:] for res in results])
            )
            for name in stage_names
        },
    )


def _frame_metrics(res: SequenceResults, seq: RGBDSequence) -> dict[str, np.ndarray]:
    """Per-frame quantities of one sequence, frames 2..N (the init frame is not scored)."""
    gt = seq.groundtruth[1:]
    boxes = res.boxes[1:]
    bounds = (seq.intrinsics.width, seq.intrinsics.height)
    where = f"tracker {res.tracker!r}, sequence {seq.name!r}"
    visible = metrics.visible_mask(gt)
    if not visible.any():
        raise ValueError(f"{where}: the target is never visible after frame 1; cannot score")
    return {
        "visible": visible,
        "iou": metrics.iou(boxes, gt),
        "bounded_iou": metrics.iou(boxes, gt, bounds),
        "center_error": metrics.center_error(boxes, gt),
        "scores": res.scores[1:],
        "lost": res.lost[1:],
    }


def _sequence_score(
    name: str,
    res: SequenceResults,
    frame: dict[str, np.ndarray],
    absence: metrics.AbsenceStats,
    reacq: metrics.ReacquisitionStats,
    errors_cm: np.ndarray,
) -> SequenceScore:
    success = metrics.success_curve(frame["iou"])
    precision = metrics.precision_curve(frame["center_error"])
    finite_errors = errors_cm[np.isfinite(errors_cm)]
    median_error = float(np.median(finite_errors)) if finite_errors.size else math.nan
    return SequenceScore(
        sequence=name,
        frames=len(frame["iou"]),
        visible_frames=int(frame["visible"].sum()),
        auc=metrics.success_auc(success),
        precision_20=metrics.precision_at(precision),
        mean_iou=float(np.nanmean(frame["iou"])),
        absent_frames=absence.absent_frames,
        absent_detected=absence.detected,
        reappearances=reacq.events,
        reacquired=reacq.reacquired,
        position_error_median_cm=median_error,
        fps=timing_stats(res.times[1:]).fps,
        success_curve=success,
        precision_curve=precision,
    )
