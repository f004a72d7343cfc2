"""OSTrack and ViPT networks: backbone + centre head, the interface the tracker calls.

``OSTrackNet`` holds the official modules under the official names (``backbone``,
``box_head``), so an official ``net`` state dict loads with ``strict=True``.

Interface (eager module and its TorchScript export alike):

* ``forward(template (1,C,Ht,Wt), search (1,C,Hs,Ws)) -> (score, size, offset)``: images are
  float in [0, 255] (RGB; ViPT: RGB + the depth colour map, 6 channels); ImageNet
  normalisation ``(x/255 - mean)/std`` happens inside, as the reference's ``Preprocessor``.
  ``score`` (1,1,F,F), ``size`` and ``offset`` (1,2,F,F) are fp32 whatever the weights' dtype.
* Attributes: ``architecture`` (str), ``template_size``, ``search_size`` (input sides in
  pixels), ``feature_size`` (F), ``in_channels`` (3 or 6), ``uses_depth`` (bool).

Builders take the reference configuration's values (``experiments/ostrack/*.yaml``,
``experiments/vipt/deep_rgbd.yaml``) as keyword arguments; the official checkpoints record no
constructor, so ``checkpoint.py`` passes each architecture's own configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rgbd_tracker_ros.tracking.networks.checkpoint import UnsupportedArchitectureError
from rgbd_tracker_ros.tracking.networks.dimp.network import IMAGENET_MEAN, IMAGENET_STD
from rgbd_tracker_ros.tracking.networks.ostrack.head import CenterPredictor
from rgbd_tracker_ros.tracking.networks.ostrack.vit import VisionTransformerCE


@dataclasses.dataclass(frozen=True)
class OSTrackConfig:
    """What shapes the network: input sizes, ViT width/depth, candidate elimination, head.

    Defaults are ``vitb_256_mae_ce_32x4_ep300`` (ViT-B/16, CE after blocks 3, 6, 9 keeping
    70 % each time, 256-channel centre head).
    """

    template_size: int = 128
    search_size: int = 256
    stride: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    ce_loc: tuple[int, ...] = (3, 6, 9)
    ce_keep_ratio: tuple[float, ...] = (0.7, 0.7, 0.7)
    head_channels: int = 256

    @classmethod
    def from_kwds(cls, kwds: Mapping[str, Any]) -> OSTrackConfig:
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(kwds) - names)
        if unknown:
            raise UnsupportedArchitectureError(f"unknown OSTrack argument(s) {unknown}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in kwds.items()}
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        problems = [
            (self.template_size % self.stride or self.search_size % self.stride)
            and "template_size and search_size must be multiples of the stride",
            self.embed_dim % self.num_heads and "embed_dim must be a multiple of num_heads",
            len(self.ce_loc) != len(self.ce_keep_ratio)
            and "ce_loc and ce_keep_ratio must have the same length",
            any(not 0 <= i < self.depth for i in self.ce_loc) and "ce_loc outside the blocks",
            any(not 0 < r <= 1 for r in self.ce_keep_ratio) and "ce_keep_ratio must be in (0, 1]",
            self.head_channels % 8 and "head_channels must be a multiple of 8",
        ]
        for problem in problems:
            if problem:
                raise UnsupportedArchitectureError(f"OSTrack configuration: {problem}")

    def backbone_args(self) -> dict[str, Any]:
        return {
            "template_grid": self.template_size // self.stride,
            "search_grid": self.search_size // self.stride,
            "patch": self.stride,
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "ce_loc": self.ce_loc,
            "ce_keep_ratio": self.ce_keep_ratio,
        }


class OSTrackNet(nn.Module):
    """Backbone + centre head; ``forward`` from [0, 255] images to the three head maps."""

    def __init__(
        self, backbone: nn.Module, config: OSTrackConfig, architecture: str, uses_depth: bool
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_size = config.search_size // config.stride
        self.box_head = CenterPredictor(config.embed_dim, config.head_channels, self.feature_size)
        self.architecture = architecture
        self.template_size = config.template_size
        self.search_size = config.search_size
        self.uses_depth = uses_depth
        self.in_channels = 6 if uses_depth else 3
        repeats = self.in_channels // 3
        mean = torch.tensor(IMAGENET_MEAN * repeats).view(1, -1, 1, 1)
        std = torch.tensor(IMAGENET_STD * repeats).view(1, -1, 1, 1)
        # Not in the state dict: the official files have no such entries.
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def normalise(self, image: Tensor) -> Tensor:
        """[0, 255] image -> the network's input, in the weights' dtype."""
        normalised = (image.float() / 255.0 - self.mean) / self.std
        return normalised.to(self.backbone.patch_embed.proj.weight.dtype)

    def head(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Search tokens (the last F*F) as a (B, C, F, F) map through the centre head."""
        search = tokens[:, -self.feature_size * self.feature_size :]
        batch, _, dim = search.shape
        feature = search.transpose(1, 2).reshape(batch, dim, self.feature_size, self.feature_size)
        score, size, offset = self.box_head(feature)
        return score.float(), size.float(), offset.float()

    def forward(self, template: Tensor, search: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        tokens, _ = self.backbone(self.normalise(template), self.normalise(search))
        return self.head(tokens)


def _build(kwds: Mapping[str, Any], architecture: str) -> OSTrackNet:
    config = OSTrackConfig.from_kwds(kwds)
    return OSTrackNet(VisionTransformerCE(**config.backbone_args()), config, architecture, False)


def build_ostrack256(kwds: Mapping[str, Any]) -> OSTrackNet:
    """OSTrack ``vitb_256_mae_ce_32x4_ep300`` from configuration values (``OSTrackConfig``)."""
    return _build(kwds, "ostrack256")


def build_ostrack384(kwds: Mapping[str, Any]) -> OSTrackNet:
    """OSTrack ``vitb_384_mae_ce_32x4_ep300`` (template 192, search 384 in its configuration)."""
    return _build(kwds, "ostrack384")
