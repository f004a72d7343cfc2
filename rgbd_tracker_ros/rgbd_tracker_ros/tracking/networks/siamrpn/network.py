"""SiamRPN++ ResNet-50 network with the parameter layout of pysot's ``ModelBuilder``.

Paper: Li et al., "SiamRPN++: Evolution of Siamese Visual Tracking with Very Deep Networks",
CVPR 2019.

pysot (STVIR/pysot, ``experiments/siamrpn_r50_l234_dwxcorr[_lt]/config.yaml``) builds:

* ``backbone``: ResNet-50 whose layer2 keeps stride 8 without padding (its first 3x3 and the
  3x3 downsampling convolution are unpadded) and whose layer3/layer4 trade their stride for
  dilation 2/4, so all three output layers (512, 1024, 2048 channels) share the stride-8 grid;
  conv1 is unpadded. No ``fc``.
* ``neck`` (``AdjustAllLayer``): per layer a 1x1 convolution + BN to 256 channels (LT: 128, 256,
  512); a map narrower than 20 cells (the 127-pixel template's 15x15) keeps its centre 7x7.
* ``rpn_head`` (``MultiRPN``, weighted): per layer a depthwise cross-correlation RPN whose ``cls``
  (2 x 5 anchors) and ``loc`` (4 x 5) branches are fused by softmax-normalised learned weights.

Interface used by the tracker (exported, so the TorchScript file offers it too):
``template(z) -> [3 template maps]`` and ``track(template maps, x) -> (cls, loc)``. Inputs are
BGR float images in 0..255, not normalised, as pysot feeds them. Attributes: ``architecture``
(str), ``anchor_stride`` (8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgbd_tracker_ros.tracking.networks.resnet import Bottleneck, conv_bn

ARCHITECTURE = "siamrpn_r50_l234_dwxcorr"
ARCHITECTURE_LT = "siamrpn_r50_l234_dwxcorr_lt"
ANCHOR_NUM = 5
BACKBONE_CHANNELS = (512, 1024, 2048)
# Neck output (= RPN) channels per layer of each configuration.
ADJUST_CHANNELS: dict[str, tuple[int, int, int]] = {
    ARCHITECTURE: (256, 256, 256),
    ARCHITECTURE_LT: (128, 256, 512),
}
# pysot's AdjustLayer crops maps narrower than this (the template's) to their centre.
TEMPLATE_MAX_WIDTH = 20
TEMPLATE_CENTRE_SIZE = 7


class AtrousResNet50(nn.Module):
    """pysot's ``resnet50(used_layers=[2, 3, 4])``: returns [layer2, layer3, layer4]."""

    def __init__(self) -> None:
        super().__init__()
        self._in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3, stride=1, dilation=1)
        self.layer2 = self._make_layer(128, 4, stride=2, dilation=1)
        self.layer3 = self._make_layer(256, 6, stride=1, dilation=2)
        self.layer4 = self._make_layer(512, 3, stride=1, dilation=4)

    def _make_layer(self, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
        """pysot's padding rules: a strided first block and its 3x3 shortcut are unpadded; a
        dilated layer's first block and shortcut use half the dilation."""
        out_planes = planes * Bottleneck.expansion
        first_dilation = dilation // 2 if dilation > 1 else 1
        if stride == 1 and dilation == 1:
            shortcut = conv_bn(self._in_planes, out_planes, stride)
        else:
            pad = first_dilation if dilation > 1 else 0
            shortcut = conv_bn(self._in_planes, out_planes, stride, 3, pad, first_dilation)
        first_padding = first_dilation if dilation > 1 else 2 - stride
        blocks_list = [
            Bottleneck(self._in_planes, planes, stride, shortcut, first_padding, first_dilation)
        ]
        self._in_planes = out_planes
        blocks_list.extend(
            Bottleneck(self._in_planes, planes, 1, None, dilation, dilation)
            for _ in range(1, blocks)
        )
        return nn.Sequential(*blocks_list)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        layer2 = self.layer2(self.layer1(x))
        layer3 = self.layer3(layer2)
        return [layer2, layer3, self.layer4(layer3)]


class AdjustLayer(nn.Module):
    """1x1 convolution + BN; a template-sized map keeps only its centre."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.downsample = conv_bn(in_channels, out_channels)
        self.template_max_width = TEMPLATE_MAX_WIDTH
        self.centre_size = TEMPLATE_CENTRE_SIZE

    def forward(self, x: Tensor) -> Tensor:
        x = self.downsample(x)
        if x.size(3) < self.template_max_width:
            left = (x.size(3) - self.centre_size) // 2
            right = left + self.centre_size
            x = x[:, :, left:right, left:right]
        return x


class AdjustAllLayer(nn.Module):
    """The neck: one ``AdjustLayer`` per backbone layer (``downsample2..4``)."""

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int]) -> None:
        super().__init__()
        self.downsample2 = AdjustLayer(in_channels[0], out_channels[0])
        self.downsample3 = AdjustLayer(in_channels[1], out_channels[1])
        self.downsample4 = AdjustLayer(in_channels[2], out_channels[2])

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        return [
            self.downsample2(features[0]),
            self.downsample3(features[1]),
            self.downsample4(features[2]),
        ]


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def xcorr_depthwise(search: Tensor, kernel: Tensor) -> Tensor:
    """Each channel of ``search`` (B, C, H, W) correlated with the same channel of ``kernel``
    (B, C, h, w): one grouped convolution over the batch."""
    batch, channels = kernel.size(0), kernel.size(1)
    flat = search.reshape(1, batch * channels, search.size(2), search.size(3))
    weights = kernel.reshape(batch * channels, 1, kernel.size(2), kernel.size(3))
    out = F.conv2d(flat, weights, groups=batch * channels)
    return out.reshape(batch, channels, out.size(2), out.size(3))


class DepthwiseXCorr(nn.Module):
    """3x3 convolutions on both inputs, depthwise correlation, then a 1x1 head."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_channels, hidden, 3)
        self.conv_search = _conv_bn_relu(in_channels, hidden, 3)
        self.head = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )

    def forward(self, kernel: Tensor, search: Tensor) -> Tensor:
        return self.head(xcorr_depthwise(self.conv_search(search), self.conv_kernel(kernel)))


