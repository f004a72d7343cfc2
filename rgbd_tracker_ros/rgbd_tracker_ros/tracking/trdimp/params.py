"""Typed parameters of TrDiMP and TrSiam (``config/trackers/trdimp.yaml``, ``trsiam.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from rgbd_tracker_ros.tracking.dimp.params import DiMPParams, refuse_failed

PARAMETER_SETS = ("default", "lasot")


@dataclass(frozen=True)
class TrDiMPParams(DiMPParams):
    """DiMP parameters plus the transformer memory's (``config/trackers/trdimp.yaml``)."""

    parameter_set: str
    transformer_skipping: int
    transformer_memory_size: int

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (
                self.parameter_set in PARAMETER_SETS,
                f"parameter_set must be one of {PARAMETER_SETS}",
            ),
            (self.transformer_skipping >= 0, "transformer_skipping must be >= 0 (0 = never)"),
            (self.transformer_memory_size > 0, "transformer_memory_size must be positive"),
            (
                len(self.scale_factors) == 1,
                "scale_factors must hold one value: the TrDiMP decoder takes one search image",
            ),
        ]
        refuse_failed(self, checks)

    @property
    def updates_transformer_memory(self) -> bool:
        """The reference's lasot sets never update (their skipping of 0.1 never divides a frame
        number); here that is said directly."""
        return self.parameter_set != "lasot" and self.transformer_skipping > 0
