"""ATOM IoU-Net: predicts the IoU of proposal boxes with the target, for box refinement.

Paper: Danelljan et al., "ATOM: Accurate Tracking by Overlap Maximization", CVPR 2019 (the
IoU prediction idea from Jiang et al., ECCV 2018, see ``prroi_pool``).

A reference branch turns the first frame's target into two modulation vectors; a test branch
turns the current patch into two feature maps; PrRoIPool crops the modulated maps at each
proposal and a small MLP predicts its IoU. Names follow pytracking's ``AtomIoUNet``
(``bb_regressor.*`` in the checkpoints). Boxes are x, y, w, h in patch pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rgbd_tracker_ros.tracking.networks.products import linear
from rgbd_tracker_ros.tracking.networks.prroi_pool import PrRoIPool2D


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int = 3, padding: int = 1):
    """``Sequential(Conv2d(bias=True), BatchNorm2d, ReLU)`` as keys ``.0`` and ``.1``."""
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, padding=padding, bias=True),
        nn.BatchNorm2d(out_planes),
        nn.ReLU(inplace=True),
    )


class LinearBlock(nn.Module):
    """Flatten a (B, C, k, k) crop, then Linear + BatchNorm + ReLU: (B, out).

    Its two products (forward and input gradient, ten rows each in the refinement) are most of
    an ascent step's time; they go through ``products.linear``.
    """

    def __init__(self, in_planes: int, out_planes: int, input_sz: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_planes * input_sz * input_sz, out_planes)
        self.bn = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = linear(x.reshape(x.shape[0], -1), self.linear.weight, self.linear.bias)
        x = self.relu(self.bn(x.reshape(x.shape[0], x.shape[1], 1, 1)))
        return x.reshape(x.shape[0], -1)

    def input_gradient(self, output: Tensor, grad_of_output: Tensor) -> Tensor:
        """d sum(grad_of_output * forward(x)) / d x, from the block's ``output`` (B, out):
        (B, in_planes * input_sz^2). Batch norm is in eval mode (a per-channel scale)."""
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        active = (output > 0).to(output.dtype)
        return linear(grad_of_output * active * scale, self.linear.weight.t())


def _rois(boxes: Tensor) -> Tensor:
    """(B, P, 4) xywh -> (B*P, 5) rows (batch_index, x0, y0, x1, y1)."""
    batch, proposals = boxes.shape[0], boxes.shape[1]
    index = torch.arange(batch, dtype=boxes.dtype, device=boxes.device)
    index = index.reshape(-1, 1, 1).expand(batch, proposals, 1)
    rois = torch.cat((index, boxes[:, :, :2], boxes[:, :, :2] + boxes[:, :, 2:]), dim=2)
    return rois.reshape(-1, 5)


class AtomIoUNet(nn.Module):
    """IoU predictor over two backbone layers (``input_dim`` channels, strides 8 and 16)."""

    def __init__(
        self,
        input_dim: tuple[int, int] = (128, 256),
        pred_input_dim: tuple[int, int] = (256, 256),
        pred_inter_dim: tuple[int, int] = (256, 256),
    ) -> None:
        super().__init__()
        # The test branch's convolutions are unpadded: they run on haloed cuts of the maps
        # (solvers.window_features), see get_iou_feat.
        self.conv3_1r = conv_bn_relu(input_dim[0], 128)
        self.conv3_1t = conv_bn_relu(input_dim[0], 256, padding=0)
        self.conv3_2t = conv_bn_relu(256, pred_input_dim[0], padding=0)
        self.prroi_pool3r = PrRoIPool2D(3, 3, 1 / 8)
        self.prroi_pool3t = PrRoIPool2D(5, 5, 1 / 8)
        self.fc3_1r = conv_bn_relu(128, 256, padding=0)
        self.conv4_1r = conv_bn_relu(input_dim[1], 256)
        self.conv4_1t = conv_bn_relu(input_dim[1], 256, padding=0)
        self.conv4_2t = conv_bn_relu(256, pred_input_dim[1], padding=0)
        self.prroi_pool4r = PrRoIPool2D(1, 1, 1 / 16)
        self.prroi_pool4t = PrRoIPool2D(3, 3, 1 / 16)
        self.fc34_3r = conv_bn_relu(256 + 256, pred_input_dim[0], kernel_size=1, padding=0)
        self.fc34_4r = conv_bn_relu(256 + 256, pred_input_dim[1], kernel_size=1, padding=0)
        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def get_modulation(self, feat: list[Tensor], boxes: Tensor) -> list[Tensor]:
        """Reference branch: ``feat`` = [layer2, layer3] (B, ., ., .), ``boxes`` (B, 4).

        Returns two modulation vectors, each (B, pred_input_dim, 1, 1).
        """
        rois = _rois(boxes.reshape(boxes.shape[0], 1, 4))
        roi3 = self.prroi_pool3r(self.conv3_1r(feat[0]), rois)
        roi4 = self.prroi_pool4r(self.conv4_1r(feat[1]), rois)
        joint = torch.cat((self.fc3_1r(roi3), roi4), dim=1)
        return [self.fc34_3r(joint), self.fc34_4r(joint)]

    def get_iou_feat(self, feat: list[Tensor], inside: list[Tensor]) -> list[Tensor]:
        """Test branch on cuts of [layer2, layer3] that carry a halo of two cells (zeros where
        the map ends): two maps (B, pred_input_dim, h - 4, w - 4), the cuts less their halo.

        The two 3x3 convolutions run unpadded, so only what the cut's inner part needs is
        computed. ``inside`` (1, 1, h - 2, w - 2) per layer is 1 where the first convolution's
        output lies on the map: beyond the map the second convolution must see the zero padding
        of the reference, not the first one's response to the halo's zeros.
        """
        c3 = self.conv3_2t(self.conv3_1t(feat[0]) * inside[0])
        c4 = self.conv4_2t(self.conv4_1t(feat[1]) * inside[1])
        return [c3, c4]

    def _modulated(self, modulation: list[Tensor], feat: list[Tensor]) -> list[Tensor]:
        batch = feat[0].shape[0]
        c3 = feat[0] * modulation[0].reshape(batch, -1, 1, 1)
        c4 = feat[1] * modulation[1].reshape(batch, -1, 1, 1)
        return [c3, c4]

    def predict_iou(
        self, modulation: list[Tensor], feat: list[Tensor], proposals: Tensor
    ) -> Tensor:
        """IoU of ``proposals`` (B, P, 4): (B, P).

        Each modulation vector may have any shape that reshapes to (B, C) - e.g. the
        tracker's mean over init samples, (C, 1, 1), for B = 1.
        """
        c3, c4 = self._modulated(modulation, feat)
        rois = _rois(proposals)
        fc3 = self.fc3_rt(self.prroi_pool3t(c3, rois))
        fc4 = self.fc4_rt(self.prroi_pool4t(c4, rois))
        iou = self.iou_predictor(torch.cat((fc3, fc4), dim=1))
        return iou.reshape(proposals.shape[0], proposals.shape[1])

    def predict_iou_and_gradient(
        self, modulation: list[Tensor], feat: list[Tensor], proposals: Tensor
    ) -> tuple[Tensor, Tensor]:
        """:meth:`predict_iou` and d IoU / d (x, y, w, h) of each proposal (B, P, 4), in
        closed form (the MLP's and PrRoIPool's derivatives), without autograd."""
        c3, c4 = self._modulated(modulation, feat)
        rois = _rois(proposals)
        pooled3, context3 = self.prroi_pool3t.for_gradient(c3, rois)
        pooled4, context4 = self.prroi_pool4t.for_gradient(c4, rois)
        fc3 = self.fc3_rt(pooled3)
        fc4 = self.fc4_rt(pooled4)
        iou = self.iou_predictor(torch.cat((fc3, fc4), dim=1))
        weight = self.iou_predictor.weight[0]
        split = fc3.shape[1]
        grad3 = self.fc3_rt.input_gradient(fc3, weight[:split].expand(fc3.shape))
        grad4 = self.fc4_rt.input_gradient(fc4, weight[split:].expand(fc4.shape))
        grad = self.prroi_pool3t.box_gradient(context3, grad3.reshape(pooled3.shape))
        grad = grad + self.prroi_pool4t.box_gradient(context4, grad4.reshape(pooled4.shape))
        batch, count = proposals.shape[0], proposals.shape[1]
        return iou.reshape(batch, count), grad.reshape(batch, count, 4)
