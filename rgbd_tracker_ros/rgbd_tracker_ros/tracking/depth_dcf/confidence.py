"""How sure the tracker is: response peaks, occluders seen in depth, and the tracking state.

The state logic follows the long-term scheme of SiamRPN++ (LT), adapted: below a low
confidence the target counts as not seen (the model freezes; after a few such frames the
search widens to the whole frame), and a re-detection must pass a stricter test (a sharper
peak, plus depth and colour agreement checked by the tracker) before tracking resumes, so a
look-alike cannot capture the tracker by a single mediocre match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rgbd_tracker_ros.tracking.api import TrackerState


@dataclass(frozen=True)
class Peak:
    """The strongest response: sub-cell position (rows, cols), height and sharpness (PSR)."""

    row: float
    col: float
    value: float
    psr: float


def _parabola_offset(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex of the parabola through three samples, relative to the middle one, in [-0.5, 0.5].

    The response is sampled once per cell (several pixels); the vertex recovers the sub-cell
    position that a coarse argmax would round away.
    """
    curvature = left - 2.0 * centre + right
    offset = torch.where(
        curvature < 0.0, 0.5 * (left - right) / curvature.clamp(max=-1e-12), torch.zeros_like(left)
    )
    return offset.clamp(-0.5, 0.5)


