"""TrDiMP and TrSiam trackers: the DiMP tracker with a transformer between features and filter.

Paper (both): Wang et al., "Transformer Meets Tracker: Exploiting Temporal Context for Robust
Visual Tracking", CVPR 2021.

Follows TransformerTrack's ``pytracking/tracker/trdimp/trdimp.py`` (594422814/TransformerTrack);
everything else is ``DiMPTracker``, changed through its hooks:

* first frame: the classification features of the augmented samples (dropout copies included)
  and their Gaussian target labels form the transformer memory; the encoder runs over it, and
  the samples themselves are decoded before the filter is learned on them;
* every frame: the search features are decoded against the encoded memory; the filter is
  applied to, and the sample memory stores, decoded features;
* on a classifier update every ``transformer_skipping``-th frame, the frame's raw features
  and the label of the refined box are put at the front of the memory (dropping the last,
  oldest entry once ``transformer_memory_size`` is reached) and the memory is encoded again
  (incrementally: ``networks/trdimp/memory.py``).

TrSiam runs the same code with zero optimiser iterations: the filter is the initializer's output
on the decoded first-frame samples, a Siamese correlation kernel that never changes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from rgbd_tracker_ros.tracking.dimp.tracker import DiMPTracker, _FrameSample
from rgbd_tracker_ros.tracking.model import TrackerModel
from rgbd_tracker_ros.tracking.networks.trdimp.memory import TransformerMemory
from rgbd_tracker_ros.tracking.networks.trdimp.network import ARCHITECTURE
from rgbd_tracker_ros.tracking.networks.trdimp.transformer import gaussian_labels
from rgbd_tracker_ros.tracking.trdimp.params import TrDiMPParams


class TrDiMPTracker(DiMPTracker):
    """TrDiMP. ``net`` is a TrDiMP network (eager ``TrDiMPNet`` or its TorchScript export)."""

    name: ClassVar[str] = "trdimp"
    params: TrDiMPParams

    def __init__(self, net: Any, params: TrDiMPParams, device: torch.device) -> None:
        architecture = str(getattr(net, "architecture", "unknown"))
        if architecture != ARCHITECTURE:
            raise ValueError(
                f"tracker {self.name!r} needs a TrDiMP network (exported from "
                f"trdimp_net.pth.tar), got a {architecture!r} network"
            )
        super().__init__(net, params, device)
        self._transformer_memory: TransformerMemory | None = None
        # Raw (not decoded) classification features of the current search patch.
        self._frame_features = torch.empty(0)

    def _labels(self, boxes: torch.Tensor) -> torch.Tensor:
        """Gaussian labels (N, H, W) on the feature grid of patch-pixel boxes (N, 4)."""
        return gaussian_labels(
            boxes,
            int(self._feature_sz[0]),
            float(self.img_sample_sz[0]),
            int(self.net.filter_size),
        )

    def _decode(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.decode(features, self._transformer_memory.decoder)

    def _prepare_init_samples(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        self._transformer_memory = TransformerMemory(self.net, features, self._labels(boxes))
        return self._decode(features)

    def _classification_features(self, backbone: dict[str, torch.Tensor]) -> torch.Tensor:
        self._frame_features = self.net.classification_features(backbone)
        return self._decode(self._frame_features)

    def _update_classifier(
        self,
        train_x: torch.Tensor,
        box: np.ndarray,
        learning_rate: float | None,
        sample: _FrameSample,
    ) -> None:
        super()._update_classifier(train_x, box, learning_rate, sample)
        params = self.params
        if not params.updates_transformer_memory:
            return
        memory = self._transformer_memory
        since_change = (self._frame_num - 1) % params.transformer_skipping
        if since_change != 0:
            # A frame between memory changes does the next change's drop ahead of it; not the
            # one right after a change, whose decoding encodes the changed memory.
            if since_change != 1:
                memory.prepare_drop(params.transformer_memory_size)
            return
        box_t = torch.from_numpy(np.asarray(box, dtype=np.float64)).view(1, 4)
        label = self._labels(box_t.to(self.device, memory.labels.dtype))
        # One search scale (validated), so the frame's features are a single image.
        memory.push(self._frame_features, label, params.transformer_memory_size)


class TrSiamTracker(TrDiMPTracker):
    """TrSiam: TrDiMP with the filter optimiser switched off (a Siamese template)."""

    name: ClassVar[str] = "trsiam"

    def __init__(self, net: Any, params: TrDiMPParams, device: torch.device) -> None:
        iterations = (params.net_opt_iter, params.net_opt_update_iter, params.net_opt_hn_iter)
        if any(iterations):
            raise ValueError(
                "trsiam: net_opt_iter, net_opt_update_iter and net_opt_hn_iter must be 0 "
                f"(got {iterations}); with optimiser iterations the tracker is 'trdimp'"
            )
        super().__init__(net, params, device)


def build_trdimp(params: TrDiMPParams, model: TrackerModel) -> TrDiMPTracker:
    """Spec factory of 'trdimp'."""
    return TrDiMPTracker(model.net, params, model.device)


def build_trsiam(params: TrDiMPParams, model: TrackerModel) -> TrSiamTracker:
    """Spec factory of 'trsiam' (the TrDiMP model, no filter optimisation)."""
    return TrSiamTracker(model.net, params, model.device)
