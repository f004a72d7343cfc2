"""SiamRPN++ and its long-term variant, as pysot runs them at test time, plus a depth option.

Paper: Li et al., "SiamRPN++: Evolution of Siamese Visual Tracking with Very Deep Networks",
CVPR 2019.

Follows pysot's ``pysot/tracker/siamrpn_tracker.py`` and ``siamrpnlt_tracker.py`` (STVIR/pysot):

* initialize: a square exemplar crop of side ``round(sqrt((w + p)(h + p)))``, ``p =
  context_amount * (w + h)``, padded with the first frame's mean colour, resized to 127, gives
  the template maps once.
* track: a search crop ``instance_size / exemplar_size`` times larger around the last centre;
  the RPN scores every anchor (5 aspect ratios on the stride-8 grid); each candidate box is
  penalised for changing scale and aspect ratio (``penalty_k``), blended with a Hann window
  (``window_influence``); the best one moves the centre, and the size moves towards its box by
  ``lr * penalty * score``. The box is kept inside the image, at least ``min_size`` pixels.
* long-term: below ``confidence_low`` nothing is updated and the tracker turns to the lost
  state, searching ``lost_instance_size`` (831) pixels with an almost flat window until a
  candidate scores above ``confidence_high``.

Depth option (``use_depth``, not in pysot): the target's depth is read from the aligned depth
image in its box (``geometry.robust_target_depth``), as depth_dcf does. A candidate whose depth
is farther from the target's than its plausible motion since it was last seen (an occluder in
front, a look-alike elsewhere, the background) is refused and the next-best candidate away
from it is looked at, up to ``depth_candidates``; with none left the target counts as not
found. The size follows the target's distance (apparent size ~ 1 / depth) before the network's
box refines it.

Images reach the network as pysot feeds them: BGR, float 0..255, not normalised.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from rgbd_tracker_ros.geometry import BoxXYWH, robust_target_depth, validate_init_box
from rgbd_tracker_ros.logs import ThrottledLog
from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.depth_dcf.inputs import frame_arrays
from rgbd_tracker_ros.tracking.model import TrackerModel
from rgbd_tracker_ros.tracking.siamrpn.params import SiamRPNLTParams, SiamRPNParams

LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# pysot's geometry


def crop_patch(
    image: np.ndarray,
    centre: np.ndarray,
    output_size: int,
    side: float,
    fill: np.ndarray,
) -> np.ndarray:
    """The ``side``-pixel square around ``centre`` (x, y), resized to ``output_size``.

    pysot's ``get_subwindow``: the square starts at ``floor(c - (side + 1) / 2 + 0.5)``; what
    lies outside the image is ``fill`` (the mean colour, truncated to uint8 as pysot's uint8
    canvas does); bilinear ``cv2.resize`` unless the sizes are equal. Returns uint8 HxWx3.
    """
    size = int(side)
    x0 = math.floor(centre[0] - (size + 1) / 2 + 0.5)
    y0 = math.floor(centre[1] - (size + 1) / 2 + 0.5)
    height, width = image.shape[:2]
    patch = np.empty((size, size, 3), dtype=np.uint8)
    patch[:] = fill.astype(np.uint8)
    left, top = max(x0, 0), max(y0, 0)
    right, bottom = min(x0 + size, width), min(y0 + size, height)
    if right > left and bottom > top:
        patch[top - y0 : bottom - y0, left - x0 : right - x0] = image[top:bottom, left:right]
    if size != output_size:
        patch = cv2.resize(patch, (output_size, output_size))
    return patch


def anchor_shapes(stride: int, ratios: tuple[float, ...], scales: tuple[float, ...]) -> np.ndarray:
    """(A, 2) anchor widths and heights, ratio-major (pysot ``Anchors``: integer base sides)."""
    shapes = []
    for ratio in ratios:
        base_w = int(math.sqrt(stride * stride / ratio))
        base_h = int(base_w * ratio)
        shapes.extend((base_w * scale, base_h * scale) for scale in scales)
    return np.array(shapes, dtype=np.float32)


@dataclass(frozen=True)
class ScoreGrid:
    """Anchors (4, A*S*S: cx, cy, w, h in search-patch pixels around its centre) and the Hann
    window for an S x S score map, in the RPN's output order (anchor, row, column)."""

    anchors: np.ndarray
    window: np.ndarray

    @classmethod
    def build(cls, score_size: int, stride: int, shapes: np.ndarray) -> ScoreGrid:
        offsets = (np.arange(score_size) - score_size // 2) * stride
        xx, yy = np.meshgrid(offsets, offsets)
        count = len(shapes)
        anchors = np.empty((4, count * score_size * score_size), dtype=np.float32)
        anchors[0] = np.tile(xx.reshape(-1), count)
        anchors[1] = np.tile(yy.reshape(-1), count)
        anchors[2] = np.repeat(shapes[:, 0], score_size * score_size)
        anchors[3] = np.repeat(shapes[:, 1], score_size * score_size)
        hanning = np.hanning(score_size)
        window = np.tile(np.outer(hanning, hanning).reshape(-1), count)
        return cls(anchors, window)


def _change(ratio: np.ndarray) -> np.ndarray:
    return np.maximum(ratio, 1.0 / ratio)


def _padded_side(width: Any, height: Any) -> Any:
    pad = (width + height) * 0.5
    return np.sqrt((width + pad) * (height + pad))


@dataclass
class Search:
    """One search crop's candidates: scores, boxes (image pixels, offsets from the crop
    centre), the shape penalty, the windowed ranking score, and the map's image box."""

    scores: np.ndarray
    boxes: np.ndarray  # (4, N): dx, dy, w, h in image pixels
    penalty: np.ndarray
    ranking: np.ndarray
    score_size: int
    region: BoxXYWH
    seconds: float

    def score_map(self) -> ScoreMap:
        """Best anchor's score per grid cell."""
        per_anchor = self.scores.reshape(-1, self.score_size, self.score_size)
        return ScoreMap(per_anchor.max(axis=0).astype(np.float32), self.region)


@dataclass(frozen=True)
class Choice:
    """The candidate taken (index into the search) and its box's depth, if read."""

    index: int
    depth: float | None


# --------------------------------------------------------------------------------------------
# Trackers


class SiamRPNTracker:
    """pysot ``SiamRPNTracker``. ``net``: a SiamRPN++ network (eager or TorchScript)."""

    name: ClassVar[str] = "siamrpn"

    def __init__(self, net: Any, params: SiamRPNParams, device: torch.device) -> None:
        self.net = net
        self.params = params
        self.device = device
        self._stride = int(net.anchor_stride)
        self._shapes = anchor_shapes(self._stride, params.anchor_ratios, params.anchor_scales)
        self._grids: dict[int, ScoreGrid] = {}
        self._template: list[torch.Tensor] | None = None
        self._centre = np.zeros(2)
        self._size = np.zeros(2)
        self._fill = np.zeros(3)
        self._depth: float | None = None
        self._unseen_frames = 0
        self._said: set[str] = set()
        self._failures = ThrottledLog(LOG, params.error_log_interval_s)

    # ---------------------------------------------------------------- protocol

    def initialize(self, frame: Frame, box_xywh: BoxXYWH) -> None:
        """Template from ``box_xywh`` on ``frame`` (errors: ValueError)."""
        color, depth = frame_arrays(frame, self._say_once)
        height, width = color.shape[:2]
        box, reason = validate_init_box(box_xywh, width, height)
        if box is None:
            raise ValueError(f"{self.name}: cannot initialise on box {list(box_xywh)}: {reason}")
        x, y, w, h = box
        self._template = None
        self._centre = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        self._size = np.array([w, h], dtype=np.float64)
        self._fill = color.reshape(-1, 3).mean(axis=0)
        patch = crop_patch(
            color, self._centre, self.params.exemplar_size, round(self._context_side()), self._fill
        )
        with torch.no_grad():
            self._template = self.net.template(self._network_input(patch))
        self._depth = self._read_depth(depth, box) if self.params.use_depth else None
        self._unseen_frames = 0
        self._on_initialize()

    def track(self, frame: Frame) -> TrackResult:
        """One frame. Never raises on a valid image: failures are logged and reported LOST."""
        color, depth = frame_arrays(frame, self._say_once)
        if self._template is None:
            return TrackResult((0.0, 0.0, 0.0, 0.0), 0.0, TrackerState.IDLE)
        start = time.perf_counter()
        try:
            with torch.no_grad():
                result = self._track(color, depth)
        except Exception as error:  # the Tracker protocol: report LOST, never raise
            self._failures.track_failure(self.name, error)
            result = TrackResult(self._output_box(color.shape), 0.0, TrackerState.LOST)
        result.timings = {**result.timings, "total": time.perf_counter() - start}
        return result

    # ---------------------------------------------------------------- steps

    def _on_initialize(self) -> None:
        """Hook: reset a subclass's state."""

    def _track(self, color: np.ndarray, depth: np.ndarray | None) -> TrackResult:
        search = self._search(color, self.params.instance_size, self.params.window_influence)
        choice = self._choose(search, depth)
        if choice is None:  # at an implausible depth, or no usable box
            self._unseen_frames += 1
            state = TrackerState.LOST
            score = float(search.scores[int(np.argmax(search.ranking))])
        else:
            self._accept(search, choice)
            state = TrackerState.TRACKING
            score = float(search.scores[choice.index])
        self._centre, self._size = self._clipped(color.shape)
        return self._result(color.shape, score, state, search)

    def _search(self, color: np.ndarray, instance_size: int, window_influence: float) -> Search:
        """Run the network on the search crop; rank the candidates as pysot does."""
        params = self.params
        context = self._context_side()
        scale = params.exemplar_size / context
        side = context * instance_size / params.exemplar_size
        patch = crop_patch(color, self._centre, instance_size, round(side), self._fill)
        start = time.perf_counter()
        cls, loc = self.net.track(self._template, self._network_input(patch))
        scores = torch.softmax(cls[0].reshape(2, -1).float(), dim=0)[1].cpu().numpy()
        deltas = loc[0].reshape(4, -1).float().cpu().numpy()
        seconds = time.perf_counter() - start
        score_size = int(cls.shape[-1])
        grid = self._grid(score_size)
        anchors = grid.anchors
        # A badly scaled network can overflow exp(); such candidates are never chosen.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            boxes = np.stack(
                [
                    deltas[0] * anchors[2] + anchors[0],
                    deltas[1] * anchors[3] + anchors[1],
                    np.exp(deltas[2]) * anchors[2],
                    np.exp(deltas[3]) * anchors[3],
                ]
            )
            size_change = _change(
                _padded_side(boxes[2], boxes[3])
                / _padded_side(self._size[0] * scale, self._size[1] * scale)
            )
            ratio_change = _change((self._size[0] / self._size[1]) / (boxes[2] / boxes[3]))
            penalty = np.exp(-(ratio_change * size_change - 1) * params.penalty_k)
            ranking = penalty * scores * (1 - window_influence) + grid.window * window_influence
        usable = np.isfinite(ranking) & np.isfinite(boxes).all(axis=0) & (boxes[2:] > 0).all(axis=0)
        ranking = np.where(usable, ranking, -np.inf)
        map_side = score_size * self._stride / scale
        region = (
            float(self._centre[0] - map_side / 2),
            float(self._centre[1] - map_side / 2),
            float(map_side),
            float(map_side),
        )
        return Search(scores, boxes / scale, penalty, ranking, score_size, region, seconds)

    def _choose(self, search: Search, depth: np.ndarray | None) -> Choice | None:
        """The best-ranked candidate; with the depth option, the best one at a plausible depth
        (None when ``depth_candidates`` were refused, or no candidate box is usable)."""
        best = int(np.argmax(search.ranking))
        if not np.isfinite(search.ranking[best]):
            return None
        if not self.params.use_depth or depth is None:
            return Choice(best, None)
        if self._depth is None:  # nothing to compare with yet: the reading starts the depth
            return Choice(best, self._read_depth(depth, self._candidate_box(search, best)))
        ranking = search.ranking.copy()
        centres = search.boxes[:2] + self._centre[:, None]
        radius = 0.5 * math.sqrt(float(self._size[0] * self._size[1]))
        for _ in range(self.params.depth_candidates):
            measured = self._read_depth(depth, self._candidate_box(search, best))
            if measured is None or self._depth_agrees(measured):
                return Choice(best, measured)
            # Refused: so are the candidates on the same spot (neighbouring cells, anchors).
            near = np.hypot(*(centres - centres[:, best : best + 1])) < radius
            ranking[near] = -np.inf
            if not np.isfinite(ranking).any():
                return None
            best = int(np.argmax(ranking))
        return None

    def _accept(self, search: Search, choice: Choice) -> None:
        """Move to the chosen candidate; the size follows depth, then the box by the lr."""
        index = choice.index
        box = search.boxes[:, index]
        lr = search.penalty[index] * search.scores[index] * self.params.lr
        size = self._size * self._follow_depth(choice.depth)
        self._centre = self._centre + box[:2]
        self._size = size * (1 - lr) + box[2:] * lr
        self._unseen_frames = 0

    def _result(
        self, shape: tuple[int, ...], score: float, state: TrackerState, search: Search
    ) -> TrackResult:
        return TrackResult(
            self._output_box(shape),
            score,
            state,
            search.score_map(),
            {"network": search.seconds},
        )

    # ---------------------------------------------------------------- geometry and depth

    def _context_side(self) -> float:
        """Side of the exemplar crop in image pixels: the target plus context."""
        pad = self.params.context_amount * float(np.sum(self._size))
        return math.sqrt((self._size[0] + pad) * (self._size[1] + pad))

    def _grid(self, score_size: int) -> ScoreGrid:
        if score_size not in self._grids:
            self._grids[score_size] = ScoreGrid.build(score_size, self._stride, self._shapes)
        return self._grids[score_size]

    def _network_input(self, patch_rgb: np.ndarray) -> torch.Tensor:
        """BGR float 0..255, (1, 3, H, W), as pysot feeds its network."""
        bgr = np.ascontiguousarray(patch_rgb[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
        return torch.from_numpy(bgr).unsqueeze(0).to(self.device)

    def _clipped(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """pysot's ``_bbox_clip``: centre inside the image, size in [min_size, image side]."""
        height, width = shape[0], shape[1]
        min_size = self.params.min_size
        centre = np.array(
            [min(max(self._centre[0], 0.0), width), min(max(self._centre[1], 0.0), height)]
        )
        size = np.array(
            [
                max(min_size, min(self._size[0], width)),
                max(min_size, min(self._size[1], height)),
            ]
        )
        return centre, size

    def _output_box(self, shape: tuple[int, ...]) -> BoxXYWH:
        (cx, cy), (w, h) = self._clipped(shape)
        return (float(cx - w / 2), float(cy - h / 2), float(w), float(h))

    def _candidate_box(self, search: Search, index: int) -> BoxXYWH:
        dx, dy, w, h = (float(v) for v in search.boxes[:, index])
        cx, cy = self._centre[0] + dx, self._centre[1] + dy
        return (cx - w / 2, cy - h / 2, w, h)

    def _read_depth(self, depth: np.ndarray | None, box: BoxXYWH) -> float | None:
        if depth is None:
            return None
        estimate = robust_target_depth(depth, box)
        return None if estimate is None else estimate.depth

    def _depth_agrees(self, measured: float) -> bool:
        """Within the target's plausible motion in depth since it was last seen."""
        assert self._depth is not None
        tolerance = (
            self.params.depth_max_change
            + self.params.depth_change_per_unseen_frame * self._unseen_frames
        )
        return abs(measured - self._depth) <= tolerance * self._depth

    def _follow_depth(self, measured: float | None) -> float:
        """Update the target's depth from ``measured``; returns the size factor it implies
        (old depth / new depth; 1 without depth). After unseen frames the new depth is taken
        as it is; otherwise it is blended in by ``depth_rate``."""
        if measured is None:
            return 1.0
        old = self._depth
        if old is None:
            self._depth = measured
            return 1.0
        rate = 1.0 if self._unseen_frames else self.params.depth_rate
        self._depth = old + rate * (measured - old)
        return old / self._depth

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            LOG.warning("%s: %s", self.name, message)


class SiamRPNLTTracker(SiamRPNTracker):
    """pysot ``SiamRPNLTTracker``: the lost state searches wide until a confident candidate."""

    name: ClassVar[str] = "siamrpn_lt"
    params: SiamRPNLTParams

    def __init__(self, net: Any, params: SiamRPNLTParams, device: torch.device) -> None:
        super().__init__(net, params, device)
        self.lost = False

    def _on_initialize(self) -> None:
        self.lost = False

    def _track(self, color: np.ndarray, depth: np.ndarray | None) -> TrackResult:
        params = self.params
        if self.lost:
            search = self._search(color, params.lost_instance_size, params.lost_window_influence)
        else:
            search = self._search(color, params.instance_size, params.window_influence)
        choice = self._choose(search, depth)
        score = 0.0 if choice is None else float(search.scores[choice.index])
        if choice is not None and score >= params.confidence_low:
            self._accept(search, choice)
        else:
            self._unseen_frames += 1
            if choice is None:
                score = float(search.scores[int(np.argmax(search.ranking))])
        # The stored state stays unclipped (pysot clips only the output).
        if choice is None or score < params.confidence_low:
            self.lost = True
            state = TrackerState.LOST
        else:
            self.lost = self.lost and score <= params.confidence_high
            state = TrackerState.UNCERTAIN if self.lost else TrackerState.TRACKING
        return self._result(color.shape, score, state, search)


# --------------------------------------------------------------------------------------------
# Factories


def build_siamrpn(params: SiamRPNParams, model: TrackerModel) -> SiamRPNTracker:
    """Spec factory of 'siamrpn' (pysot siamrpn_r50_l234_dwxcorr)."""
    return SiamRPNTracker(model.net, params, model.device)


def build_siamrpn_lt(params: SiamRPNLTParams, model: TrackerModel) -> SiamRPNLTTracker:
    """Spec factory of 'siamrpn_lt' (pysot siamrpn_r50_l234_dwxcorr_lt)."""
    return SiamRPNLTTracker(model.net, params, model.device)
