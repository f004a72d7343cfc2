"""The DiMP tracker (and DeT, its RGB-D variant) on the interface of ``networks/dimp/network.py``.

Papers: DiMP, Bhat et al., "Learning Discriminative Model Prediction for Tracking", ICCV 2019;
DeT, Yan et al., "DepthTrack: Unveiling the Power of RGBD Tracking", ICCV 2021.

Follows pytracking's ``pytracking/tracker/dimp/dimp.py`` (visionml/pytracking) step by step
so that the official models behave as published:

* initialize: 13 augmented first-frame patches (+2 feature-dropout copies) train the initial
  filter (initializer + ``net_opt_iter`` steepest-descent steps); the unaugmented sample gives
  the IoUNet modulation vectors.
* track: patch around the last position -> backbone -> classification features -> scores ->
  ``localize_advanced`` (flag) -> IoUNet box refinement by gradient ascent -> memory update with
  decaying sample weights and an occasional filter optimisation.

The tracker only calls the network's exported methods, so an eager ``DiMPNet``/``DeTNet`` and a
TorchScript module loaded from an exported file are interchangeable. Subclasses (TrDiMP) change
single steps through the hooks ``_classification_features``, ``_prepare_init_samples`` and
``_update_classifier``.

Deliberate differences from the reference: random draws (augmentation shifts, feature dropout,
IoUNet box jitter) come from the tracker's own generator, re-seeded by every ``initialize``, so
runs repeat exactly on any device; ``window_output`` windows the scores whether or not
``perform_hn_without_windowing`` is set (the DiMP reference silently ignores it otherwise);
positions are kept inside the current frame, not the first one; state is float64.

Sample windows follow pytracking's ``sample_patch`` as it was until 2022-05 (integer corners,
``tl = pos - (n - 1) // 2``), the version DiMP-50, DeT and TransformerTrack were evaluated
with; current pytracking computes half-pixel float corners (commit 9e0b1b2) and its windows
differ by up to a pixel. ``crop_arithmetic: float`` selects that one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from rgbd_tracker_ros.geometry import BoxXYWH, validate_init_box
from rgbd_tracker_ros.logs import ThrottledLog
from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult, check_color
from rgbd_tracker_ros.tracking.dimp import localization as loc
from rgbd_tracker_ros.tracking.dimp.memory import SampleMemory
from rgbd_tracker_ros.tracking.dimp.params import DeTParams, DiMPParams
from rgbd_tracker_ros.tracking.dimp.preprocessing import (
    Augmentation,
    apply_augmentation,
    box_to_pos_size,
    build_augmentations,
    feature_dropout,
    image_to_patch_box,
    image_to_tensor,
    pos_size_to_box,
    refined_box_to_image,
    rgbd_image,
    sample_patch,
    sample_patch_multiscale,
)
from rgbd_tracker_ros.tracking.model import TrackerModel, refuse_other_input
from rgbd_tracker_ros.tracking.networks.dimp import solvers
from rgbd_tracker_ros.tracking.stopwatch import Stopwatch

LOG = logging.getLogger(__name__)

FLAG_STATES = {
    loc.NORMAL: TrackerState.TRACKING,
    loc.HARD_NEGATIVE: TrackerState.TRACKING,
    loc.UNCERTAIN: TrackerState.UNCERTAIN,
    loc.NOT_FOUND: TrackerState.LOST,
}


# --------------------------------------------------------------------------------------------
# Tracker state


@dataclass
class _Target:
    """Target state in image pixels, ``(y, x)`` / ``(h, w)`` as the reference."""

    pos: np.ndarray
    size: np.ndarray
    scale: float
    base_size: np.ndarray


@dataclass
class _FrameSample:
    """What one frame's search patch(es) produced."""

    backbone: dict[str, torch.Tensor]
    features: torch.Tensor
    sample_pos: np.ndarray
    sample_scales: np.ndarray


# --------------------------------------------------------------------------------------------
# Tracker


