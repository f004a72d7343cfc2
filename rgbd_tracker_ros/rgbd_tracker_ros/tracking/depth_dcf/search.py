"""Where to look: the per-frame search plans, the re-detection variants and frame tiles.

Pure geometry and bookkeeping (no tensors), so the tracker's frame logic reads as a sequence
of decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rgbd_tracker_ros.tracking.depth_dcf.params import DepthDCFParams
from rgbd_tracker_ros.tracking.depth_dcf.patches import Region


@dataclass(frozen=True)
class SearchCandidate:
    """One search patch: size factor and turn (radians) relative to the current estimate, and
    the weight its response gets (below 1 off-centre, so noise does not jitter the estimate)."""

    scale: float
    turn: float
    weight: float


@dataclass(frozen=True)
class SearchPlan:
    """The patches searched in one frame: candidates, and which of them lie along the scale
    and the turn axis (indices in step order; empty when that axis is not searched)."""

    candidates: list[SearchCandidate]
    scale_axis: list[int]
    turn_axis: list[int]

    @property
    def centre(self) -> int:
        """Index of the unscaled, unturned candidate."""
        return next(i for i, c in enumerate(self.candidates) if c.scale == 1.0 and c.turn == 0.0)


def search_plans(params: DepthDCFParams) -> list[SearchPlan]:
    """Per-frame search plans, used in turn: the scale steps and (if enabled) one turn each
    way around the current estimate; with ``alternate_search`` scale and turn take turns,
    which saves two patches a frame."""
    half = params.num_scales // 2
    scales = [
        SearchCandidate(params.scale_step**k, 0.0, 1.0 if k == 0 else params.scale_penalty)
        for k in range(-half, half + 1)
    ]
    scale_axis = list(range(len(scales)))
    turn = math.radians(params.rotation_step_deg)
    if turn <= 0.0:
        return [SearchPlan(scales, scale_axis, [])]
    turned = [
        SearchCandidate(1.0, -turn, params.rotation_penalty),
        SearchCandidate(1.0, turn, params.rotation_penalty),
    ]
    if params.alternate_search:
        turns = [turned[0], scales[half], turned[1]]
        return [SearchPlan(scales, scale_axis, []), SearchPlan(turns, [], [0, 1, 2])]
    together = scales + turned
    return [SearchPlan(together, scale_axis, [len(scales), half, len(scales) + 1])]


def refined_step(values: list[float]) -> float:
    """Where the maximum of responses sampled at steps -h..h lies, to a fraction of a step.

    A parabola through the best sample and its neighbours, so a target that turns or
    grows by less than one search step per frame is followed smoothly instead of in jumps.
    """
    if not values:
        return 0.0
    best = int(np.argmax(values))
    middle = (len(values) - 1) / 2
    if 0 < best < len(values) - 1:
        left, centre, right = values[best - 1], values[best], values[best + 1]
        curvature = left - 2.0 * centre + right
        if curvature < 0.0:
            return best - middle + min(max(0.5 * (left - right) / curvature, -0.5), 0.5)
    return best - middle


def signed_cell_offset(index: float, size: int) -> float:
    """Circular response index -> displacement in cells (indices past the middle are negative)."""
    return index - size if index > size / 2 else index


def redetection_variants(params: DepthDCFParams) -> list[SearchCandidate]:
    """Size and angle changes tried in turn while LOST (the target may come back changed)."""
    variants = [SearchCandidate(scale, 0.0, 1.0) for scale in params.redetect_scale_factors]
    variants += [SearchCandidate(1.0, math.radians(t), 1.0) for t in params.redetect_turns_deg]
    return variants or [SearchCandidate(1.0, 0.0, 1.0)]


def sweep_regions(
    width: int, height: int, tile_side: float, centre_band: float, angle: float
) -> list[Region]:
    """Square tiles whose bands of possible target centres (``centre_band`` wide) cover the
    frame."""
    columns = max(1, math.ceil(width / centre_band))
    rows = max(1, math.ceil(height / centre_band))
    return [
        Region((col + 0.5) * width / columns, (row + 0.5) * height / rows, tile_side, angle)
        for row in range(rows)
        for col in range(columns)
    ]
