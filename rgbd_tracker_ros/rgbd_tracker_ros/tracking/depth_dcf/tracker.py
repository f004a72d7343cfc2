"""``depth_dcf``: the weight-free, depth-aware correlation-filter tracker (the package default).

Built from known parts, not one paper: the correlation filter of MOSSE (Bolme et al., "Visual
Object Tracking using Adaptive Correlation Filters", CVPR 2010) in DSST's multichannel form
(Danelljan et al., "Accurate Scale Estimation for Robust Visual Tracking", BMVC 2014); size from
depth and occlusion from depth as in DS-KCF (Camplani et al., "Real-time RGB-D Tracking with
Depth Scaling Kernelised Correlation Filters and Occlusion Handling", BMVC 2015); the lost /
re-detection states after SiamRPN++'s long-term variant (Li et al., CVPR 2019).

Per frame: sample the search region around the last position at a few scales and angles,
correlate the learned filter with their features, take the best peak; check the box's depth
for something in front of the target; decide the state; learn only from confident frames.
The size follows the target's depth (apparent size ~ 1 / depth) trimmed by the scale search,
and the patches turn with the target, so the box stays tight on a rotating target. Once
LOST, the filter (as a spatial template) scans a wide region around the last position, then
the whole frame; the best match is looked at again at the size its depth implies, and
tracking resumes only on a strong match at a depth the target can have reached.

Look-alikes (a second box of the same print) are scanned for around the target now and then
and remembered with their depth (``distractors.py``); a peak that fits one of them better
than the target is never followed, learned or re-detected. Frames are brought back to the
brightness the target was learned at, so a dimmed light leaves the features as they were.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from rgbd_tracker_ros.geometry import BoxXYWH, robust_target_depth, validate_init_box
from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.depth_dcf.colour import CellBox, ColourModel
from rgbd_tracker_ros.tracking.depth_dcf.confidence import (
    DepthShares,
    Peak,
    TrackingStateMachine,
    central_box,
    depth_shares,
    find_peak,
)
from rgbd_tracker_ros.tracking.depth_dcf.distractors import (
    Candidate,
    DistractorMemory,
    local_peaks,
    mismatch,
)
from rgbd_tracker_ros.tracking.depth_dcf.features import extract_features
from rgbd_tracker_ros.tracking.depth_dcf.filter import CorrelationFilter, wide_response
from rgbd_tracker_ros.tracking.depth_dcf.inputs import frame_arrays
from rgbd_tracker_ros.tracking.depth_dcf.params import TRACKER_NAME, DepthDCFParams
from rgbd_tracker_ros.tracking.depth_dcf.patches import FrameSampler, Region
from rgbd_tracker_ros.tracking.depth_dcf.search import (
    SearchCandidate,
    SearchPlan,
    redetection_variants,
    refined_step,
    search_plans,
    signed_cell_offset,
    sweep_regions,
)

LOG = logging.getLogger(__name__)

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
class Sighting:
    """What one frame's local search saw: the winning patch (region, features, response),
    the peak in it, and where that puts the target centre in the image."""

    plan: SearchPlan
    strengths: list[float]
    region: Region
    features: torch.Tensor
    response: torch.Tensor
    held_score: float
    peak: Peak
    offset: tuple[float, float]
    centre_x: float
    centre_y: float


@dataclass(frozen=True)
class WideMatch:
    """The template's best placement in a wide re-detection region sampled for a target
    ``scale`` times the current size that is no known look-alike: the region, its features
    and scores, the peak, where that puts the target centre in the image, and the score of
    the next such placement (``runner_up``, 0 when none). ``lookalike``: every placement
    found is a known look-alike (the peak is then the best of them)."""

    region: Region
    scale: float
    features: torch.Tensor
    scores: torch.Tensor
    peak: Peak
    centre_x: float
    centre_y: float
    runner_up: float
    lookalike: bool


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
        self.frames = 0
        self.reference_brightness = 1.0
        self.last_scan: int | None = None
        self.clock = 0.0
        self.last_stamp: float | None = None
        self.seen_at = 0.0
        self.seen_score = 1.0
        self.distractors = DistractorMemory(params.distractor_gates())
        self.scale_correction = 1.0
        self.template: torch.Tensor | None = None
        self.colour_model = ColourModel(
            self.features, params.color_histogram_bins, params.color_histogram_extent
        )
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
        if reason and not np.allclose(box, box_xywh):
            LOG.warning("depth_dcf: %s", reason)
        x, y, w, h = box
        size_w = max(w, self.params.min_target_size_px)
        size_h = max(h, self.params.min_target_size_px)
        self.target = Target(x + 0.5 * w, y + 0.5 * h, size_w, size_h, angle=0.0, depth=None)
        self.init_size = (size_w, size_h)
        self.target.depth = self._measure_depth(depth, self.target.box)

        # The label and the PSR window scale with the target's size in cells, which stays
        # fixed because the search region scales with the target.
        label_sigma = self.params.label_sigma_factor * self._target_size_cells()
        self.psr_exclusion = max(1, math.ceil(self.params.psr_exclusion_sigmas * label_sigma))
        self.filter = CorrelationFilter(
            self.params.grid_size, label_sigma, self.params.regularisation, self.device
        )
        self.state_machine.reset()
        self.frame_index = 0
        self.lost_frames = 0
        self.frames = 0
        self.last_scan = None
        self.clock = 0.0
        self.last_stamp = frame.stamp
        self.distractors.clear()
        self._saw_target(1.0)
        self.scale_correction = 1.0
        self.template = None
        self.reference_brightness = _brightness(color)
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
        self._tick(frame.stamp)
        sampler = FrameSampler(color, depth, MAX_PYRAMID_LEVEL, self._gain(color))
        if self.state_machine.state == TrackerState.LOST:
            result = self._redetect(sampler, depth)
        else:
            result = self._local_search(sampler, depth)
        result.timings["track"] = time.perf_counter() - start
        return result

    # --- one frame ----------------------------------------------------------------------------

    def _search(self) -> tuple[SearchPlan, list[Region]]:
        """This frame's search plan and its patches around the current estimate."""
        assert self.target is not None
        target = self.target
        self.frame_index += 1
        plan = self.search_plans[self.frame_index % len(self.search_plans)]
        side = self._search_side()
        regions = [
            Region(target.centre_x, target.centre_y, side * c.scale, target.angle + c.turn)
            for c in plan.candidates
        ]
        return plan, regions

    def _sight(self, sampler: FrameSampler) -> Sighting:
        """Correlate the filter with this frame's search patches and take the best peak."""
        assert self.filter is not None
        plan, regions = self._search()
        features = self._features(sampler, regions, self.params.patch_size_px)
        responses = self.filter.respond(features)
        peaks = responses.amax(dim=(1, 2)).tolist()
        strengths = [v * c.weight for v, c in zip(peaks, plan.candidates, strict=True)]
        best = int(np.argmax(strengths))
        peak = find_peak(responses[best], self.psr_exclusion)
        grid = self.params.grid_size
        offset = (signed_cell_offset(peak.row, grid), signed_cell_offset(peak.col, grid))
        centre_x, centre_y = self._displaced(regions[best], offset)
        return Sighting(
            plan=plan,
            strengths=strengths,
            region=regions[best],
            features=features[best : best + 1],
            response=responses[best],
            held_score=float(responses[plan.centre, 0, 0]),
            peak=peak,
            offset=offset,
            centre_x=centre_x,
            centre_y=centre_y,
        )

    def _gain(self, color: np.ndarray) -> float:
        """Brightness gain that brings the frame back to the brightness the target was
        learned at (a light dimmed to a third is undone), within ``max_gain`` either way."""
        limit = self.params.max_gain
        ratio = self.reference_brightness / max(_brightness(color), 1e-3)
        return min(max(ratio, 1.0 / limit), limit)

    def _displaced(self, region: Region, offset: tuple[float, float]) -> tuple[float, float]:
        """Image position of a search patch's centre moved by ``offset`` (rows, cols) cells."""
        cell, centre = self.params.cell_size_px, 0.5 * self.params.patch_size_px
        return region.to_image(
            centre + offset[1] * cell, centre + offset[0] * cell, self.params.patch_size_px
        )

    def _local_search(self, sampler: FrameSampler, depth: np.ndarray | None) -> TrackResult:
        """Track around the last position: sight, tell the target from known look-alikes,
        check depth and colours, decide, adapt."""
        assert self.target is not None
        target = self.target
        sighting = self._sight(sampler)
        found_box = self._box_at(sighting.centre_x, sighting.centre_y)
        found = Candidate(
            sighting.centre_x,
            sighting.centre_y,
            self._measure_depth(depth, found_box),
            sighting.peak.value,
        )
        # A box that still shows much of the target's depth holds the target, partly hidden
        # (maybe by a look-alike in front, whose depth the box then reads).
        shares = self._depth_shares(depth, found_box)
        partly_hidden = (
            shares is not None
            and shares.at_target >= self.params.occlusion_share
            and not self._depth_agrees(found.depth)
        )
        lookalike = not partly_hidden and self._is_lookalike(found)
        if lookalike:
            self.distractors.observe([found], self.frames, self._target_size())
            other = self._other_peak(sighting, depth)
            if other is not None:
                sighting, found, lookalike = other[0], other[1], False
                found_box = self._box_at(found.x, found.y)
                shares = self._depth_shares(depth, found_box)
        peak, found_depth = sighting.peak, found.depth
        colours_agree = not lookalike and self._colours_agree(sighting.features, sighting.offset)
        # The depth is held while occluded: a target that came nearer meanwhile is re-anchored
        # to its new depth rather than taken for its own occluder (but a known look-alike in
        # front is no target that came nearer).
        occluded = shares is not None and shares.in_front >= self.params.occlusion_share
        if occluded and self._came_nearer(shares, peak, found_depth, colours_agree):
            assert found_depth is not None
            self._reanchor_depth(found_depth)
            occluded = False
        if occluded:
            found_depth = None
        consistent = self._depth_agrees(found_depth) and colours_agree
        state = self.state_machine.after_local_search(peak, occluded, consistent)

        # A partly hidden target still gives a usable peak: the box follows it, but neither
        # the size nor the model may learn from an occluded box. A peak whose depth or colours
        # disagree with the target, or that is a known look-alike, is not followed.
        follows_weak_peak = consistent and peak.value >= self.params.follow_score
        moves = state == TrackerState.TRACKING or (
            state == TrackerState.UNCERTAIN and follows_weak_peak
        )
        if moves:
            target.centre_x, target.centre_y = self._clamp_to_image(
                sighting.centre_x, sighting.centre_y, sampler
            )
        if moves and not occluded:
            self._adapt_shape(sighting, found_depth, confident=state == TrackerState.TRACKING)
        if self.state_machine.may_learn(peak):
            self._learn_found(sampler, sighting.features, sighting.offset)
        if state == TrackerState.TRACKING:
            self._saw_target(peak.value)
        if state == TrackerState.LOST:
            self._start_redetection()
        else:
            self._note_lookalikes(sampler, depth, confident=state == TrackerState.TRACKING)

        # The score is the response where the box ends up: the peak when the box followed it,
        # else the response at the held position (so a look-alike elsewhere does not lend
        # the held box its score).
        score = peak.value if moves else sighting.held_score
        score_map = torch.fft.fftshift(sighting.response).cpu().numpy()
        return TrackResult(
            target.box,
            score,
            state,
            ScoreMap(score_map, self._map_box(sighting.region)),
            occluded=occluded,
        )

    # --- look-alikes ---------------------------------------------------------------------------

    def _note_lookalikes(
        self, sampler: FrameSampler, depth: np.ndarray | None, confident: bool
    ) -> None:
        """Every ``distractor_scan_frames`` frames while not LOST (every
        ``distractor_quiet_scan_frames`` while none is remembered), scan the wide region
        around the target with the template and remember the other peaks as strong as
        ``distractor_ratio`` of the target's last confident one as look-alikes (the search
        patch is too small, and its window too strong, to see one coming before it overlaps
        the target; one overlapping it is noted when it stands at another depth). A peak at
        the target's depth is the target itself when it lies on the box, and anywhere while
        the target is not ``confident`` (the box may then have been left behind)."""
        assert self.target is not None
        params, target = self.params, self.target
        interval = params.distractor_scan_frames
        if not self.distractors.items:
            interval = params.distractor_quiet_scan_frames
        if self.last_scan is not None and self.frames - self.last_scan < interval:
            return
        self.last_scan = self.frames
        side = self._search_side() * self.wide_patch_px / params.patch_size_px
        region = Region(target.centre_x, target.centre_y, side, target.angle)
        scores = self._wide_scores(sampler, region)[1]
        floor = max(params.distractor_ratio * self.seen_score, params.lost_score)
        separation = params.distractor_separation * self._target_size_cells()
        height, width = sampler.size
        seen = []
        for row, col, value in local_peaks(
            scores, floor, separation, params.distractor_count + 1, circular=False
        ):
            x, y = self._wide_position(region, row, col)
            if not (0.0 <= x < width and 0.0 <= y < height):
                continue  # beyond the image edge (the patch repeats the border there)
            measured = self._read_depth(depth, self._box_at(x, y))
            near = math.hypot(x - target.centre_x, y - target.centre_y) < self._target_size()
            if (near or not confident) and self._depth_agrees(measured, self._unseen_time()):
                continue  # maybe the target itself (or a part of it), moved while unseen
            seen.append(Candidate(x, y, measured, value))
        self.distractors.observe(seen[: params.distractor_count], self.frames, self._target_size())

    def _other_peak(
        self, sighting: Sighting, depth: np.ndarray | None
    ) -> tuple[Sighting, Candidate] | None:
        """When the best peak is a known look-alike: the strongest other peak reaching
        ``follow_score`` that is none and lies within the target's reach in depth (the target
        beside a look-alike that outshines it), as the sighting; None when there is none."""
        params, grid = self.params, self.params.grid_size
        separation = params.distractor_separation * self._target_size_cells()
        for row, col, _ in local_peaks(
            sighting.response, params.follow_score, separation, 3, circular=True
        ):
            offset = (signed_cell_offset(row, grid), signed_cell_offset(col, grid))
            if math.hypot(offset[0] - sighting.offset[0], offset[1] - sighting.offset[1]) < (
                separation
            ):
                continue  # the look-alike's own peak
            x, y = self._displaced(sighting.region, offset)
            measured = self._read_depth(depth, self._box_at(x, y))
            candidate = Candidate(x, y, measured, 0.0)
            if self._is_lookalike(candidate) or not self._depth_agrees(
                measured, self._unseen_time()
            ):
                continue
            peak = find_peak(sighting.response, self.psr_exclusion, (row, col))
            offset = (signed_cell_offset(peak.row, grid), signed_cell_offset(peak.col, grid))
            x, y = self._displaced(sighting.region, offset)
            moved = dataclasses.replace(sighting, peak=peak, offset=offset, centre_x=x, centre_y=y)
            return moved, Candidate(x, y, measured, peak.value)
        return None

    def _is_lookalike(self, candidate: Candidate) -> bool:
        """``candidate`` is a known look-alike, not the target: it lies where one was seen
        (within the memory's gates) and fits that look-alike better than it fits the target
        where the target can be by now (``mismatch``: image distance and depth difference,
        each relative to how far the object may have moved). A look-alike unseen for long at
        the target's own depth decides nothing: its image position says too little."""
        assert self.target is not None
        target = self.target
        found = self.distractors.match(candidate, self.frames, self._target_size())
        if found is None:
            return False
        item, fits_item = found
        gates = self.distractors.gates
        fresh = self.frames - item.frame <= gates.growth_frames
        apart = (
            item.depth is not None
            and target.depth is not None
            and abs(item.depth - target.depth) > gates.depth_allowed(0)
        )
        if not (fresh or apart):
            return False
        elapsed = self._unseen_time()
        reach_px = self._target_size() * gates.reach(round(elapsed / self.params.frame_period_s))
        fits_target = mismatch(
            candidate,
            target.centre_x,
            target.centre_y,
            target.depth,
            reach_px,
            self._depth_tolerance(elapsed),
            gates.depth_weight,
        )
        return fits_item < fits_target

    def _target_size_cells(self) -> float:
        """The target's size (geometric mean side) in cells of a search patch."""
        return self._target_size() / self._search_side() * self.params.grid_size

    def _target_size(self) -> float:
        """The target's size (geometric mean side) in pixels."""
        assert self.target is not None
        return math.sqrt(self.target.width * self.target.height)

    def _box_at(self, centre_x: float, centre_y: float, scale: float = 1.0) -> BoxXYWH:
        """The target's image box, ``scale`` times its size, centred at a point."""
        assert self.target is not None
        box_w, box_h = self.target.box[2] * scale, self.target.box[3] * scale
        return (centre_x - 0.5 * box_w, centre_y - 0.5 * box_h, box_w, box_h)

    # --- the clock and the last sighting -------------------------------------------------------

    def _tick(self, stamp: float) -> None:
        """Advance the clock by the time since the last frame (``frame_period_s`` when the
        stamps do not advance, e.g. frames without stamps)."""
        self.frames += 1
        step = self.params.frame_period_s
        if self.last_stamp is not None and math.isfinite(stamp) and stamp > self.last_stamp:
            step = stamp - self.last_stamp
        self.last_stamp = stamp
        self.clock += step

    def _saw_target(self, score: float) -> None:
        """The target was tracked confidently on this frame, with ``score``."""
        self.seen_at, self.seen_score = self.clock, score

    def _unseen_time(self) -> float:
        """Seconds since the target was last tracked confidently."""
        return self.clock - self.seen_at

    def _adapt_shape(self, sighting: Sighting, found_depth: float | None, confident: bool) -> None:
        """Size from depth (whenever the box is on the target, so a target approaching while
        weakly matched keeps its size and is not later taken for its own occluder), trimmed by
        the scale search; angle from the turn search. The searches count on confident frames
        only."""
        assert self.target is not None
        scale_steps, turn_steps = 0.0, 0.0
        if confident:
            strengths, plan = sighting.strengths, sighting.plan
            scale_steps = refined_step([strengths[i] for i in plan.scale_axis])
            turn_steps = refined_step([strengths[i] for i in plan.turn_axis])
        self._update_size(scale_steps, found_depth)
        # A turn smaller than the dead band is noise: added up it would tilt a still target.
        if abs(turn_steps) >= self.params.rotation_deadband_steps:
            turn = math.radians(self.params.rotation_step_deg) * turn_steps
            self.target.angle += self.params.rotation_rate * turn

    def _redetect(self, sampler: FrameSampler, depth: np.ndarray | None) -> TrackResult:
        """Scan a wide region with the filter as a template; TRACKING again on a strong match
        that is no known look-alike, stands clear of any other, and lies where the target
        can be by now.

        A target that comes back nearer or farther matches the template poorly at its old
        size, so the best match is looked at again at the size its depth implies.
        """
        assert self.target is not None
        target = self.target
        self.lost_frames += 1
        variant = self.redetection_variants[(self.lost_frames - 1) % len(self.redetection_variants)]
        region = self._redetection_region(sampler, variant)
        match = self._match_wide(sampler, depth, region, variant.scale)
        match = self._at_depth_implied_scale(sampler, depth, match)
        verified, found_depth = False, None
        if self.state_machine.is_redetection(match.peak) and not match.lookalike:
            # Where the target was last: an occluder still in front of part of it is not it.
            found_depth = self._measure_depth(depth, self._match_box(match), target.depth)
            found = Candidate(match.centre_x, match.centre_y, found_depth, match.peak.value)
            verified = not self._is_lookalike(found) and self._redetection_agrees(
                match, found_depth
            )
        state = self.state_machine.after_redetection(match.peak, verified)
        if state == TrackerState.TRACKING:
            target.centre_x, target.centre_y = match.centre_x, match.centre_y
            target.angle = match.region.angle
            self._set_size(target.width * match.scale, target.height * match.scale)
            self.scale_correction = 1.0
            if found_depth is not None:
                target.depth = found_depth
            self.lost_frames = 0
            self._saw_target(match.peak.value)
        return TrackResult(
            target.box, match.peak.value, state, self._wide_score_map(match), occluded=False
        )

    def _match_wide(
        self, sampler: FrameSampler, depth: np.ndarray | None, region: Region, scale: float
    ) -> WideMatch:
        """The template's best placement in a wide ``region`` sampled for a target ``scale``
        times the current size, passing over known look-alikes (their sightings keep the
        memory up to date)."""
        features, scores = self._wide_scores(sampler, region)
        separation = self.params.distractor_separation * self._target_size_cells()
        peaks = local_peaks(
            scores, self.params.lost_score, separation, self.params.redetect_candidates, False
        )
        chosen: tuple[int, int] | None = None
        runner_up, lookalikes = 0.0, []
        for row, col, value in peaks:
            x, y = self._wide_position(region, row, col)
            measured = self._read_depth(depth, self._box_at(x, y, scale), self.target.depth)
            candidate = Candidate(x, y, measured, value)
            if self._is_lookalike(candidate):
                lookalikes.append(candidate)
            elif chosen is None:
                chosen = (row, col)
            else:
                runner_up = value
                break
        self.distractors.observe(lookalikes, self.frames, self._target_size())
        all_lookalikes = chosen is None and bool(peaks)
        if chosen is None and peaks:
            chosen = peaks[0][:2]
        peak = find_peak(scores, self.psr_exclusion, chosen)
        centre_x, centre_y = self._wide_position(region, peak.row, peak.col)
        return WideMatch(
            region, scale, features, scores, peak, centre_x, centre_y, runner_up, all_lookalikes
        )

    def _wide_scores(
        self, sampler: FrameSampler, region: Region
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of a wide ``region`` and the template's score at every placement."""
        assert self.filter is not None
        features = self._features(sampler, [region], self.wide_patch_px)
        if self.template is None:
            self.template = self.filter.spatial_template()
        return features, wide_response(self.template, features[0])

    def _wide_position(self, region: Region, row: float, col: float) -> tuple[float, float]:
        """Image position of the target centre for wide score (row, col): score (i, j) is a
        search patch whose top-left cell is (i, j), so its centre lies half a patch (half a
        grid) further."""
        cell, half_patch = self.params.cell_size_px, 0.5 * self.params.patch_size_px
        return region.to_image(col * cell + half_patch, row * cell + half_patch, self.wide_patch_px)

    def _at_depth_implied_scale(
        self, sampler: FrameSampler, depth: np.ndarray | None, match: WideMatch
    ) -> WideMatch:
        """``match`` looked at again, around its position, at the size the depth there
        implies; unchanged when there is no such depth or it implies the size the match was
        sampled for (within one scale-search step, which hardly changes the response)."""
        depth_scale = self._depth_implied_scale(depth, match)
        if depth_scale is None:
            return match
        if abs(math.log(depth_scale / match.scale)) <= math.log(self.params.scale_step):
            return match
        side = match.region.side * depth_scale / match.scale
        region = Region(match.centre_x, match.centre_y, side, match.region.angle)
        return self._match_wide(sampler, depth, region, depth_scale)

    def _match_box(self, match: WideMatch) -> BoxXYWH:
        """Image box of the target at a wide match (its size scaled by the match's scale)."""
        return self._box_at(match.centre_x, match.centre_y, match.scale)

    def _depth_implied_scale(self, depth: np.ndarray | None, match: WideMatch) -> float | None:
        """Size change (relative to the current size) that the depth at ``match`` implies,
        apparent size ~ 1 / depth; None when there is no depth or it cannot be the target's
        (outside its plausible motion since it was last seen)."""
        assert self.target is not None
        measured = self._read_depth(depth, self._match_box(match), self.target.depth)
        if measured is None or self.target.depth is None:
            return None
        if not self._depth_agrees(measured, self._unseen_time()):
            return None
        return self.target.depth / measured

    def _redetection_agrees(self, match: WideMatch, found_depth: float | None) -> bool:
        """The match lies at a depth the target can have reached since it was last seen,
        stands clear of the next best placement (an unknown look-alike as good would make it
        a guess), and its colours match the colour model (a look-alike of another hue is
        refused). Its image position is not bounded: a turning camera moves the view faster
        than any target walks."""
        half_grid = 0.5 * self.params.grid_size
        cells = self._target_cells(
            match.features, match.peak.row + half_grid, match.peak.col + half_grid
        )
        return (
            self._depth_agrees(found_depth, self._unseen_time())
            and match.peak.value >= self.params.redetect_margin * match.runner_up
            and self.colour_model.similarity(match.features, cells)
            >= self.params.redetect_color_similarity
        )

    def _wide_score_map(self, match: WideMatch) -> ScoreMap:
        """The wide match's scores with their image box (one cell per placement centre)."""
        cell, half_patch = self.params.cell_size_px, 0.5 * self.params.patch_size_px
        region, scores = match.region, match.scores
        pixels_per_patch_px = region.side / self.wide_patch_px
        first_x, first_y = region.xywh[:2]
        map_origin = (half_patch - 0.5 * cell) * pixels_per_patch_px
        map_box = (
            first_x + map_origin,
            first_y + map_origin,
            scores.shape[1] * cell * pixels_per_patch_px,
            scores.shape[0] * cell * pixels_per_patch_px,
        )
        return ScoreMap(scores.cpu().numpy(), map_box)

    # --- learning -----------------------------------------------------------------------------

    def _learn_centred(self, sampler: FrameSampler, rate: float) -> None:
        """One training sample sampled centred on the current target estimate."""
        assert self.target is not None and self.filter is not None
        target = self.target
        region = Region(target.centre_x, target.centre_y, self._search_side(), target.angle)
        features = self._features(sampler, [region], self.params.patch_size_px)
        self.filter.learn(features, rate)
        self.colour_model.learn(features, self._centred_cells(features, (0.0, 0.0)), rate)
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
            self.colour_model.learn(features, self._centred_cells(features, offset), rate)
            self.template = None
        else:
            self._learn_centred(sampler, rate)

    def _target_cells(self, features: torch.Tensor, row: float, col: float) -> CellBox:
        """The cells the target covers when centred at (row, col) (grid coordinates, cell
        edges); the patch is turned with the target, so its box is axis-aligned there."""
        assert self.target is not None
        cells_per_pixel = self.params.grid_size / self._search_side()
        return CellBox.around(
            row,
            col,
            0.5 * self.target.height * cells_per_pixel,
            0.5 * self.target.width * cells_per_pixel,
            features.shape[-2],
            features.shape[-1],
        )

    def _centred_cells(self, features: torch.Tensor, offset: tuple[float, float]) -> CellBox:
        """The target's cells in a search patch where it sits ``offset`` cells off-centre."""
        half_grid = 0.5 * self.params.grid_size
        return self._target_cells(features, half_grid + offset[0], half_grid + offset[1])

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

    def _depth_shares(self, depth: np.ndarray | None, box: BoxXYWH) -> DepthShares | None:
        """How the central part of ``box`` lies relative to the target's depth (None without
        depth): something in front filling a good part of it is an occluder."""
        assert self.target is not None
        if depth is None or self.target.depth is None:
            return None
        central = central_box(box, self.params.occlusion_box_fraction)
        return depth_shares(depth, central, self.target.depth, self.params.occlusion_margin_m)

    def _came_nearer(
        self,
        shares: DepthShares,
        peak: Peak,
        measured: float | None,
        colours_agree: bool,
    ) -> bool:
        """The surface in front of the target's depth is the target itself, come nearer while
        its depth was held (through an occlusion), not an occluder: it still looks like the
        target (a confident peak whose colours agree), lies where the target can have moved
        since it was last seen, and no good part of the box still shows a surface at the held
        depth (with a partial occluder the rest of the target stays there). Without this the
        target, once beyond the occlusion margin, would be taken for its own occluder for good.
        """
        assert self.target is not None
        held = self.target.depth
        if held is None or measured is None or measured >= held:
            return False
        return (
            colours_agree
            and self.state_machine.is_confident(peak)
            and self._depth_agrees(measured, self._unseen_time())
            and shares.at_target < self.params.occlusion_share
        )

    def _reanchor_depth(self, measured: float) -> None:
        """Take ``measured`` as the target's depth; the size follows (apparent size ~ 1 / depth)."""
        assert self.target is not None and self.target.depth is not None
        change = self.target.depth / measured
        self.target.depth = measured
        self._set_size(self.target.width * change, self.target.height * change)

    def _depth_agrees(self, measured: float | None, elapsed: float = 0.0) -> bool:
        """The box's depth is within the target's plausible motion ``elapsed`` seconds after
        it was last seen (0 = last frame): ``max_depth_change`` of its depth (noise and one
        frame's motion) plus ``max_target_speed_mps`` for the time."""
        assert self.target is not None
        if measured is None or self.target.depth is None:
            return True
        return abs(measured - self.target.depth) <= self._depth_tolerance(elapsed)

    def _depth_tolerance(self, elapsed: float) -> float:
        """How far (metres) the target's depth may have moved ``elapsed`` seconds after it
        was last seen (infinite while its depth is unknown)."""
        assert self.target is not None
        if self.target.depth is None:
            return math.inf
        return (
            self.params.max_depth_change * self.target.depth
            + self.params.max_target_speed_mps * elapsed
        )

    def _colours_agree(self, features: torch.Tensor, offset: tuple[float, float]) -> bool:
        """The colours at the peak match the colour model (a look-alike of another hue fails)."""
        similarity = self.colour_model.similarity(features, self._centred_cells(features, offset))
        return similarity >= self.params.track_color_similarity

    def _update_size(self, scale_steps: float, measured_depth: float | None) -> None:
        """Size from depth (old depth / new depth) times the scale search's correction.

        With depth, the search only trims: its correction decays back towards 1, so small
        biases of the search cannot add up over a long sequence. Without depth, the search
        alone sets the size.
        """
        assert self.target is not None
        target = self.target
        old_depth = target.depth
        self._follow_depth(measured_depth)
        if old_depth is not None and target.depth is not None:
            decayed = self.scale_correction ** (1.0 - self.params.scale_correction_decay)
            corrected = decayed * self.params.scale_step ** (
                scale_steps * self.params.scale_rate_with_depth
            )
            change = old_depth / target.depth * corrected / self.scale_correction
            self.scale_correction = corrected
        else:
            change = self.params.scale_step ** (scale_steps * self.params.scale_rate_without_depth)
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

    def _measure_depth(
        self, depth: np.ndarray | None, box: BoxXYWH, expected: float | None = None
    ) -> float | None:
        """The target box's depth; says once when a depth image has none there (the size
        then follows colour only)."""
        measured = self._read_depth(depth, box, expected)
        if measured is None and depth is not None:
            self._say_once("box-depth", "no valid depth in the target box: size from colour only")
        return measured

    def _read_depth(
        self, depth: np.ndarray | None, box: BoxXYWH, expected: float | None = None
    ) -> float | None:
        """Robust depth in ``box``, read on a grid of about ``depth_read_pixels``: the nearest
        sizeable surface's, or the one nearest ``expected`` when given."""
        if depth is None:
            return None
        x, y, w, h = box
        stride = max(1, int(math.sqrt(w * h / self.params.depth_read_pixels)))
        strided = (x / stride, y / stride, w / stride, h / stride)
        estimate = robust_target_depth(
            depth[::stride, ::stride], strided, self.params.depth_params(), expected
        )
        return None if estimate is None else estimate.depth

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
            LOG.warning("depth_dcf: %s", message)


def _brightness(color: np.ndarray) -> float:
    """Mean grey level of a frame (0..255), from every 8th pixel of every 8th row."""
    return float(color[::8, ::8].mean())


def build(params: DepthDCFParams, model: None) -> DepthDCFTracker:
    """Spec factory (a weight-free tracker: no model)."""
    return DepthDCFTracker(params)