def find_peak(
    response: torch.Tensor, sidelobe_exclusion: int, at: tuple[int, int] | None = None
) -> Peak:
    """Sub-cell peak and peak-to-sidelobe ratio of a 2-D response map: of its maximum, or
    of the local maximum ``at`` (row, col) when given (another peak then stays in the
    sidelobe, lowering the ratio).

    Neighbours wrap around the map edges, which is exact for the circular correlation of the
    search patch and harmless for the wide re-detection maps. The sidelobe is everything
    farther than ``sidelobe_exclusion`` cells from the peak.
    """
    height, width = response.shape
    if at is None:
        flat_index = torch.argmax(response)
        row, col = flat_index // width, flat_index % width
    else:
        row = torch.tensor(at[0], device=response.device)
        col = torch.tensor(at[1], device=response.device)
    rows = torch.stack([(row - 1) % height, row, (row + 1) % height])
    cols = torch.stack([(col - 1) % width, col, (col + 1) % width])
    vertical = response[rows, col]
    horizontal = response[row, cols]
    row_offset = _parabola_offset(vertical[0], vertical[1], vertical[2])
    col_offset = _parabola_offset(horizontal[0], horizontal[1], horizontal[2])

    centred = torch.roll(
        response, shifts=(height // 2 - int(row), width // 2 - int(col)), dims=(0, 1)
    )
    mask = torch.ones_like(centred, dtype=torch.bool)
    mask[
        max(height // 2 - sidelobe_exclusion, 0) : height // 2 + sidelobe_exclusion + 1,
        max(width // 2 - sidelobe_exclusion, 0) : width // 2 + sidelobe_exclusion + 1,
    ] = False
    sidelobe = centred[mask]
    peak_value = response[row, col]
    if sidelobe.numel() > 1:
        psr = (peak_value - sidelobe.mean()) / sidelobe.std().clamp(min=1e-6)
    else:
        psr = torch.zeros_like(peak_value)
    values = torch.stack(
        [row.to(response.dtype) + row_offset, col.to(response.dtype) + col_offset, peak_value, psr]
    ).tolist()
    return Peak(row=values[0], col=values[1], value=values[2], psr=values[3])


def central_box(
    box: tuple[float, float, float, float], fraction: float
) -> tuple[float, float, float, float]:
    """The centred part of ``box`` holding ``fraction`` of its width and height."""
    x, y, w, h = box
    margin = 0.5 * (1.0 - fraction)
    return (x + margin * w, y + margin * h, fraction * w, fraction * h)


@dataclass(frozen=True)
class DepthShares:
    """Where the valid depth pixels of a box lie relative to the target's depth: the share
    ``margin_m`` or more in front of it (an occluder), and the share within ``margin_m`` of it
    (the target still showing there)."""

    in_front: float
    at_target: float


def depth_shares(
    depth: np.ndarray,
    box_xywh: tuple[float, float, float, float],
    target_depth: float,
    margin_m: float,
) -> DepthShares:
    """Something that appears between camera and target shows up in ``in_front`` before the
    appearance model notices it, which is what keeps the filter from learning the occluder;
    ``at_target`` tells a partial occluder (the rest of the target still shows at its depth)
    from the target having come nearer (nothing stays there)."""
    height, width = depth.shape
    x, y, w, h = box_xywh
    x0, y0 = max(int(x), 0), max(int(y), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    region = depth[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else depth[:0, :0]
    values = region[region > 0.0]
    if values.size == 0:
        return DepthShares(0.0, 0.0)
    in_front = np.count_nonzero(values < target_depth - margin_m)
    at_target = np.count_nonzero(np.abs(values - target_depth) < margin_m)
    return DepthShares(float(in_front) / values.size, float(at_target) / values.size)


@dataclass(frozen=True)
class ConfidenceThresholds:
    """Thresholds on the response peak (the reported score) and the PSR; see the YAML."""

    confident_score: float
    confident_psr: float
    update_score: float
    lost_score: float
    redetect_score: float
    redetect_psr: float
    uncertain_frames_to_lost: int
    occluded_frames_to_lost: int


class TrackingStateMachine:
    """TRACKING / UNCERTAIN / LOST from per-frame evidence, with the long-term hysteresis."""

    def __init__(self, thresholds: ConfidenceThresholds) -> None:
        self.thresholds = thresholds
        self.state = TrackerState.TRACKING
        self.weak_frames = 0
        self.occluded_frames = 0

    def reset(self) -> None:
        self.state = TrackerState.TRACKING
        self.weak_frames = 0
        self.occluded_frames = 0

    def is_confident(self, peak: Peak) -> bool:
        t = self.thresholds
        return peak.value >= t.confident_score and peak.psr >= t.confident_psr

    def after_local_search(self, peak: Peak, occluded: bool, consistent: bool) -> TrackerState:
        """State after searching around the last position (not called while LOST).

        ``consistent``: the peak's depth and colours agree with the target's; a strong peak
        that disagrees (a look-alike) counts as a weak frame.
        """
        t = self.thresholds
        if occluded:
            self.occluded_frames += 1
            self.weak_frames = 0
            lost = self.occluded_frames > t.occluded_frames_to_lost
        elif self.is_confident(peak) and consistent:
            self.weak_frames = 0
            self.occluded_frames = 0
            lost = False
        else:
            self.weak_frames += 1
            self.occluded_frames = 0
            lost = peak.value < t.lost_score or self.weak_frames > t.uncertain_frames_to_lost
        if lost:
            self.state = TrackerState.LOST
        elif occluded or self.weak_frames > 0:
            self.state = TrackerState.UNCERTAIN
        else:
            self.state = TrackerState.TRACKING
        return self.state

    def is_redetection(self, peak: Peak) -> bool:
        """A re-detection peak strong and distinct enough to be worth verifying."""
        t = self.thresholds
        return peak.value >= t.redetect_score and peak.psr >= t.redetect_psr

    def after_redetection(self, peak: Peak, verified: bool) -> TrackerState:
        """State after a re-detection attempt while LOST: back to TRACKING only on a strong
        match that also passed the tracker's checks (``verified``: depth, colours)."""
        if self.is_redetection(peak) and verified:
            self.reset()
        return self.state

    def may_learn(self, peak: Peak) -> bool:
        """Only a confidently tracked frame teaches the model, so occluders are never learned."""
        return self.state == TrackerState.TRACKING and peak.value >= self.thresholds.update_score
