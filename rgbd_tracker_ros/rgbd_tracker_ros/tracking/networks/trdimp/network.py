"""TrDiMP network: DiMP-50 with the transformer inside its classifier (``classifier.transformer``).

Paper: Wang et al., "Transformer Meets Tracker: Exploiting Temporal Context for Robust Visual
Tracking", CVPR 2021.

The official ``trdimp_net.pth.tar`` was saved by TransformerTrack's own ``dimpnet50`` (same
constructor name as pytracking's DiMP-50), so its state dict is the 407 DiMP-50 entries plus 12
transformer entries (the shared self-attention listed twice). The interface is DiMP's (see
``tracking/networks/dimp/network.py``) plus the transformer's steps, which
``networks/trdimp/memory.py`` drives as the memory changes:

* ``memory_keys(memory (N, 512, H, W)) -> (N, H*W, 128)``: the encoder's embedded keys.
* ``memory_sums(query_keys, keys, memory) -> [Z, S]``: the encoder's softmax sums of query
  images over key images, per block (see ``transformer.py``).
* ``memory_push_sums(key, feature, keys, memory) -> [Z, S, Z', S']``: what putting an image in
  front of ``memory`` adds: its own sums over all images and the others' sums over it.
* ``encoded_memory(memory, [Z, S]) -> encoded memory (N, 512, H, W)``.
* ``decoder_memory(encoded, labels (N, H, W)) -> memory``: what decoding needs of the encoded
  memory and its Gaussian labels (``transformer.gaussian_labels``).
* ``decode(feat (M, 512, H, W), memory) -> (M, 512, H, W)``: each query image on its own.

The DiMP filter is learned on, and applied to, decoded features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from rgbd_tracker_ros.tracking.networks.dimp.classifier import LinearFilter
from rgbd_tracker_ros.tracking.networks.dimp.iounet import AtomIoUNet
from rgbd_tracker_ros.tracking.networks.dimp.network import (
    DiMPConfig,
    DiMPNet,
    build_iounet,
    build_linear_filter,
)
from rgbd_tracker_ros.tracking.networks.resnet import ResNet, resnet50
from rgbd_tracker_ros.tracking.networks.trdimp.transformer import Transformer

ARCHITECTURE = "trdimp"


class TransformerLinearFilter(LinearFilter):
    """DiMP classifier that also holds the transformer, where the checkpoint has it."""

    def __init__(self, base: LinearFilter, transformer: Transformer) -> None:
        super().__init__(
            base.filter_size, base.filter_initializer, base.filter_optimizer, base.feature_extractor
        )
        self.transformer = transformer


class TrDiMPNet(DiMPNet):
    """TrDiMP / TrSiam network (one network for both: TrSiam skips the filter optimiser)."""

    # The transformer memory's image counts vary too (networks/export.py).
    EXPORT_DYNAMIC_DIMS: ClassVar[dict[str, dict[str, tuple[int, ...]]]] = {
        **DiMPNet.EXPORT_DYNAMIC_DIMS,
        "memory_keys": {"0": (0,)},
        "memory_sums": {"0": (0,), "1": (0,), "2": (0,)},
        "memory_push_sums": {"2": (0,), "3": (0,)},
        "encoded_memory": {"0": (0,), "1.0": (0,), "1.1": (0,)},
        "decoder_memory": {"0": (0,), "1": (0,)},
        "decode": {"0": (0,), "1.0": (2,), "1.1": (1,)},
    }

    def __init__(
        self,
        feature_extractor: ResNet,
        classifier: TransformerLinearFilter,
        bb_regressor: AtomIoUNet,
    ) -> None:
        super().__init__(feature_extractor, classifier, bb_regressor, ARCHITECTURE)

    @torch.jit.export
    def memory_keys(self, memory: Tensor) -> Tensor:
        return self.classifier.transformer.memory_keys(memory)

    @torch.jit.export
    def memory_sums(self, query_keys: Tensor, keys: Tensor, memory: Tensor) -> list[Tensor]:
        return self.classifier.transformer.block_sums(query_keys, keys, memory)

    @torch.jit.export
    def memory_push_sums(
        self, key: Tensor, feature: Tensor, keys: Tensor, memory: Tensor
    ) -> list[Tensor]:
        return self.classifier.transformer.push_sums(key, feature, keys, memory)

    @torch.jit.export
    def encoded_memory(self, memory: Tensor, sums: list[Tensor]) -> Tensor:
        return self.classifier.transformer.encoded(memory, sums)

    @torch.jit.export
    def decoder_memory(self, encoded: Tensor, labels: Tensor) -> list[Tensor]:
        return self.classifier.transformer.decoder_memory(encoded, labels)

    @torch.jit.export
    def decode(self, feat: Tensor, memory: list[Tensor]) -> Tensor:
        return self.classifier.transformer.decode(feat, memory)


def build_trdimpnet50(kwds: Mapping[str, Any]) -> TrDiMPNet:
    """TrDiMP from TransformerTrack ``dimpnet50`` constructor arguments.

    The transformer's shape (d_model 512, one head, one layer, key width 128) is fixed in the
    reference's constructor, so no argument selects it.
    """
    config = DiMPConfig.from_kwds(kwds)
    backbone = resnet50()
    classifier = TransformerLinearFilter(
        build_linear_filter(config),
        Transformer(config.out_feature_dim),
    )
    return TrDiMPNet(backbone, classifier, build_iounet(config, backbone))
