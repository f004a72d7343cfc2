"""OSTrack (RGB) and ViPT (RGB-D) trackers: the reference's test-time procedure.

Follows botaoye/OSTrack ``lib/test/tracker/ostrack.py`` and jiawen-zhu/ViPT
``lib/test/tracker/vipt.py`` (shared/reference/trackers.md §9.3):

* initialize: the template is the square of side ``sqrt(w*h) * template_factor`` around the
  box, zero-padded, resized to the network's template size. It is kept for the whole run (no
  template update).
* track: the square of side ``sqrt(w*h) * search_factor`` around the last box, resized to the
  search size; the network gives the centre-ness score, size and offset maps; the score map
  times a Hann window picks the cell; centre = cell + offset, size from the size map; mapped
  back around the previous centre and clipped to the image (at least ``clip_margin`` px).
* ViPT's input is RGB + the JET colour map of the depth, clipped at ``min(median * 3, 10 m)``
  and min-max normalised per frame (DeT's ``rgbcolormap``), six channels.

The confidence is the peak of the windowed score (ViPT's ``best_score``, what its VOT wrapper
reports); the state is TRACKING at or above ``uncertain_threshold``, UNCERTAIN at or above
``lost_threshold``, else LOST. The published score map is the network's raw (unwindowed)
centre-ness over the search square.

``long_term`` (off by default: the reference has no re-detection and always moves to the
peak) keeps the last box while LOST instead of following a low-confidence peak, and searches a
``long_term_search_factor`` square without the window until a peak reaches
``uncertain_threshold`` again.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import numpy as np
import torch

from rgbd_tracker_ros.geometry import BoxXYWH, validate_init_box
from rgbd_tracker_ros.logs import ThrottledLog
from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult, check_color
from rgbd_tracker_ros.tracking.dimp.preprocessing import rgbd_image
from rgbd_tracker_ros.tracking.model import TrackerModel, refuse_other_input
from rgbd_tracker_ros.tracking.ostrack.geometry import (
    box_from_maps,
    box_to_image,
    clip_box,
    crop_square,
    hann2d,
)
from rgbd_tracker_ros.tracking.ostrack.params import OSTrackParams, ViPTParams

LOG = logging.getLogger(__name__)


class OSTrackTracker:
    """OSTrack. ``net`` is an OSTrack network (eager ``OSTrackNet`` or its TorchScript export)."""

    name: ClassVar[str] = "ostrack"
    uses_depth: ClassVar[bool] = False

    def __init__(self, net: Any, params: OSTrackParams, device: torch.device) -> None:
        counterpart = "vipt" if net.uses_depth else "ostrack"
        refuse_other_input(self.name, self.uses_depth, net, counterpart)
        self.net = net
        self.params = params
        self.device = device
        self.template_size = int(net.template_size)
        self.search_size = int(net.search_size)
        self._window = hann2d(int(net.feature_size)).to(device)
        self._failures = ThrottledLog(LOG, params.error_log_interval_s)
        self._template: torch.Tensor | None = None
        self._box: BoxXYWH = (0.0, 0.0, 0.0, 0.0)
        self._lost = False

    def initialize(self, frame: Frame, box_xywh: BoxXYWH) -> None:
        """Cut and keep the template around ``box_xywh`` (errors: ValueError)."""
        check_color(frame.color)
        box, reason = validate_init_box(box_xywh, *frame.size_wh)
        if box is None:
            raise ValueError(f"{self.name}: cannot initialise: {reason}")
        crop = crop_square(
            self._frame_image(frame), box, self.params.template_factor, self.template_size
        )
        self._template = self._to_tensor(crop.patch)
        self._box = box
        self._lost = False

    def track(self, frame: Frame) -> TrackResult:
        """One frame. Never raises on a valid image: failures are logged and reported LOST."""
        check_color(frame.color)
        if self._template is None:
            return TrackResult((0.0, 0.0, 0.0, 0.0), 0.0, TrackerState.IDLE)
        start = time.perf_counter()
        try:
            with torch.no_grad():
                result = self._track(frame)
        except Exception as error:  # the Tracker protocol: report LOST, never raise
            self._failures.track_failure(self.name, error)
            result = TrackResult(self._box, 0.0, TrackerState.LOST)
        result.timings["total"] = time.perf_counter() - start
        return result

    def _track(self, frame: Frame) -> TrackResult:
        params = self.params
        searching = params.long_term and self._lost
        factor = params.long_term_search_factor if searching else params.search_factor
        start = time.perf_counter()
        crop = crop_square(self._frame_image(frame), self._box, factor, self.search_size)
        search = self._to_tensor(crop.patch)
        prepared = time.perf_counter()
        score, size, offset = self.net(self._template, search)
        response = score if searching else score * self._window
        peak, box = box_from_maps(response, size, offset)
        network = time.perf_counter()
        height, width = frame.color.shape[:2]
        candidate = box_to_image(box, self.search_size, crop.resize_factor, self._box)
        candidate = clip_box(candidate, height, width, params.clip_margin)
        state = self._state(peak)
        if not params.long_term:
            self._box = candidate  # the reference follows the peak whatever its score
        elif state == TrackerState.TRACKING or (state == TrackerState.UNCERTAIN and not searching):
            self._box, self._lost = candidate, False
        else:
            self._lost, state = True, TrackerState.LOST
        scores = score[0, 0].float().cpu().numpy()
        return TrackResult(
            self._box,
            peak,
            state,
            ScoreMap(scores, crop.box_xywh),
            timings={"crop": prepared - start, "network": network - prepared},
        )

    def _state(self, peak: float) -> TrackerState:
        if peak >= self.params.uncertain_threshold:
            return TrackerState.TRACKING
        if peak >= self.params.lost_threshold:
            return TrackerState.UNCERTAIN
        return TrackerState.LOST

    def _frame_image(self, frame: Frame) -> np.ndarray:
        """What crops are cut from: RGB here, RGB + depth colour map for ViPT."""
        return frame.color

    def _to_tensor(self, patch: np.ndarray) -> torch.Tensor:
        """HxWxC uint8 patch -> (1, C, H, W) float [0, 255] on the device."""
        tensor = torch.from_numpy(np.ascontiguousarray(patch)).to(self.device)
        return tensor.float().permute(2, 0, 1).unsqueeze(0)


class ViPTTracker(OSTrackTracker):
    """ViPT (RGB-D). A frame without depth is refused by ``initialize`` (ValueError) and
    reported LOST by ``track``: the prompts would read a blank depth image as meaningful."""

    name: ClassVar[str] = "vipt"
    uses_depth: ClassVar[bool] = True
    params: ViPTParams

    def _frame_image(self, frame: Frame) -> np.ndarray:
        if frame.depth is None:
            raise ValueError("the ViPT tracker needs depth: this frame has no depth image")
        return rgbd_image(
            frame.color,
            frame.depth,
            self.params.depth_clip_median_factor,
            self.params.depth_clip_max_m * 1000.0,
        )


class OSTrack384Tracker(OSTrackTracker):
    """OSTrack-384: the same procedure; the network sets the 384-px search."""

    name: ClassVar[str] = "ostrack384"


def build_ostrack(params: OSTrackParams, model: TrackerModel) -> OSTrackTracker:
    """Spec factory of 'ostrack' (vitb_256_mae_ce_32x4_ep300)."""
    return OSTrackTracker(model.net, params, model.device)


def build_ostrack384(params: OSTrackParams, model: TrackerModel) -> OSTrackTracker:
    """Spec factory of 'ostrack384' (vitb_384_mae_ce_32x4_ep300)."""
    return OSTrack384Tracker(model.net, params, model.device)


def build_vipt(params: ViPTParams, model: TrackerModel) -> ViPTTracker:
    """Spec factory of 'vipt' (ViPT deep_rgbd)."""
    return ViPTTracker(model.net, params, model.device)
