"""Turn DiMP score maps into a target displacement and a confidence flag (ATOM/DiMP "advanced").

The flag drives the tracker: ``normal`` and ``hard_negative`` update the model (the latter with a
higher learning rate, because a distractor is near), ``uncertain`` keeps the model frozen,
``not_found`` keeps even the box frozen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NORMAL = "normal"
HARD_NEGATIVE = "hard_negative"
UNCERTAIN = "uncertain"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class LocalizationParams:
    """Thresholds of ``localize_advanced`` (names as in the reference parameter files)."""

    target_not_found_threshold: float
    distractor_threshold: float
    hard_negative_threshold: float
    target_neighborhood_scale: float
    displacement_scale: float
    uncertain_threshold: float | None = None
    hard_sample_threshold: float | None = None


@dataclass(frozen=True)
class Localization:
    """Result: image-pixel ``translation`` ``(dy, dx)`` from the chosen sample's centre."""

    translation: np.ndarray
    scale_index: int
    flag: str
    max_score: float


def hann_window(size: tuple[int, int]) -> np.ndarray:
    """Centred 2-D cosine window of the score map's size (zero just outside the map)."""
    rows, cols = (0.5 * (1 - np.cos(2 * math.pi / (n + 1) * np.arange(1, n + 1))) for n in size)
    return np.outer(rows, cols)


def max2d(scores: np.ndarray) -> tuple[float, np.ndarray]:
    """Maximum and its ``(row, col)``; ties resolve column-first like the reference's max2d."""
    col_max = scores.max(axis=0)
    col = int(np.argmax(col_max))
    row = int(np.argmax(scores[:, col]))
    return float(scores[row, col]), np.array([row, col], dtype=np.float64)


def localize_advanced(
    scores: np.ndarray,
    sample_pos: np.ndarray,
    sample_scales: np.ndarray,
    pos: np.ndarray,
    target_sz: np.ndarray,
    img_support_sz: np.ndarray,
    kernel_size: int,
    params: LocalizationParams,
    window: np.ndarray | None = None,
    hard_negatives_unwindowed: bool = False,
) -> Localization:
    """Find the target in ``scores`` (S, H, W) and classify the situation.

    ``pos``/``target_sz`` are the previous target state in image pixels, ``sample_pos``
    (S, 2) / ``sample_scales`` (S,) where each score map was sampled. An even filter
    (``kernel_size``) adds one score cell, so a cell is img_support_sz / (score size - 1).
    With ``window`` the maxima are searched in the windowed map; the distractor search uses the
    raw map when ``hard_negatives_unwindowed``.
    """
    scores_hn = scores
    if window is not None:
        windowed = scores * window
        if not hard_negatives_unwindowed:
            scores_hn = windowed
        scores = windowed
    score_sz = np.array(scores.shape[-2:], dtype=np.float64)
    score_centre = (score_sz - 1) / 2
    output_sz = score_sz - (kernel_size + 1) % 2

    per_scale = [max2d(s) for s in scores]
    scale_index = int(np.argmax([m for m, _ in per_scale]))
    max1, disp1 = per_scale[scale_index]
    cell = img_support_sz / output_sz * float(sample_scales[scale_index])
    offset1 = disp1 - score_centre
    translation1 = offset1 * cell

    def result(translation: np.ndarray, flag: str) -> Localization:
        return Localization(translation, scale_index, flag, max1)

    if max1 < params.target_not_found_threshold:
        return result(translation1, NOT_FOUND)
    if params.uncertain_threshold is not None and max1 < params.uncertain_threshold:
        return result(translation1, UNCERTAIN)
    if params.hard_sample_threshold is not None and max1 < params.hard_sample_threshold:
        return result(translation1, HARD_NEGATIVE)

    masked = _mask_target_neighbourhood(
        scores_hn[scale_index],
        disp1,
        params.target_neighborhood_scale
        * (target_sz / sample_scales[scale_index])
        * (output_sz / img_support_sz),
    )
    max2, disp2 = max2d(masked)
    offset2 = disp2 - score_centre
    translation2 = offset2 * cell

    if max2 > params.distractor_threshold * max1:
        previous = (pos - sample_pos[scale_index]) / cell
        dist1 = float(np.linalg.norm(offset1 - previous))
        dist2 = float(np.linalg.norm(offset2 - previous))
        threshold = params.displacement_scale * math.sqrt(score_sz[0] * score_sz[1]) / 2
        if dist2 > threshold and dist1 < threshold:
            return result(translation1, HARD_NEGATIVE)
        if dist2 < threshold and dist1 > threshold:
            return result(translation2, HARD_NEGATIVE)
        return result(translation1, UNCERTAIN)
    if max2 > params.hard_negative_threshold * max1 and max2 > params.target_not_found_threshold:
        return result(translation1, HARD_NEGATIVE)
    return result(translation1, NORMAL)


def _mask_target_neighbourhood(
    scores: np.ndarray, peak: np.ndarray, neighbourhood: np.ndarray
) -> np.ndarray:
    """Zero the cells around ``peak`` (Python rounding, as the reference) to find a distractor."""
    height, width = scores.shape
    top = max(round(peak[0] - neighbourhood[0] / 2), 0)
    bottom = min(round(peak[0] + neighbourhood[0] / 2 + 1), height)
    left = max(round(peak[1] - neighbourhood[1] / 2), 0)
    right = min(round(peak[1] + neighbourhood[1] / 2 + 1), width)
    masked = scores.copy()
    masked[top:bottom, left:right] = 0
    return masked
