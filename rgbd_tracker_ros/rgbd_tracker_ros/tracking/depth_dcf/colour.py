"""A colour model of the target that vets what the correlation filter finds.

The filter is linear: a look-alike with the same texture in another hue loses only the
colour channels' share of the response and can still win. A chroma histogram of the
target's cells, compared multiplicatively (Bhattacharyya coefficient), tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rgbd_tracker_ros.tracking.depth_dcf.features import (
    FeatureSettings,
    chroma_cells,
    chroma_histogram,
)


@dataclass(frozen=True)
class CellBox:
    """A box in a feature grid: rows ``top:bottom``, columns ``left:right`` (never empty)."""

    top: int
    bottom: int
    left: int
    right: int

    @classmethod
    def around(
        cls, row: float, col: float, half_rows: float, half_cols: float, rows: int, cols: int
    ) -> CellBox:
        """The cells within the half sizes of (row, col) (cell-edge coordinates), clipped to
        a rows x cols grid; at least one cell."""
        top, bottom = max(0, round(row - half_rows)), min(rows, max(round(row + half_rows), 1))
        left, right = max(0, round(col - half_cols)), min(cols, max(round(col + half_cols), 1))
        return cls(min(top, bottom - 1), bottom, min(left, right - 1), right)


def histogram_similarity(first: torch.Tensor, second: torch.Tensor) -> float:
    """Bhattacharyya coefficient of two normalised histograms: 1 same, 0 disjoint."""
    return float(torch.sqrt(first * second).sum())


class ColourModel:
    """Running chroma histogram of the target's cells, learned at the filter's pace."""

    def __init__(self, settings: FeatureSettings, bins: int, extent: float) -> None:
        self.settings = settings
        self.bins = bins
        self.extent = extent
        self.histogram: torch.Tensor | None = None

    def _histogram(self, features: torch.Tensor, box: CellBox) -> torch.Tensor:
        cells = features[:1, :, box.top : box.bottom, box.left : box.right]
        return chroma_histogram(chroma_cells(cells, self.settings)[0], self.bins, self.extent)

    def learn(self, features: torch.Tensor, box: CellBox, rate: float) -> None:
        """Blend in the target's cells of ``features`` (1, C, H, W); ``rate`` 1 starts afresh."""
        histogram = self._histogram(features, box)
        if self.histogram is None or rate >= 1.0:
            self.histogram = histogram
        else:
            self.histogram.mul_(1.0 - rate).add_(histogram, alpha=rate)

    def similarity(self, features: torch.Tensor, box: CellBox) -> float:
        """How well the colours of the cells in ``box`` match the model (1 before learning)."""
        if self.histogram is None:
            return 1.0
        return histogram_similarity(self._histogram(features, box), self.histogram)
