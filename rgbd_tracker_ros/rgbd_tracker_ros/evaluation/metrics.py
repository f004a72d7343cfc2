"""Tracking metrics, one function per protocol, on plain NumPy arrays.

Conventions shared by every function here:

- boxes are ``(N, 4)`` float arrays ``x, y, w, h`` in color pixels, (x, y) the top-left
  corner; a ground-truth row of NaN means the target is absent in that frame;
- the callers pass only the frames the tracker produced: the initialisation frame (whose
  box is the ground truth, not a tracker output) is left out everywhere (GOT-10k's
  convention; OTB code counts it as a perfect frame, the VOT toolkit as a special one);
- a *sequence* is one entry of a list; curves are averaged over sequences with equal
  weight, as OTB/LaSOT and the VOT long-term analysis do.

Where a protocol is defined by published code, the docstring names it so a reader can check
the choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
"""IoU thresholds of the OTB/LaSOT success curve: 0, 0.05, ..., 1."""

PRECISION_THRESHOLDS = np.arange(0.0, 51.0)
"""Centre-error thresholds (pixels) of the precision curve: 0, 1, ..., 50."""

PRECISION_AT_PX = 20.0
"""The precision curve is summarised by its value at 20 px."""

LONG_TERM_RESOLUTION = 100
"""Number of confidence thresholds of the VOT long-term analysis (toolkit default)."""


def _as_boxes(boxes: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what}: expected an (N, 4) array of x,y,w,h boxes, got {array.shape}")
    return array


def visible_mask(groundtruth: np.ndarray) -> np.ndarray:
    """True where the ground-truth box is present (no NaN) and has a positive size."""
    gt = _as_boxes(groundtruth, "groundtruth")
    return np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


def iou(
    predicted: np.ndarray,
    groundtruth: np.ndarray,
    bounds_wh: tuple[int, int] | None = None,
) -> np.ndarray:
    """Per-frame intersection over union of axis-aligned boxes; NaN where the target is absent.

    With ``bounds_wh`` (image width, height) both boxes are first clipped to the image, as
    the VOT toolkit does (``bounded=True``); OTB/LaSOT code compares the raw boxes. A
    predicted box with no area has IoU 0.
    """
    pred = _as_boxes(predicted, "predicted")
    gt = _as_boxes(groundtruth, "groundtruth")
    if pred.shape != gt.shape:
        raise ValueError(f"predicted {pred.shape} and groundtruth {gt.shape} differ in length")
    x0p, y0p = pred[:, 0], pred[:, 1]
    x1p, y1p = x0p + pred[:, 2], y0p + pred[:, 3]
    x0g, y0g = gt[:, 0], gt[:, 1]
    x1g, y1g = x0g + gt[:, 2], y0g + gt[:, 3]
    if bounds_wh is not None:
        width, height = bounds_wh
        x0p, x1p, x0g, x1g = (np.clip(v, 0.0, width) for v in (x0p, x1p, x0g, x1g))
        y0p, y1p, y0g, y1g = (np.clip(v, 0.0, height) for v in (y0p, y1p, y0g, y1g))
    area_p = np.clip(x1p - x0p, 0.0, None) * np.clip(y1p - y0p, 0.0, None)
    area_g = np.clip(x1g - x0g, 0.0, None) * np.clip(y1g - y0g, 0.0, None)
    inter_w = np.clip(np.minimum(x1p, x1g) - np.maximum(x0p, x0g), 0.0, None)
    inter_h = np.clip(np.minimum(y1p, y1g) - np.maximum(y0p, y0g), 0.0, None)
    inter = inter_w * inter_h
    union = area_p + area_g - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(union > 0.0, inter / np.where(union > 0.0, union, 1.0), 0.0)
    return np.where(visible_mask(gt), overlap, np.nan)


def center_error(predicted: np.ndarray, groundtruth: np.ndarray) -> np.ndarray:
    """Per-frame distance (pixels) between box centres; NaN where the target is absent."""
    pred = _as_boxes(predicted, "predicted")
    gt = _as_boxes(groundtruth, "groundtruth")
    if pred.shape != gt.shape:
        raise ValueError(f"predicted {pred.shape} and groundtruth {gt.shape} differ in length")
    centre_p = pred[:, :2] + pred[:, 2:] / 2.0
    centre_g = gt[:, :2] + gt[:, 2:] / 2.0
    error = np.linalg.norm(centre_p - centre_g, axis=1)
    return np.where(visible_mask(gt), error, np.nan)


def success_curve(ious: np.ndarray) -> np.ndarray:
    """OTB/LaSOT success curve of one sequence over its visible frames.

    success(t) = fraction of frames with IoU **strictly greater** than t, for the 21
    thresholds t = 0, 0.05, ..., 1 (pytracking ``threshold_set_overlap``, got10k
    ``np.greater``). NaN entries (target absent) are dropped first, so only frames where the
    target is visible count (got10k ``ExperimentLaSOT``).
    """
    visible = _finite(ious, "ious")
    return np.array([np.mean(visible > t) for t in SUCCESS_THRESHOLDS])


def success_auc(curve: np.ndarray) -> float:
    """Area under a success curve: the mean of its 21 points (pytracking ``get_auc_curve``)."""
    return float(np.mean(curve))


def precision_curve(center_errors: np.ndarray) -> np.ndarray:
    """Precision curve of one sequence over its visible frames.

    precision(t) = fraction of frames whose centre error is at most t pixels, t = 0..50;
    NaN entries (target absent) are dropped first.
    """
    visible = _finite(center_errors, "center_errors")
    return np.array([np.mean(visible <= t) for t in PRECISION_THRESHOLDS])


def precision_at(curve: np.ndarray, pixels: float = PRECISION_AT_PX) -> float:
    """Value of a precision curve at ``pixels`` (the OTB/LaSOT score uses 20 px)."""
    index = np.flatnonzero(np.isclose(PRECISION_THRESHOLDS, pixels))
    if index.size != 1:
        raise ValueError(f"{pixels} px is not one of the precision curve's thresholds")
    return float(curve[index[0]])


def mean_curve(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Average of per-sequence curves, each sequence weighted equally."""
    if not curves:
        raise ValueError("no sequences to average")
    return np.mean(np.stack([np.asarray(c, dtype=np.float64) for c in curves]), axis=0)


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    kept = array[np.isfinite(array)]
    if kept.size == 0:
        raise ValueError(f"{what}: no frame with a visible target")
    return kept


