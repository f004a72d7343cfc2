"""OSTrack's centre head (botaoye/OSTrack ``lib/models/layers/head.py`` ``CenterPredictor``).

Three identical conv towers over the search tokens laid out as a feature map: a centre-ness
score map (1 channel), the box size (2 channels: w, h as fractions of the search patch) and
the sub-cell offset of the centre (2 channels: x, y in cells). Score and size go through a
sigmoid clamped to [1e-4, 1 - 1e-4]; the offset is raw. Names are the reference's
(``box_head.conv{1..5}_{ctr,offset,size}``).
"""

from __future__ import annotations

import itertools

from torch import Tensor, nn


def _conv_bn_relu(in_planes: int, out_planes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=3, padding=1, bias=True),
        nn.BatchNorm2d(out_planes),
        nn.ReLU(inplace=True),
    )


def _tower(in_planes: int, channel: int, out: int) -> list[nn.Module]:
    widths = [in_planes, channel, channel // 2, channel // 4, channel // 8]
    layers: list[nn.Module] = [_conv_bn_relu(a, b) for a, b in itertools.pairwise(widths)]
    return [*layers, nn.Conv2d(channel // 8, out, kernel_size=1)]


class CenterPredictor(nn.Module):
    def __init__(self, in_planes: int, channel: int, feat_sz: int) -> None:
        super().__init__()
        self.feat_sz = feat_sz
        (self.conv1_ctr, self.conv2_ctr, self.conv3_ctr, self.conv4_ctr, self.conv5_ctr) = _tower(
            in_planes, channel, 1
        )
        (
            self.conv1_offset,
            self.conv2_offset,
            self.conv3_offset,
            self.conv4_offset,
            self.conv5_offset,
        ) = _tower(in_planes, channel, 2)
        (self.conv1_size, self.conv2_size, self.conv3_size, self.conv4_size, self.conv5_size) = (
            _tower(in_planes, channel, 2)
        )
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Feature map (B, C, feat, feat) -> (score (B,1,..), size (B,2,..), offset (B,2,..))."""
        ctr = self.conv1_ctr(x)
        ctr = self.conv5_ctr(self.conv4_ctr(self.conv3_ctr(self.conv2_ctr(ctr))))
        offset = self.conv1_offset(x)
        offset = self.conv5_offset(self.conv4_offset(self.conv3_offset(self.conv2_offset(offset))))
        size = self.conv1_size(x)
        size = self.conv5_size(self.conv4_size(self.conv3_size(self.conv2_size(size))))
        return _clamped_sigmoid(ctr), _clamped_sigmoid(size), offset


def _clamped_sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid().clamp(min=1e-4, max=1 - 1e-4)
