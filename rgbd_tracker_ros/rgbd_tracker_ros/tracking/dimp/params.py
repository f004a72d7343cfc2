"""Typed parameters of the DiMP and DeT trackers (``config/trackers/dimp.yaml``, ``det.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from rgbd_tracker_ros.tracking.dimp import localization as loc
from rgbd_tracker_ros.tracking.dimp.preprocessing import (
    BORDER_MODES,
    CROP_ARITHMETICS,
    AugmentationConfig,
)
from rgbd_tracker_ros.tracking.model import NetworkParams

REFINEMENT_SPACES = ("default", "relative")


def refuse_failed(params: object, checks: list[tuple[bool, str]]) -> None:
    """Raise ValueError with the message of the first failed ``(ok, message)`` check."""
    for ok, message in checks:
        if not ok:
            raise ValueError(f"{type(params).__name__}: {message}")


@dataclass(frozen=True)
class DiMPParams(NetworkParams):
    """Parameters of the DiMP tracker; ``config/trackers/dimp.yaml`` documents each one."""

    seed: int
    error_log_interval_s: float
    image_sample_size: int
    search_area_scale: float
    border_mode: str
    crop_arithmetic: str
    patch_max_scale_change: float | None
    scale_factors: tuple[float, ...]
    target_inside_ratio: float
    update_classifier: bool
    sample_memory_size: int
    learning_rate: float
    init_samples_minimum_weight: float
    train_sample_interval: int
    train_skipping: int
    net_opt_iter: int
    net_opt_update_iter: int
    net_opt_hn_iter: int
    hard_negative_learning_rate: float
    use_augmentation: bool
    augmentation: AugmentationConfig
    augmentation_expansion_factor: float
    random_shift_factor: float
    target_not_found_threshold: float
    distractor_threshold: float
    hard_negative_threshold: float
    target_neighborhood_scale: float
    displacement_scale: float
    uncertain_threshold: float | None
    hard_sample_threshold: float | None
    window_output: bool
    perform_hn_without_windowing: bool
    update_scale_when_uncertain: bool
    num_init_random_boxes: int
    box_jitter_pos: float
    box_jitter_sz: float
    box_refinement_iter: int
    box_refinement_step_length: float
    box_refinement_step_decay: float
    box_refinement_space: str
    iounet_k: int
    maximal_aspect_ratio: float

    def __post_init__(self) -> None:
        """Refuse values the tracker cannot run with, naming the parameter."""
        super().__post_init__()
        checks = [
            (self.border_mode in BORDER_MODES, f"border_mode must be one of {BORDER_MODES}"),
            (
                self.crop_arithmetic in CROP_ARITHMETICS,
                f"crop_arithmetic must be one of {CROP_ARITHMETICS}",
            ),
            (
                self.box_refinement_space in REFINEMENT_SPACES,
                f"box_refinement_space must be one of {REFINEMENT_SPACES}",
            ),
            (self.image_sample_size > 0, "image_sample_size must be positive"),
            (self.search_area_scale > 0, "search_area_scale must be positive"),
            (
                len(self.scale_factors) > 0 and min(self.scale_factors) > 0,
                "scale_factors must be a non-empty list of positive numbers",
            ),
            (self.sample_memory_size > 0, "sample_memory_size must be positive"),
            (0 < self.learning_rate < 1, "learning_rate must be in (0, 1)"),
            (
                0 < self.hard_negative_learning_rate < 1,
                "hard_negative_learning_rate must be in (0, 1)",
            ),
            (
                self.train_skipping > 0 and self.train_sample_interval > 0,
                "train_skipping and train_sample_interval must be positive",
            ),
            (
                self.box_refinement_iter >= 0 and self.num_init_random_boxes >= 0,
                "box_refinement_iter and num_init_random_boxes must be >= 0",
            ),
            (self.iounet_k > 0, "iounet_k must be positive"),
            (self.maximal_aspect_ratio > 1, "maximal_aspect_ratio must be > 1"),
            (0 <= self.augmentation.dropout[1] < 1, "augmentation dropout probability in [0, 1)"),
        ]
        refuse_failed(self, checks)

    def localization(self) -> loc.LocalizationParams:
        return loc.LocalizationParams(
            target_not_found_threshold=self.target_not_found_threshold,
            distractor_threshold=self.distractor_threshold,
            hard_negative_threshold=self.hard_negative_threshold,
            target_neighborhood_scale=self.target_neighborhood_scale,
            displacement_scale=self.displacement_scale,
            uncertain_threshold=self.uncertain_threshold,
            hard_sample_threshold=self.hard_sample_threshold,
        )


@dataclass(frozen=True)
class DeTParams(DiMPParams):
    """DiMP parameters plus DeT's depth clipping (``config/trackers/det.yaml``)."""

    depth_clip_median_factor: float
    depth_clip_max_m: float