def long_term_thresholds(
    scores: Sequence[np.ndarray], resolution: int = LONG_TERM_RESOLUTION
) -> np.ndarray:
    """Confidence thresholds of the VOT long-term analysis, from all of a tracker's scores.

    All scores of all sequences are pooled (NaN dropped) and sorted in descending order;
    ``resolution - 2`` order statistics are taken at the rounded positions
    ``linspace(d, n - d, resolution - 2)`` with ``d = floor(n / (resolution - 2))`` (every
    score when there are fewer), then +inf is put first and -inf last. This is vot-toolkit's
    ``determine_thresholds`` (0.5.3 ``vot/analysis/tpr.py``, >=0.6 ``longterm.py``).
    """
    if resolution < 3:
        raise ValueError(f"resolution must be at least 3, got {resolution}")
    pooled = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores])
    ordered = np.sort(pooled[~np.isnan(pooled)])[::-1]
    inner = resolution - 2
    if ordered.size > inner:
        step = ordered.size // inner
        picks = np.round(np.linspace(step, ordered.size - step, num=inner)).astype(int)
        ordered = ordered[picks]
    return np.concatenate([[math.inf], ordered, [-math.inf]])


def precision_recall_curve(
    ious: np.ndarray, scores: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Tracking precision and recall of one sequence at each confidence threshold.

    VOT long-term / DepthTrack protocol (vot-toolkit ``compute_tpr_curves``): with
    S(τ) the frames whose score is >= τ,

    - Pr(τ) = mean IoU over S(τ), 1 when S(τ) is empty; frames where the target is absent
      (NaN in ``ious``) count with IoU 0, so confidently reporting an absent target costs
      precision;
    - Re(τ) = sum of IoU over S(τ) / number of frames where the target is visible, 0 when
      S(τ) is empty.

    IoUs should be computed with ``bounds_wh`` (boxes clipped to the image), as the
    toolkit does. The toolkit counts IoU(empty, empty) = 1 since 0.6; predictions here always
    have a box, so an absent frame is always IoU 0 (the 0.5.3 rule).
    """
    overlaps = np.asarray(ious, dtype=np.float64).ravel()
    confidence = np.asarray(scores, dtype=np.float64).ravel()
    if overlaps.shape != confidence.shape:
        raise ValueError(f"{overlaps.size} IoUs but {confidence.size} scores")
    num_visible = int(np.count_nonzero(~np.isnan(overlaps)))
    if num_visible == 0:
        raise ValueError("no frame with a visible target: recall is undefined")
    overlaps = np.nan_to_num(overlaps, nan=0.0)
    precision = np.ones(len(thresholds))
    recall = np.zeros(len(thresholds))
    for i, threshold in enumerate(thresholds):
        selected = confidence >= threshold
        if np.any(selected):
            precision[i] = np.mean(overlaps[selected])
            recall[i] = np.sum(overlaps[selected]) / num_visible
    return precision, recall


@dataclass(frozen=True)
class PrecisionRecallF:
    """Summary of the long-term analysis: the F-maximising operating point and the curves."""

    precision: float
    recall: float
    f_score: float
    threshold: float
    thresholds: np.ndarray
    precision_curve: np.ndarray
    recall_curve: np.ndarray
    f_curve: np.ndarray


def f_score(precision: np.ndarray, recall: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """F-beta of precision and recall, elementwise; 0 where both are 0."""
    pr = np.asarray(precision, dtype=np.float64)
    re = np.asarray(recall, dtype=np.float64)
    beta2 = beta * beta
    denominator = beta2 * pr + re
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (1 + beta2) * pr * re / denominator, 0.0)


def long_term_precision_recall(
    ious: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    resolution: int = LONG_TERM_RESOLUTION,
) -> PrecisionRecallF:
    """DepthTrack / VOT long-term tracking precision, recall and F-score of one tracker.

    ``ious`` and ``scores`` hold one array per sequence (IoU NaN where the target is
    absent). Thresholds come from all the tracker's scores (``long_term_thresholds``); the
    per-sequence Pr/Re curves (``precision_recall_curve``) are averaged over sequences with
    equal weight; F(τ) = 2·Pr·Re / (Pr + Re) on the averaged curves; the reported F is its
    maximum and Pr, Re are read **at that same threshold** (vot-toolkit ``PrecisionRecall``;
    the first maximum when several thresholds tie).
    """
    if len(ious) != len(scores) or not ious:
        raise ValueError(
            f"need one IoU and one score array per sequence, got {len(ious)} and {len(scores)}"
        )
    thresholds = long_term_thresholds(scores, resolution)
    curves = [precision_recall_curve(o, s, thresholds) for o, s in zip(ious, scores, strict=True)]
    pr_curve = np.mean([c[0] for c in curves], axis=0)
    re_curve = np.mean([c[1] for c in curves], axis=0)
    f_curve = f_score(pr_curve, re_curve)
    best = int(np.argmax(f_curve))
    return PrecisionRecallF(
        precision=float(pr_curve[best]),
        recall=float(re_curve[best]),
        f_score=float(f_curve[best]),
        threshold=float(thresholds[best]),
        thresholds=thresholds,
        precision_curve=pr_curve,
        recall_curve=re_curve,
        f_curve=f_curve,
    )


def reports_target(lost: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Frames where the tracker claims the target: state not LOST and score >= ``threshold``."""
    return ~np.asarray(lost, dtype=bool) & (np.asarray(scores, dtype=np.float64) >= threshold)


@dataclass(frozen=True)
class AbsenceStats:
    """How often the tracker admits the target is gone when it is gone (pooled counts)."""

    absent_frames: int
    detected: int

    @property
    def rate(self) -> float:
        """Fraction of absent frames flagged; NaN when no frame had the target absent."""
        return self.detected / self.absent_frames if self.absent_frames else math.nan


def absence_detection(visible: np.ndarray, claimed: np.ndarray) -> AbsenceStats:
    """Count absent-target frames where the tracker does *not* claim the target.

    Long-term behaviour: on a frame whose ground truth is absent, the right answer is LOST
    or a score under the operating threshold (``claimed`` from ``reports_target``). Counts
    rather than a rate, so several sequences pool frame by frame.
    """
    absent = ~np.asarray(visible, dtype=bool)
    flagged = absent & ~np.asarray(claimed, dtype=bool)
    return AbsenceStats(absent_frames=int(absent.sum()), detected=int(flagged.sum()))


@dataclass(frozen=True)
class ReacquisitionStats:
    """Re-appearances of the target and how many frames the tracker needed to find it again.

    ``delays`` has one entry per counted re-appearance: frames from the re-appearance to
    the first re-acquired frame (0 = at once), or None when not re-acquired in the window.
    """

    delays: tuple[int | None, ...]

    @property
    def events(self) -> int:
        return len(self.delays)

    @property
    def reacquired(self) -> int:
        return sum(d is not None for d in self.delays)

    @property
    def rate(self) -> float:
        """Fraction of re-appearances re-acquired; NaN when the target never re-appeared."""
        return self.reacquired / self.events if self.events else math.nan

    @property
    def mean_delay(self) -> float:
        found = [d for d in self.delays if d is not None]
        return float(np.mean(found)) if found else math.nan

    def __add__(self, other: ReacquisitionStats) -> ReacquisitionStats:
        return ReacquisitionStats(self.delays + other.delays)


def reacquisition(
    ious: np.ndarray,
    claimed: np.ndarray,
    iou_threshold: float = 0.3,
    within: int = 30,
) -> ReacquisitionStats:
    """Re-acquisition after each re-appearance of the target in one sequence.

    A re-appearance is a frame where the target is visible (IoU not NaN) after a frame
    where it was absent. It counts as re-acquired if, within ``within`` frames starting
    at the re-appearance, some frame has IoU > ``iou_threshold`` while the tracker claims
    the target (``claimed``): an IoU that a box left in place happens to reach does not
    count. A re-appearance whose window runs past the end of the sequence without success
    is left out (the sequence ended before the tracker had its chance).
    """
    overlaps = np.asarray(ious, dtype=np.float64).ravel()
    claim = np.asarray(claimed, dtype=bool).ravel()
    if overlaps.shape != claim.shape:
        raise ValueError(f"{overlaps.size} IoUs but {claim.size} claim flags")
    if within < 1:
        raise ValueError(f"within must be at least 1 frame, got {within}")
    visible = ~np.isnan(overlaps)
    hit = visible & claim & (np.nan_to_num(overlaps, nan=0.0) > iou_threshold)
    delays: list[int | None] = []
    for start in np.flatnonzero(visible[1:] & ~visible[:-1]) + 1:
        window = hit[start : start + within]
        if window.any():
            delays.append(int(np.argmax(window)))
        elif start + within <= overlaps.size:
            delays.append(None)
    return ReacquisitionStats(tuple(delays))


@dataclass(frozen=True)
class PositionErrorStats:
    """3D position error in centimetres over frames with both a ground truth and an estimate."""

    mean_cm: float
    median_cm: float
    frames: int
    coverage: float


def position_error_cm(predicted_xyz: np.ndarray, groundtruth_xyz: np.ndarray) -> np.ndarray:
    """Per-frame Euclidean distance (cm) between estimated and true 3D target centres.

    Both are ``(N, 3)`` metres in the color optical frame; NaN rows (no depth estimate, or
    target absent) give NaN.
    """
    pred = np.asarray(predicted_xyz, dtype=np.float64)
    gt = np.asarray(groundtruth_xyz, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3:
        raise ValueError(f"expected two (N, 3) arrays, got {pred.shape} and {gt.shape}")
    return 100.0 * np.linalg.norm(pred - gt, axis=1)


def position_error_stats(errors_cm: np.ndarray, groundtruth_xyz: np.ndarray) -> PositionErrorStats:
    """Mean/median 3D error and coverage: estimated frames / frames with a 3D ground truth."""
    errors = np.asarray(errors_cm, dtype=np.float64).ravel()
    with_truth = int(np.all(np.isfinite(np.asarray(groundtruth_xyz)), axis=1).sum())
    measured = errors[np.isfinite(errors)]
    if measured.size == 0:
        return PositionErrorStats(math.nan, math.nan, 0, 0.0 if with_truth else math.nan)
    return PositionErrorStats(
        mean_cm=float(measured.mean()),
        median_cm=float(np.median(measured)),
        frames=int(measured.size),
        coverage=measured.size / with_truth if with_truth else math.nan,
    )
