"""``depth_dcf``: the weight-free, depth-aware correlation-filter tracker (the package default).

Per frame: sample the search region around the last position at a few scales and angles,
correlate the learned filter with their features, take the best peak; check the box's depth
for something in front of the target; decide the state; learn only from confident frames.
The size follows the target's depth (apparent size ~ 1 / depth) trimmed by the scale search,
and the patches turn with the target, so the box stays tight on a rotating target. Once
LOST, the filter (as a spatial template) scans a wide region around the last position, then
the whole frame, and tracking resumes only on a strong match.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rgbd_tracker_ros.geometry import robust_target_depth, validate_init_box
from rgbd_tracker_ros.tracking.api import BoxXYWH, Frame, ScoreMap, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.dcf.confidence import (
    TrackingStateMachine,
    find_peak,
    histogram_similarity,
    occluder_share,
)
from rgbd_tracker_ros.tracking.dcf.features import (
    chroma_cells,
    chroma_histogram,
    extract_features,
)
from rgbd_tracker_ros.tracking.dcf.filter import CorrelationFilter, wide_response
from rgbd_tracker_ros.tracking.dcf.inputs import frame_arrays
from rgbd_tracker_ros.tracking.dcf.params import TRACKER_NAME, DepthDCFParams
from rgbd_tracker_ros.tracking.dcf.patches import FrameSampler, Region

logger = logging.getLogger(__name__)

# Pyramid levels the sampler may build (level k halves the image k times): enough for a
# target filling a 4K frame to be sampled into the default patch without aliasing.
MAX_PYRAMID_LEVEL = 5


@dataclass
class Target:
    """The tracker's belief: centre, size along the target's own axes (pixels), the angle
    those axes are turned by (radians), and depth (metres, None when unknown)."""

    centre_x: float
    centre_y: float
    width: float
    height: float
    angle: float
    depth: float | None

    @property
    def box(self) -> BoxXYWH:
        """Axis-aligned box around the (possibly turned) target rectangle."""
        cos, sin = abs(math.cos(self.angle)), abs(math.sin(self.angle))
        width = cos * self.width + sin * self.height
        height = sin * self.width + cos * self.height
        return (self.centre_x - 0.5 * width, self.centre_y - 0.5 * height, width, height)


@dataclass(frozen=True)
class SearchCandidate:
    """One search patch per frame: size factor and turn relative to the current estimate, and
    the weight its response gets (below 1 off-centre, so noise does not jitter the estimate)."""

    scale: float
    turn: float
    weight: float


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


def redetection_variants(params: DepthDCFParams) -> list[SearchCandidate]:
    """Size and angle changes tried in turn while LOST (the target may come back changed)."""
    variants = [SearchCandidate(scale, 0.0, 1.0) for scale in params.redetect_scale_factors]
    variants += [SearchCandidate(1.0, math.radians(t), 1.0) for t in params.redetect_turns_deg]
    return variants or [SearchCandidate(1.0, 0.0, 1.0)]


def central_box(box: BoxXYWH, fraction: float) -> BoxXYWH:
    """The centred part of ``box`` holding ``fraction`` of its width and height."""
    x, y, w, h = box
    margin = 0.5 * (1.0 - fraction)
    return (x + margin * w, y + margin * h, fraction * w, fraction * h)


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


def signed_cell_offset(index: float, size: int) -> float:
    """Circular response index -> displacement in cells (indices past the middle are negative)."""
    return index - size if index > size / 2 else index


class DepthDCFTracker:
    """Depth-aware DCF tracker implementing the ``Tracker`` protocol."""

    name = TRACKER_NAME

    def __init__(self, params: DepthDCFParams) -> None:
        self.params = params
        self.device = params.torch_device()
        self.features = params.feature_settings()
        self.state_machine = TrackingStateMachine(params.thresholds())
        self.search_plans = search_plans(params)
        self.redetection_variants = redetection_variants(params)
        self.frame_index = 0
        self.wide_patch_px = params.cell_size_px * round(
            params.patch_size_px * params.redetect_region_factor / params.cell_size_px
        )
        self.filter: CorrelationFilter | None = None
        self.target: Target | None = None
        self.init_size = (1.0, 1.0)
        self.psr_exclusion = 1
        self.lost_frames = 0
        self.unseen_frames = 0
        self.template: torch.Tensor | None = None
        self.colour_model: torch.Tensor | None = None
        self._said: set[str] = set()

    # --- public API ---------------------------------------------------------------------------

    def initialize(self, frame: Frame, box_xywh: BoxXYWH) -> None:
        """Learn the target from ``box_xywh``; clipped to the image, tiny boxes enlarged.

        Raises ValueError when the box is unusable (non-finite, empty, outside the image) or
        the frame is not an image.
        """
        color, depth = frame_arrays(frame, self._say_once)
        height, width = color.shape[:2]
        box, reason = validate_init_box(box_xywh, width, height, min_size=0.0)
        if box is None:
            raise ValueError(f"depth_dcf: cannot initialise on box {list(box_xywh)}: {reason}")
        if reason:
            logger.warning("depth_dcf: %s", reason)
        x, y, w, h = box
        size_w = max(w, self.params.min_target_size_px)
        size_h = max(h, self.params.min_target_size_px)
        self.target = Target(x + 0.5 * w, y + 0.5 * h, size_w, size_h, angle=0.0, depth=None)
        self.init_size = (size_w, size_h)
        self.target.depth = self._measure_depth(depth, self.target.box)

        # The label and the PSR window scale with the target's size in cells, which stays
        # fixed because the search region scales with the target.
        target_cells = math.sqrt(size_w * size_h) / self._search_side() * self.params.grid_size
        label_sigma = self.params.label_sigma_factor * target_cells
        self.psr_exclusion = max(1, math.ceil(self.params.psr_exclusion_sigmas * label_sigma))
        self.filter = CorrelationFilter(
            self.params.grid_size, label_sigma, self.params.regularisation, self.device
        )
        self.state_machine.reset()
        self.lost_frames = 0
        self.unseen_frames = 0
        self.template = None
        sampler = FrameSampler(color, depth, MAX_PYRAMID_LEVEL)
        self._learn_centred(sampler, rate=1.0)

    def track(self, frame: Frame) -> TrackResult:
        """One frame: TRACKING / UNCERTAIN / LOST with the box, score and score map.

        Raises ValueError only when ``frame`` is not an image. The score map lies in the
        search patch's frame, which is turned by the target's angle (axis-aligned when the
        target has not rotated).
        """
        start = time.perf_counter()
        color, depth = frame_arrays(frame, self._say_once)
        if self.target is None or self.filter is None:
            return TrackResult((0.0, 0.0, 0.0, 0.0), 0.0, TrackerState.IDLE)
        sampler = FrameSampler(color, depth, MAX_PYRAMID_LEVEL)
        if self.state_machine.state == TrackerState.LOST:
            result = self._redetect(sampler, depth)
        else:
            result = self._local_search(sampler, depth)
        result.timings["track"] = time.perf_counter() - start
        return result

    # --- one frame ----------------------------------------------------------------------------

    def _local_search(self, sampler: FrameSampler, depth: np.ndarray | None) -> TrackResult:
        assert self.target is not None and self.filter is not None
        target = self.target
        side = self._search_side()
        self.frame_index += 1
        plan = self.search_plans[self.frame_index % len(self.search_plans)]
        regions = [
            Region(target.centre_x, target.centre_y, side * c.scale, target.angle + c.turn)
            for c in plan.candidates
        ]
        features = self._features(sampler, regions, self.params.patch_size_px)
        responses = self.filter.respond(features)
        peaks = responses.amax(dim=(1, 2)).tolist()
        strengths = [v * c.weight for v, c in zip(peaks, plan.candidates, strict=True)]
        best = int(np.argmax(strengths))
        peak = find_peak(responses[best], self.psr_exclusion)

        grid, cell = self.params.grid_size, self.params.cell_size_px
        offset = (signed_cell_offset(peak.row, grid), signed_cell_offset(peak.col, grid))
        centre = 0.5 * self.params.patch_size_px
        candidate_x, candidate_y = regions[best].to_image(
            centre + offset[1] * cell, centre + offset[0] * cell, self.params.patch_size_px
        )
        _, _, box_w, box_h = target.box
        candidate_box = (candidate_x - 0.5 * box_w, candidate_y - 0.5 * box_h, box_w, box_h)
        occluded = self._is_occluded(depth, candidate_box)
        candidate_depth = None if occluded else self._measure_depth(depth, candidate_box)
        consistent = self._depth_agrees(candidate_depth) and self._colours_agree(
            features[best : best + 1], offset
        )
        state = self.state_machine.after_local_search(peak, occluded, consistent)
        self.unseen_frames = 0 if state == TrackerState.TRACKING else self.unseen_frames + 1

        # A partly hidden target still gives a usable peak: the box follows it, but neither
        # the size nor the model may learn from an occluded box. A peak whose depth or colours
        # disagree with the target (a look-alike) is not followed.
        follows_weak_peak = consistent and peak.value >= self.params.follow_score
        moves = state == TrackerState.TRACKING or (
            state == TrackerState.UNCERTAIN and follows_weak_peak
        )
        if moves:
            target.centre_x, target.centre_y = self._clamp_to_image(
                candidate_x, candidate_y, sampler
            )
        if moves and not occluded:
            # Scale and turn searches are trusted on confident frames only; depth whenever the
            # box is on the target, so a target approaching while weakly matched keeps its
            # size (and is not mistaken for its own occluder later).
            confident = state == TrackerState.TRACKING
            scale_steps, turn_steps = (0.0, 0.0)
            if confident:
                scale_steps = refined_step([strengths[i] for i in plan.scale_axis])
                turn_steps = refined_step([strengths[i] for i in plan.turn_axis])
            self._update_size(self.params.scale_step**scale_steps, candidate_depth)
            turn = math.radians(self.params.rotation_step_deg) * turn_steps
            target.angle += self.params.rotation_rate * turn
        if self.state_machine.may_learn(peak):
            self._learn_found(sampler, features[best : best + 1], offset)
        if state == TrackerState.LOST:
            self._start_redetection()

        # The score is the response where the box ends up: the peak when the box followed it,
        # else the response at the held position (so a look-alike elsewhere does not lend
        # the held box its score).
        score = peak.value if moves else float(responses[plan.centre, 0, 0])
        score_map = torch.fft.fftshift(responses[best]).cpu().numpy()
        return TrackResult(
            target.box, score, state, ScoreMap(score_map, self._map_box(regions[best]))
        )

    def _redetect(self, sampler: FrameSampler, depth: np.ndarray | None) -> TrackResult:
        """Scan a wide region with the filter as a template; TRACKING again on a strong match."""
        assert self.target is not None and self.filter is not None
        target = self.target
        self.lost_frames += 1
        self.unseen_frames += 1
        variant = self.redetection_variants[(self.lost_frames - 1) % len(self.redetection_variants)]
        region = self._redetection_region(sampler, variant)
        features = self._features(sampler, [region], self.wide_patch_px)
        if self.template is None:
            self.template = self.filter.spatial_template()
        scores = wide_response(self.template, features[0])
        peak = find_peak(scores, self.psr_exclusion)
        # Score (i, j) is a search patch whose top-left cell is (i, j): its centre lies half
        # a patch (half a grid) further.
        cell, half_patch = self.params.cell_size_px, 0.5 * self.params.patch_size_px
        found_x, found_y = region.to_image(
            peak.col * cell + half_patch, peak.row * cell + half_patch, self.wide_patch_px
        )
        verified, found_depth = False, None
        if self.state_machine.is_redetection(peak):
            half_grid = 0.5 * self.params.grid_size
            box_w, box_h = target.box[2] * variant.scale, target.box[3] * variant.scale
            found_box = (found_x - 0.5 * box_w, found_y - 0.5 * box_h, box_w, box_h)
            found_depth = self._measure_depth(depth, found_box)
            verified = self._depth_agrees(found_depth, self.unseen_frames) and (
                self._colour_similarity(features, peak.row + half_grid, peak.col + half_grid)
                >= self.params.redetect_colour_similarity
            )
        state = self.state_machine.after_redetection(peak, verified)
        if state == TrackerState.TRACKING:
            target.centre_x, target.centre_y = found_x, found_y
            target.angle = region.angle
            self._set_size(target.width * variant.scale, target.height * variant.scale)
            target.depth = found_depth or target.depth
            self.lost_frames = 0

        pixels_per_patch_px = region.side / self.wide_patch_px
        first_x, first_y = region.xywh[:2]
        map_origin = (half_patch - 0.5 * cell) * pixels_per_patch_px
        map_box = (
            first_x + map_origin,
            first_y + map_origin,
            scores.shape[1] * cell * pixels_per_patch_px,
            scores.shape[0] * cell * pixels_per_patch_px,
        )
        return TrackResult(target.box, peak.value, state, ScoreMap(scores.cpu().numpy(), map_box))

    # --- learning -----------------------------------------------------------------------------

    def _learn_centred(self, sampler: FrameSampler, rate: float) -> None:
        """One training sample sampled centred on the current target estimate."""
        assert self.target is not None and self.filter is not None
        target = self.target
        region = Region(target.centre_x, target.centre_y, self._search_side(), target.angle)
        features = self._features(sampler, [region], self.params.patch_size_px)
        self.filter.learn(features, rate)
        self._learn_colours(features, (0.0, 0.0), rate)
        self.template = None

    def _learn_found(
        self, sampler: FrameSampler, features: torch.Tensor, offset: tuple[float, float]
    ) -> None:
        """Learn from the search patch the target was found in, if it sits near its centre."""
        assert self.filter is not None
        rate = self.params.learning_rate
        if max(abs(offset[0]), abs(offset[1])) <= self.params.reuse_patch_max_offset * (
            self.params.grid_size
        ):
            self.filter.learn(features, rate, offset)
            self._learn_colours(features, offset, rate)
            self.template = None
        else:
            self._learn_centred(sampler, rate)

    def _learn_colours(
        self, features: torch.Tensor, offset: tuple[float, float], rate: float
    ) -> None:
        """Blend the chroma histogram of the target's cells into the colour model."""
        half_grid = 0.5 * self.params.grid_size
        histogram = self._target_chroma(features, half_grid + offset[0], half_grid + offset[1])
        if self.colour_model is None or rate >= 1.0:
            self.colour_model = histogram
        else:
            self.colour_model.mul_(1.0 - rate).add_(histogram, alpha=rate)

    def _colour_similarity(self, features: torch.Tensor, row: float, col: float) -> float:
        """How well the colours of the target-sized cells around (row, col) match the model."""
        if self.colour_model is None:
            return 1.0
        return histogram_similarity(self._target_chroma(features, row, col), self.colour_model)

    def _target_chroma(self, features: torch.Tensor, row: float, col: float) -> torch.Tensor:
        """Chroma histogram of the cells the target covers when centred at (row, col)
        (grid coordinates, cell edges; the patch is turned with the target, so its box is
        axis-aligned there)."""
        assert self.target is not None
        cells_per_pixel = self.params.grid_size / self._search_side()
        half_h = 0.5 * self.target.height * cells_per_pixel
        half_w = 0.5 * self.target.width * cells_per_pixel
        rows, cols = features.shape[-2], features.shape[-1]
        top, bottom = max(0, round(row - half_h)), min(rows, max(round(row + half_h), 1))
        left, right = max(0, round(col - half_w)), min(cols, max(round(col + half_w), 1))
        top, left = min(top, bottom - 1), min(left, right - 1)
        chroma = chroma_cells(features[:, :, top:bottom, left:right], self.features)[0]
        return chroma_histogram(
            chroma, self.params.colour_histogram_bins, self.params.colour_histogram_extent
        )

    def _features(
        self, sampler: FrameSampler, regions: list[Region], patch_size: int
    ) -> torch.Tensor:
        assert self.target is not None
        depth_size = self.params.depth_patch_px(patch_size)
        color, depth = sampler.patches(regions, patch_size, depth_size, self.device)
        target_depth = self.target.depth if self.target.depth is not None else 0.0
        return extract_features(color, depth, target_depth, self.features)

    # --- geometry and depth -------------------------------------------------------------------

    def _search_side(self) -> float:
        assert self.target is not None
        w, h = self.target.width, self.target.height
        return max(
            self.params.search_area_factor * math.sqrt(w * h),
            self.params.min_context_factor * max(w, h),
        )

    def _map_box(self, region: Region) -> BoxXYWH:
        """Image box of a search response: one cell per score, centred on its position."""
        half_cell = 0.5 * self.params.cell_size_px * region.side / self.params.patch_size_px
        x, y, w, h = region.xywh
        return (x - half_cell, y - half_cell, w, h)

    def _is_occluded(self, depth: np.ndarray | None, box: BoxXYWH) -> bool:
        """Something in front of the target's depth fills a good part of the box."""
        assert self.target is not None
        if depth is None or self.target.depth is None:
            return False
        central = central_box(box, self.params.occlusion_box_fraction)
        share = occluder_share(depth, central, self.target.depth, self.params.occlusion_margin_m)
        return share >= self.params.occlusion_share

    def _depth_agrees(self, measured: float | None, unseen_frames: int = 0) -> bool:
        """The box's depth is within the target's plausible motion since it was last seen
        (``unseen_frames`` ago, 0 = last frame)."""
        assert self.target is not None
        if measured is None or self.target.depth is None:
            return True
        tolerance = (
            self.params.max_depth_change
            + self.params.redetect_depth_change_per_frame * unseen_frames
        )
        return abs(measured - self.target.depth) <= tolerance * self.target.depth

    def _colours_agree(self, features: torch.Tensor, offset: tuple[float, float]) -> bool:
        """The colours at the peak match the colour model (a look-alike of another hue fails)."""
        half_grid = 0.5 * self.params.grid_size
        similarity = self._colour_similarity(features, half_grid + offset[0], half_grid + offset[1])
        return similarity >= self.params.track_colour_similarity

    def _update_size(self, scale_factor: float, measured_depth: float | None) -> None:
        """New size = old size x (old depth / new depth) x a share of the winning scale step."""
        assert self.target is not None
        target = self.target
        old_depth = target.depth
        self._follow_depth(measured_depth)
        with_depth = old_depth is not None and target.depth is not None
        rate = (
            self.params.scale_rate_with_depth
            if with_depth
            else self.params.scale_rate_without_depth
        )
        change = scale_factor**rate
        if old_depth is not None and target.depth is not None:
            change *= old_depth / target.depth
        self._set_size(target.width * change, target.height * change)

    def _follow_depth(self, measured: float | None) -> None:
        """Blend in the box's depth unless it jumped (an occluder or the background took over)."""
        assert self.target is not None
        target = self.target
        if measured is None:
            return
        if target.depth is None:
            target.depth = measured
        elif self._depth_agrees(measured):
            target.depth += self.params.depth_rate * (measured - target.depth)

    def _measure_depth(self, depth: np.ndarray | None, box: BoxXYWH) -> float | None:
        """Robust depth in ``box``, read on a grid of about ``depth_read_pixels``."""
        if depth is None:
            return None
        x, y, w, h = box
        stride = max(1, int(math.sqrt(w * h / self.params.depth_read_pixels)))
        strided = (x / stride, y / stride, w / stride, h / stride)
        estimate = robust_target_depth(
            depth[::stride, ::stride], strided, self.params.depth_params()
        )
        if estimate is None:
            self._say_once("box-depth", "no valid depth in the target box: size from colour only")
            return None
        return estimate.depth

    def _set_size(self, width: float, height: float) -> None:
        """Apply a new size, kept within [min_scale, max_scale] of the init size."""
        assert self.target is not None
        init_w, init_h = self.init_size
        scale = min(max(width / init_w, self.params.min_scale), self.params.max_scale)
        self.target.width = init_w * scale
        self.target.height = init_h * scale

    def _clamp_to_image(
        self, centre_x: float, centre_y: float, sampler: FrameSampler
    ) -> tuple[float, float]:
        """The centre never leaves the image: a target moving out is LOST, not followed outside."""
        height, width = sampler.size
        return min(max(centre_x, 0.0), float(width)), min(max(centre_y, 0.0), float(height))

    # --- re-detection -------------------------------------------------------------------------

    def _start_redetection(self) -> None:
        self.lost_frames = 0

    def _redetection_region(self, sampler: FrameSampler, variant: SearchCandidate) -> Region:
        """Around the last position first; later alternate with the next whole-frame tile."""
        assert self.target is not None
        target = self.target
        search_side = self._search_side() * variant.scale
        wide_side = search_side * self.wide_patch_px / self.params.patch_size_px
        angle = target.angle + variant.turn
        sweeping_frame = self.lost_frames - self.params.redetect_local_frames
        if sweeping_frame <= 0 or sweeping_frame % 2 == 1:
            return Region(target.centre_x, target.centre_y, wide_side, angle)
        height, width = sampler.size
        band = max(wide_side - search_side, search_side)
        tiles = sweep_regions(width, height, wide_side, band, angle)
        return tiles[(sweeping_frame // 2) % len(tiles)]

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            logger.warning("depth_dcf: %s", message)


def build(params: Mapping[str, Any]) -> DepthDCFTracker:
    """Registry factory: YAML defaults from ``config/trackers/depth_dcf.yaml`` plus ``params``."""
    return DepthDCFTracker(DepthDCFParams.from_overrides(params))
