"""Parameters of the SiamRPN++ trackers (``config/trackers/siamrpn.yaml``, ``siamrpn_lt.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from rgbd_tracker_ros.tracking.dimp.params import refuse_failed
from rgbd_tracker_ros.tracking.model import NetworkParams

PRECISIONS = ("fp32",)


@dataclass(frozen=True)
class SiamRPNParams(NetworkParams):
    """pysot's TRACK/ANCHOR settings plus the depth option; the YAML documents each one."""

    error_log_interval_s: float
    exemplar_size: int
    instance_size: int
    context_amount: float
    anchor_ratios: tuple[float, ...]
    anchor_scales: tuple[float, ...]
    penalty_k: float
    window_influence: float
    lr: float
    min_size: float
    use_depth: bool
    depth_max_change: float
    depth_change_per_unseen_frame: float
    depth_rate: float
    depth_candidates: int

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
            (self.exemplar_size > 0, "exemplar_size must be positive"),
            (self.instance_size > self.exemplar_size, "instance_size must exceed exemplar_size"),
            (self.context_amount >= 0, "context_amount must be >= 0"),
            (
                bool(self.anchor_ratios) and min(self.anchor_ratios) > 0,
                "anchor_ratios must be a non-empty list of positive numbers",
            ),
            (
                bool(self.anchor_scales) and min(self.anchor_scales) > 0,
                "anchor_scales must be a non-empty list of positive numbers",
            ),
            (self.penalty_k >= 0, "penalty_k must be >= 0"),
            (0 <= self.window_influence <= 1, "window_influence must be in [0, 1]"),
            (0 <= self.lr <= 1, "lr must be in [0, 1]"),
            (self.min_size > 0, "min_size must be positive"),
            (self.depth_max_change > 0, "depth_max_change must be positive"),
            (self.depth_change_per_unseen_frame >= 0, "depth_change_per_unseen_frame >= 0"),
            (0 < self.depth_rate <= 1, "depth_rate must be in (0, 1]"),
            (self.depth_candidates >= 1, "depth_candidates must be at least 1"),
        ]
        refuse_failed(self, checks)


@dataclass(frozen=True)
class SiamRPNLTParams(SiamRPNParams):
    """Plus the long-term tracker's confidence thresholds and its lost-state search."""

    confidence_low: float
    confidence_high: float
    lost_instance_size: int
    lost_window_influence: float

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (
                0 <= self.confidence_low <= self.confidence_high <= 1,
                "need 0 <= confidence_low <= confidence_high <= 1",
            ),
            (
                self.lost_instance_size >= self.instance_size,
                "lost_instance_size must be at least instance_size",
            ),
            (0 <= self.lost_window_influence <= 1, "lost_window_influence must be in [0, 1]"),
        ]
        refuse_failed(self, checks)