class DepthwiseRPN(nn.Module):
    """Classification (2 per anchor) and box regression (4 per anchor) for one layer."""

    def __init__(self, channels: int, anchor_num: int = ANCHOR_NUM) -> None:
        super().__init__()
        self.cls = DepthwiseXCorr(channels, channels, 2 * anchor_num)
        self.loc = DepthwiseXCorr(channels, channels, 4 * anchor_num)

    def forward(self, z: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls(z, x), self.loc(z, x)


class MultiRPN(nn.Module):
    """Three layer-wise RPNs fused with softmax-normalised learned weights."""

    def __init__(self, channels: Sequence[int], anchor_num: int = ANCHOR_NUM) -> None:
        super().__init__()
        self.rpn2 = DepthwiseRPN(channels[0], anchor_num)
        self.rpn3 = DepthwiseRPN(channels[1], anchor_num)
        self.rpn4 = DepthwiseRPN(channels[2], anchor_num)
        self.cls_weight = nn.Parameter(torch.ones(3))
        self.loc_weight = nn.Parameter(torch.ones(3))

    def forward(self, z: list[Tensor], x: list[Tensor]) -> tuple[Tensor, Tensor]:
        cls2, loc2 = self.rpn2(z[0], x[0])
        cls3, loc3 = self.rpn3(z[1], x[1])
        cls4, loc4 = self.rpn4(z[2], x[2])
        cls_w = F.softmax(self.cls_weight, 0)
        loc_w = F.softmax(self.loc_weight, 0)
        cls = cls2 * cls_w[0] + cls3 * cls_w[1] + cls4 * cls_w[2]
        loc = loc2 * loc_w[0] + loc3 * loc_w[1] + loc4 * loc_w[2]
        return cls, loc


class SiamRPNNet(nn.Module):
    """Backbone, neck and fused RPN head; see the module docstring for the interface."""

    def __init__(self, architecture: str, adjust_channels: Sequence[int]) -> None:
        super().__init__()
        self.architecture = architecture
        self.anchor_stride = 8
        self.backbone = AtrousResNet50()
        self.neck = AdjustAllLayer(BACKBONE_CHANNELS, adjust_channels)
        self.rpn_head = MultiRPN(adjust_channels)

    @torch.jit.export
    def template(self, z: Tensor) -> list[Tensor]:
        """Template maps (cropped to 7x7) of a (1, 3, 127, 127) exemplar patch."""
        return self.neck(self.backbone(z))

    @torch.jit.export
    def track(self, template: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
        """Fused ``cls`` (1, 10, S, S) and ``loc`` (1, 20, S, S) for a search patch."""
        return self.rpn_head(template, self.neck(self.backbone(x)))

    def forward(self, z: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.track(self.template(z), x)


def _build(architecture: str) -> SiamRPNNet:
    return SiamRPNNet(architecture, ADJUST_CHANNELS[architecture]).eval()


def build_siamrpn_r50(kwds: Mapping[str, Any]) -> SiamRPNNet:
    """pysot ``siamrpn_r50_l234_dwxcorr`` (the model zoo files hold no constructor arguments)."""
    del kwds
    return _build(ARCHITECTURE)


def build_siamrpn_r50_lt(kwds: Mapping[str, Any]) -> SiamRPNNet:
    """pysot ``siamrpn_r50_l234_dwxcorr_lt``."""
    del kwds
    return _build(ARCHITECTURE_LT)
