"""Parameters of the OSTrack and ViPT trackers (``config/trackers/{ostrack,ostrack384,vipt}.yaml``
document each one)."""

from __future__ import annotations

from dataclasses import dataclass

from rgbd_tracker_ros.tracking.dimp.params import refuse_failed
from rgbd_tracker_ros.tracking.model import NetworkParams


@dataclass(frozen=True)
class OSTrackParams(NetworkParams):
    """Crops, confidence thresholds and the long-term option; the YAML documents each one."""

    error_log_interval_s: float
    template_factor: float
    search_factor: float
    clip_margin: float
    uncertain_threshold: float
    lost_threshold: float
    long_term: bool
    long_term_search_factor: float

    def __post_init__(self) -> None:
        super().__post_init__()
        refuse_failed(
            self,
            [
                (self.template_factor > 0, "template_factor must be positive"),
                (self.search_factor > 0, "search_factor must be positive"),
                (self.clip_margin >= 0, "clip_margin must be >= 0"),
                (
                    0 <= self.lost_threshold <= self.uncertain_threshold <= 1,
                    "thresholds must satisfy 0 <= lost_threshold <= uncertain_threshold <= 1",
                ),
                (
                    self.long_term_search_factor >= self.search_factor,
                    "long_term_search_factor must be >= search_factor",
                ),
            ],
        )


@dataclass(frozen=True)
class ViPTParams(OSTrackParams):
    """OSTrack's parameters plus the depth colour map's clipping (as DeT's)."""

    depth_clip_median_factor: float
    depth_clip_max_m: float

    def __post_init__(self) -> None:
        super().__post_init__()
        refuse_failed(
            self,
            [
                (self.depth_clip_median_factor > 0, "depth_clip_median_factor must be positive"),
                (self.depth_clip_max_m > 0, "depth_clip_max_m must be positive"),
            ],
        )