class DiMPTracker:
    """DiMP-50 (RGB). ``net`` is a DiMP network (eager or TorchScript) on ``device``."""

    name: ClassVar[str] = "dimp"
    uses_depth: ClassVar[bool] = False

    def __init__(self, net: Any, params: DiMPParams, device: torch.device) -> None:
        refuse_other_input(self.name, self.uses_depth, net, "det" if net.uses_depth else "dimp")
        stride = int(net.feature_stride)
        if params.image_sample_size % stride:
            raise ValueError(
                f"image_sample_size {params.image_sample_size} is not a multiple of the "
                f"network's feature stride {stride}"
            )
        self.net = net
        self.params = params
        self.device = device
        self.img_sample_sz = np.full(2, float(params.image_sample_size))
        self._localization_params = params.localization()
        self._generator = torch.Generator()
        self._target: _Target | None = None
        self._failures = ThrottledLog(LOG, params.error_log_interval_s)

    # ---------------------------------------------------------------- protocol

    def initialize(self, frame: Frame, box_xywh: BoxXYWH) -> None:
        """Learn the target model from ``box_xywh`` on ``frame`` (errors: ValueError)."""
        check_color(frame.color)
        clipped, reason = validate_init_box(box_xywh, *frame.size_wh)
        if clipped is None:
            raise ValueError(f"{self.name}: cannot initialise: {reason}")
        box = np.asarray(clipped, dtype=np.float64)
        image = self._frame_image(frame)
        self._generator.manual_seed(self.params.seed)
        try:
            with torch.no_grad():
                self._initialize(image, box)
        except Exception:
            self._target = None  # half a model must not be tracked with
            raise

    def track(self, frame: Frame) -> TrackResult:
        """One frame. Never raises on a valid image: failures are logged and reported LOST."""
        check_color(frame.color)
        if self._target is None:
            return TrackResult((0.0, 0.0, 0.0, 0.0), 0.0, TrackerState.IDLE)
        watch = Stopwatch(self.device)
        start = time.perf_counter()
        try:
            with torch.no_grad():
                result = self._track(frame, watch)
        except Exception as error:  # the Tracker protocol: report LOST, never raise
            self._failures.track_failure(self.name, error)
            result = TrackResult(self._box(), 0.0, TrackerState.LOST)
        result.timings = {**watch.times, "total": time.perf_counter() - start}
        return result

    # ---------------------------------------------------------------- initialisation

    def _initialize(self, image: torch.Tensor, box: np.ndarray) -> None:
        pos, size = box_to_pos_size(box)
        search_area = float(np.prod(size * self.params.search_area_scale))
        scale = math.sqrt(search_area) / math.sqrt(float(np.prod(self.img_sample_sz)))
        self._target = _Target(pos, size, scale, size / scale)
        self._frame_num = 1
        self._pos_iounet: np.ndarray | None = None

        init_pos, init_scale, global_shift = self._init_sample_location(image.shape[-2:])
        augmentations = self._augmentations(global_shift)
        backbone = self._init_backbone(image, init_pos, init_scale, augmentations)
        identity_box = image_to_patch_box(pos, size, init_pos, init_scale, self.img_sample_sz)
        self._init_classifier(backbone, identity_box, augmentations)
        self._init_iou_net(backbone, identity_box, augmentations[0])

    def _init_sample_location(
        self, image_hw: tuple[int, int]
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Centre, scale and global shift of the first-frame samples.

        Only border mode 'inside' shrinks the first-frame window (and shifts the samples by
        what sticks out), exactly as the reference; other modes sample at the target scale.
        """
        target = self._target
        init_pos = np.round(target.pos)
        if self.params.border_mode != "inside":
            return init_pos, target.scale, np.zeros(2)
        image_sz = np.array(image_hw, dtype=np.float64)
        sample_sz = target.scale * self.img_sample_sz
        shrink = max(float(np.max(sample_sz / image_sz)), 1.0)
        if self.params.patch_max_scale_change is not None:
            shrink = min(shrink, self.params.patch_max_scale_change)
        sample_sz = sample_sz / shrink
        init_scale = math.sqrt(float(np.prod(sample_sz / self.img_sample_sz)))
        top_left = target.pos - (sample_sz - 1) / 2
        bottom_right = target.pos + sample_sz / 2 + 1
        outside = np.clip(-top_left, 0, None) - np.clip(bottom_right - image_sz, 0, None)
        return init_pos, init_scale, -outside / init_scale

    def _augmentations(self, global_shift: np.ndarray) -> list[Augmentation]:
        config = self.params.augmentation if self.params.use_augmentation else None
        return build_augmentations(
            config,
            self.img_sample_sz,
            self.params.random_shift_factor,
            global_shift,
            self._generator,
        )

    def _init_backbone(
        self,
        image: torch.Tensor,
        init_pos: np.ndarray,
        init_scale: float,
        augmentations: list[Augmentation],
    ) -> dict[str, torch.Tensor]:
        """Backbone features of the augmented samples, cut from one enlarged patch."""
        expanded = np.trunc(self.img_sample_sz * self.params.augmentation_expansion_factor)
        expanded += (expanded - self.img_sample_sz) % 2
        patch, _ = sample_patch(
            image,
            init_pos,
            init_scale * expanded,
            expanded,
            arithmetic=self.params.crop_arithmetic,
        )
        patches = torch.cat(
            [apply_augmentation(patch, aug, self.img_sample_sz) for aug in augmentations]
        )
        return self._backbone(patches)

    def _init_classifier(
        self,
        backbone: dict[str, torch.Tensor],
        identity_box: np.ndarray,
        augmentations: list[Augmentation],
    ) -> None:
        """Initial filter and sample memory from the augmented (+ feature dropout) samples."""
        features = self.net.classification_features(backbone)
        shifts = [aug.shift for aug in augmentations]
        count, prob = self.params.augmentation.dropout
        if self.params.use_augmentation and count > 0:
            dropped = feature_dropout(features[0:1], count, prob, self._generator)
            features = torch.cat([features, dropped])
            shifts += [augmentations[0].shift] * count
        boxes = np.stack([identity_box + np.array([dx, dy, 0.0, 0.0]) for dy, dx in shifts])
        boxes_t = torch.from_numpy(boxes).to(self.device, features.dtype)
        self._set_score_geometry(features.shape[-2:])
        features = self._prepare_init_samples(features, boxes_t)
        self._memory = SampleMemory(
            features,
            boxes_t,
            self.params.sample_memory_size,
            self.params.init_samples_minimum_weight,
        )
        # The steps run on the memory (the first-frame samples, uniformly weighted, and empty
        # zero-weight slots): every filter optimisation sees the same sample count.
        self._filter = solvers.initial_filter(
            self.net, features, boxes_t, self.params.net_opt_iter, self._memory.training_set()
        )

    def _set_score_geometry(self, feature_hw: tuple[int, int]) -> None:
        """Feature/score sizes: an even filter adds a score cell and shifts the search centre."""
        self._feature_sz = np.array(feature_hw, dtype=np.float64)
        kernel = int(self.net.filter_size)
        self._centre_offset = (self._feature_sz + kernel) % 2
        self._window = None
        if self.params.window_output:
            score_sz = self._feature_sz.astype(int) + (kernel + 1) % 2
            self._window = loc.hann_window((int(score_sz[0]), int(score_sz[1])))

    def _prepare_init_samples(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Hook: first-frame training features (TrDiMP passes them through its transformer)."""
        return features

    def _init_iou_net(
        self, backbone: dict[str, torch.Tensor], identity_box: np.ndarray, identity: Augmentation
    ) -> None:
        """Modulation vectors from the unaugmented sample only (iounet_augmentation=False)."""
        box = identity_box + np.array([identity.shift[1], identity.shift[0], 0.0, 0.0])
        first = {name: value[0:1] for name, value in backbone.items()}
        box_t = torch.from_numpy(box).view(1, 4).to(self.device, first["layer3"].dtype)
        self._iou_modulation = [m.mean(0) for m in self.net.iou_modulation(first, box_t)]

    # ---------------------------------------------------------------- tracking

    def _track(self, frame: Frame, watch: Stopwatch) -> TrackResult:
        self._frame_num += 1
        target = self._target
        with watch.stage("patch"):
            image = self._frame_image(frame)
            centre = target.pos + self._centre_offset * target.scale * self.img_sample_sz / (
                2 * self._feature_sz
            )
            scales = [target.scale * f for f in self.params.scale_factors]
            patches, coords = sample_patch_multiscale(
                image,
                centre,
                scales,
                self.img_sample_sz,
                self.params.border_mode,
                self.params.patch_max_scale_change,
                self.params.crop_arithmetic,
            )
        with watch.stage("backbone"):
            backbone = self._backbone(patches)
        with watch.stage("classify"):
            sample = _FrameSample(
                backbone=backbone,
                features=self._classification_features(backbone),
                sample_pos=np.stack([c.sample_pos for c in coords]),
                sample_scales=np.array([c.sample_scale(self.img_sample_sz) for c in coords]),
            )
            scores = self.net.classify(self._filter, sample.features)[:, 0].float().cpu().numpy()
        with watch.stage("localize"):
            found = loc.localize_advanced(
                scores,
                sample.sample_pos,
                sample.sample_scales,
                target.pos,
                target.size,
                self.img_sample_sz,
                int(self.net.filter_size),
                self._localization_params,
                self._window,
                self.params.perform_hn_without_windowing,
            )
        index = found.scale_index
        if found.flag != loc.NOT_FOUND:
            with watch.stage("refine"):
                self._update_position(sample.sample_pos[index] + found.translation, frame)
                update_scale = (
                    self.params.update_scale_when_uncertain or found.flag != loc.UNCERTAIN
                )
                self._refine_box(sample, index, update_scale)
        if found.flag in (loc.NORMAL, loc.HARD_NEGATIVE) and self.params.update_classifier:
            with watch.stage("update"):
                box = image_to_patch_box(
                    target.pos,
                    target.size,
                    sample.sample_pos[index],
                    sample.sample_scales[index],
                    self.img_sample_sz,
                )
                lr = (
                    self.params.hard_negative_learning_rate
                    if found.flag == loc.HARD_NEGATIVE
                    else None
                )
                self._update_classifier(sample.features[index : index + 1], box, lr, sample)
        if found.flag != loc.NOT_FOUND and self._pos_iounet is not None:
            # As the reference: when this frame's refinement kept no box, this restores the
            # last refined position (the classifier's estimate is dropped).
            target.pos = self._pos_iounet.copy()
        return TrackResult(
            box_xywh=self._box(),
            score=float(scores[index].max()),
            state=FLAG_STATES[found.flag],
            score_map=self._score_map(scores[index], sample, index),
        )

    def _classification_features(self, backbone: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hook: features the filter is applied to (TrDiMP decodes them with its transformer)."""
        return self.net.classification_features(backbone)

    def _update_position(self, new_pos: np.ndarray, frame: Frame) -> None:
        """Move the target, keeping its centre within ``target_inside_ratio`` of the image."""
        target = self._target
        image_sz = np.array([frame.color.shape[0], frame.color.shape[1]], dtype=np.float64)
        offset = (self.params.target_inside_ratio - 0.5) * target.size
        target.pos = np.maximum(np.minimum(new_pos, image_sz - offset), offset)

    def _refine_box(self, sample: _FrameSample, index: int, update_scale: bool) -> None:
        """IoUNet refinement: gradient ascent on the predicted IoU of jittered boxes.

        The final box is the mean of the ``iounet_k`` best boxes with a sane aspect ratio;
        when none is left the state is not touched here (``_track`` then falls back to the last
        refined position, as the reference does).
        """
        params, target = self.params, self._target
        sample_pos, sample_scale = sample.sample_pos[index], float(sample.sample_scales[index])
        init_box = image_to_patch_box(
            target.pos, target.size, sample_pos, sample_scale, self.img_sample_sz
        )
        proposals = np.concatenate([init_box[None], self._jittered_boxes(init_box)])
        backbone = {name: value[index : index + 1] for name, value in sample.backbone.items()}
        proposals_t = torch.from_numpy(proposals).to(self.device, backbone["layer3"].dtype)
        boxes_t, ious_t = solvers.refine_boxes(
            self.net,
            self._iou_modulation,
            backbone,
            proposals_t.unsqueeze(0),
            params.box_refinement_iter,
            [params.box_refinement_step_length],
            params.box_refinement_step_decay,
            params.box_refinement_space == "relative",
        )
        boxes = boxes_t.view(-1, 4).double().cpu()
        ious = ious_t.view(-1).double().cpu()
        boxes[:, 2:] = boxes[:, 2:].clamp(min=1)
        aspect = boxes[:, 2] / boxes[:, 3]
        keep = (aspect < params.maximal_aspect_ratio) & (aspect > 1 / params.maximal_aspect_ratio)
        if not bool(keep.any()):
            return
        boxes, ious = boxes[keep], ious[keep]
        _, best = torch.topk(ious, min(params.iounet_k, boxes.shape[0]))
        box = boxes[best].mean(0).numpy()
        new_pos, new_size = refined_box_to_image(box, sample_pos, sample_scale, self.img_sample_sz)
        self._pos_iounet = new_pos.copy()
        target.pos = new_pos
        target.size = new_size
        if update_scale:
            target.scale = math.sqrt(float(np.prod(new_size) / np.prod(target.base_size)))

    def _jittered_boxes(self, init_box: np.ndarray) -> np.ndarray:
        """``num_init_random_boxes`` random boxes around ``init_box`` (reference's recipe)."""
        count = self.params.num_init_random_boxes
        if count == 0:
            return np.zeros((0, 4))
        square = math.sqrt(init_box[2] * init_box[3])
        factor = square * np.array(
            [self.params.box_jitter_pos] * 2 + [self.params.box_jitter_sz] * 2
        )
        jitter = (torch.rand(count, 4, generator=self._generator) - 0.5).double().numpy() * factor
        size = np.maximum(init_box[2:] + jitter[:, 2:], init_box[2:].min() / 3)
        centre = init_box[:2] + init_box[2:] / 2 + jitter[:, :2]
        return np.concatenate([centre - size / 2, size], axis=1)

    def _update_classifier(
        self,
        train_x: torch.Tensor,
        box: np.ndarray,
        learning_rate: float | None,
        sample: _FrameSample,
    ) -> None:
        """Store the sample, then optimise the filter on the memory when the schedule says so.

        ``sample`` is unused here; TrDiMP's override needs it for its transformer memory.
        """
        hard_negative = learning_rate is not None
        lr = self.params.learning_rate if learning_rate is None else learning_rate
        if hard_negative or self._frame_num % self.params.train_sample_interval == 0:
            box_t = torch.from_numpy(box).to(self.device, train_x.dtype)
            self._memory.add(train_x, box_t, lr)
        if hard_negative:
            num_iter = self.params.net_opt_hn_iter
        elif (self._frame_num - 1) % self.params.train_skipping == 0:
            num_iter = self.params.net_opt_update_iter
        else:
            num_iter = 0
        if num_iter > 0:
            samples, boxes, weights = self._memory.training_set()
            self._filter = solvers.optimize_filter(
                self.net, self._filter, samples, boxes, weights, num_iter
            )

    # ---------------------------------------------------------------- helpers

    def _frame_image(self, frame: Frame) -> torch.Tensor:
        """The image patches are cut from: RGB here, RGB + depth colour map for DeT."""
        return image_to_tensor(frame.color, self.device)

    def _backbone(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Backbone features; a 6-channel patch is colour + DeT depth colour map."""
        depth = patches[:, 3:] if patches.shape[1] > 3 else None
        return self.net.extract_backbone(patches[:, :3], depth)

    def _box(self) -> BoxXYWH:
        x, y, w, h = (float(v) for v in pos_size_to_box(self._target.pos, self._target.size))
        return x, y, w, h

    def _score_map(self, scores: np.ndarray, sample: _FrameSample, index: int) -> ScoreMap:
        """The score map and the image box it covers (one cell per score, centred on the sample)."""
        cell = self.img_sample_sz / self._feature_sz * float(sample.sample_scales[index])
        size = np.array(scores.shape, dtype=np.float64) * cell
        x, y, w, h = (float(v) for v in pos_size_to_box(sample.sample_pos[index], size))
        return ScoreMap(scores.astype(np.float32), (x, y, w, h))


class DeTTracker(DiMPTracker):
    """DeT (DepthTrack): DiMP on RGB + the JET colour map of the clipped depth.

    A frame without depth is refused by ``initialize`` (ValueError) and reported LOST by
    ``track``: a DeT model on a blank depth image would run but its score would mean nothing.
    """

    name: ClassVar[str] = "det"
    uses_depth: ClassVar[bool] = True

    def __init__(self, net: Any, params: DeTParams, device: torch.device) -> None:
        super().__init__(net, params, device)
        self._depth_clip = (params.depth_clip_median_factor, params.depth_clip_max_m * 1000.0)

    def _frame_image(self, frame: Frame) -> torch.Tensor:
        if frame.depth is None:
            raise ValueError("the DeT tracker needs depth: this frame has no depth image")
        return image_to_tensor(rgbd_image(frame.color, frame.depth, *self._depth_clip), self.device)


# --------------------------------------------------------------------------------------------
# Factories


def build_dimp(params: DiMPParams, model: TrackerModel) -> DiMPTracker:
    """Spec factory of 'dimp' (DiMP-50)."""
    return DiMPTracker(model.net, params, model.device)


def build_det(params: DeTParams, model: TrackerModel) -> DeTTracker:
    """Spec factory of 'det' (DeT-DiMP50, RGB-D)."""
    return DeTTracker(model.net, params, model.device)
