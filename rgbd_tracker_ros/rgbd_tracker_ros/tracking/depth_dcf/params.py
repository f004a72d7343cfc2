"""Typed view of ``config/trackers/depth_dcf.yaml``; the YAML holds every value and its meaning."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rgbd_tracker_ros.geometry import DepthParams
from rgbd_tracker_ros.tracking.depth_dcf.confidence import ConfidenceThresholds
from rgbd_tracker_ros.tracking.depth_dcf.distractors import DistractorGates
from rgbd_tracker_ros.tracking.depth_dcf.features import FeatureSettings
from rgbd_tracker_ros.tracking.device import resolve_device

TRACKER_NAME = "depth_dcf"


@dataclass(frozen=True)
class DepthDCFParams:
    """All tunables of the tracker; no defaults here so the YAML stays the one source."""

    device: str
    patch_size_px: int
    cell_size_px: int
    depth_cell_size_px: int
    search_area_factor: float
    min_context_factor: float
    min_target_size_px: float
    min_scale: float
    max_scale: float
    num_scales: int
    scale_step: float
    scale_penalty: float
    scale_rate_with_depth: float
    scale_rate_without_depth: float
    scale_correction_decay: float
    rotation_step_deg: float
    rotation_penalty: float
    rotation_rate: float
    rotation_deadband_steps: float
    alternate_search: bool
    num_orientations: int
    orientation_clip: float
    contrast_floor: float
    max_gain: float
    depth_range_m: float
    depth_sigma_m: float
    orientation_weight: float
    color_weight: float
    depth_weight: float
    label_sigma_factor: float
    regularisation: float
    learning_rate: float
    reuse_patch_max_offset: float
    min_depth_m: float
    max_depth_m: float
    depth_read_pixels: int
    max_depth_change: float
    depth_rate: float
    occlusion_margin_m: float
    occlusion_share: float
    occlusion_box_fraction: float
    confident_score: float
    confident_psr: float
    update_score: float
    lost_score: float
    uncertain_frames_to_lost: int
    occluded_frames_to_lost: int
    follow_score: float
    psr_exclusion_sigmas: float
    redetect_region_factor: float
    redetect_local_frames: int
    redetect_scale_factors: list[float]
    redetect_turns_deg: list[float]
    redetect_score: float
    redetect_psr: float
    redetect_color_similarity: float
    redetect_candidates: int
    redetect_margin: float
    max_target_speed_mps: float
    frame_period_s: float
    distractor_scan_frames: int
    distractor_quiet_scan_frames: int
    distractor_ratio: float
    distractor_count: int
    distractor_separation: float
    distractor_radius: float
    distractor_speed: float
    distractor_depth_margin_m: float
    distractor_depth_weight: float
    distractor_memory_frames: int
    track_color_similarity: float
    color_histogram_bins: int
    color_histogram_extent: float

    def __post_init__(self) -> None:
        """Refuse values the tracker cannot work with, naming the parameter."""
        if self.cell_size_px < 1 or self.patch_size_px % self.cell_size_px != 0:
            raise ValueError(
                f"patch_size_px ({self.patch_size_px}) must be a multiple of cell_size_px "
                f"({self.cell_size_px})"
            )
        if not 1 <= self.depth_cell_size_px <= self.cell_size_px:
            raise ValueError(
                f"depth_cell_size_px must be in 1..cell_size_px, got {self.depth_cell_size_px}"
            )
        if self.depth_read_pixels < 1:
            raise ValueError(f"depth_read_pixels must be >= 1, got {self.depth_read_pixels}")
        if self.patch_size_px // self.cell_size_px < 8:
            raise ValueError("patch_size_px / cell_size_px must give a grid of at least 8 cells")
        if self.num_scales < 1 or self.num_scales % 2 == 0:
            raise ValueError(f"num_scales must be odd and positive, got {self.num_scales}")
        if self.color_weight <= 0.0:
            raise ValueError(f"color_weight must be positive, got {self.color_weight}")
        if self.redetect_region_factor < 1.0:
            raise ValueError("redetect_region_factor must be at least 1")
        if self.redetect_candidates < 1 or self.distractor_count < 0:
            raise ValueError("redetect_candidates must be >= 1 and distractor_count >= 0")
        if not self.frame_period_s > 0.0 or self.max_target_speed_mps < 0.0:
            raise ValueError("frame_period_s must be positive and max_target_speed_mps >= 0")
        for name in ("learning_rate", "depth_rate"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")

    @property
    def grid_size(self) -> int:
        return self.patch_size_px // self.cell_size_px

    def depth_patch_px(self, patch_px: int) -> int:
        """Side of the depth patch sampled alongside a colour patch of ``patch_px``."""
        return patch_px // self.cell_size_px * self.depth_cell_size_px

    def torch_device(self) -> torch.device:
        """``device`` as a torch device ('auto' picks CUDA when available)."""
        return resolve_device(self.device)

    def feature_settings(self) -> FeatureSettings:
        return FeatureSettings(
            cell_size=self.cell_size_px,
            num_orientations=self.num_orientations,
            orientation_clip=self.orientation_clip,
            contrast_floor=self.contrast_floor,
            min_depth_m=self.min_depth_m,
            max_depth_m=self.max_depth_m,
            depth_range_m=self.depth_range_m,
            depth_sigma_m=self.depth_sigma_m,
            orientation_weight=self.orientation_weight,
            color_weight=self.color_weight,
            depth_weight=self.depth_weight,
        )

    def thresholds(self) -> ConfidenceThresholds:
        return ConfidenceThresholds(
            confident_score=self.confident_score,
            confident_psr=self.confident_psr,
            update_score=self.update_score,
            lost_score=self.lost_score,
            redetect_score=self.redetect_score,
            redetect_psr=self.redetect_psr,
            uncertain_frames_to_lost=self.uncertain_frames_to_lost,
            occluded_frames_to_lost=self.occluded_frames_to_lost,
        )

    def distractor_gates(self) -> DistractorGates:
        return DistractorGates(
            radius=self.distractor_radius,
            speed=self.distractor_speed,
            depth_margin_m=self.distractor_depth_margin_m,
            depth_speed_m=self.max_target_speed_mps * self.frame_period_s,
            growth_frames=self.distractor_scan_frames,
            memory_frames=self.distractor_memory_frames,
            depth_weight=self.distractor_depth_weight,
        )

    def depth_params(self) -> DepthParams:
        return DepthParams(min_depth_m=self.min_depth_m, max_depth_m=self.max_depth_m)
