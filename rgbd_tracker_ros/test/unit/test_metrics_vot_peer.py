"""The long-term Pr/Re/F against vot-toolkit's own analysis code on the same random results.

vot-toolkit is a test-only peer that ``scripts/setup_env.sh`` installs without its
dependency list (its full install pulls opencv-python, which clobbers the headless
``cv2``); attributee 0.1.10 fails at import on Python 3.11, hence 0.1.8.
"""

from __future__ import annotations

import numpy as np
import pytest
from vot.analysis import longterm
from vot.region import Special, calculate_overlaps
from vot.region.shapes import Rectangle

from rgbd_tracker_ros.evaluation import metrics

WIDTH, HEIGHT = 160, 120


class _PeerSequence:
    """The two things vot's ``compute_tpr_curves`` asks of a sequence."""

    def __init__(self, groundtruth: np.ndarray) -> None:
        self._regions = [
            Special(0) if np.isnan(row).any() else Rectangle(*row) for row in groundtruth
        ]
        self.size = (WIDTH, HEIGHT)

    def groundtruth(self) -> list:
        return self._regions


def _random_sequence(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Integer boxes (vot rasterises to pixels, so only integer boxes compare exactly),
    some partly outside the image, some frames absent; scores with ties."""
    size = rng.integers(8, 40, (n, 2))
    gt = np.column_stack([rng.integers(-10, WIDTH - 5, (n, 2)), size]).astype(float)
    jitter = rng.integers(-12, 13, (n, 4))
    pred = gt + jitter
    pred[:, 2:] = np.maximum(pred[:, 2:], 4)
    gt[rng.random(n) < 0.2] = np.nan
    scores = np.round(rng.random(n), 2)
    return pred, gt, scores


def test_long_term_precision_recall_matches_vot_toolkit():
    rng = np.random.default_rng(7)
    # 5 sequences, 260 frames in all: more than 98 scores, so the threshold subsampling runs.
    sequences = [_random_sequence(rng, n) for n in (40, 75, 20, 60, 65)]

    ours_iou = [metrics.iou(p, g, bounds_wh=(WIDTH, HEIGHT)) for p, g, _ in sequences]
    ours = metrics.long_term_precision_recall(ours_iou, [s for _, _, s in sequences])

    thresholds = longterm.determine_thresholds(
        np.concatenate([s for _, _, s in sequences]).tolist(), metrics.LONG_TERM_RESOLUTION
    )
    curves = []
    for (pred, gt, scores), our_iou in zip(sequences, ours_iou, strict=True):
        trajectory = [Rectangle(*row) for row in pred]
        peer = _PeerSequence(gt)
        peer_iou = calculate_overlaps(trajectory, peer.groundtruth(), peer.size)
        np.testing.assert_allclose(np.nan_to_num(our_iou, nan=0.0), peer_iou, atol=1e-9)
        pr, re = longterm.compute_tpr_curves(trajectory, scores.tolist(), peer, thresholds)
        curves.append((list(zip(pr, re, strict=True)), thresholds))
    averaged = longterm.PrecisionRecallCurve().aggregate(None, sequences, curves)
    f_curves = longterm.FScoreCurve().compute(None, ["t"], sequences, [[averaged]])
    peer_pr, peer_re, peer_f = longterm.PrecisionRecall().compute(
        None, ["t"], sequences, [[averaged], f_curves]
    )[0, 0]

    np.testing.assert_allclose(ours.thresholds, thresholds, atol=0)
    np.testing.assert_allclose(ours.recall_curve, [p[0] for p in averaged[0]], atol=1e-6)
    np.testing.assert_allclose(ours.precision_curve, [p[1] for p in averaged[0]], atol=1e-6)
    assert ours.precision == pytest.approx(peer_pr, abs=1e-6)
    assert ours.recall == pytest.approx(peer_re, abs=1e-6)
    assert ours.f_score == pytest.approx(peer_f, abs=1e-6)
    assert 0.05 < ours.f_score < 0.95  # a non-trivial operating point was compared
