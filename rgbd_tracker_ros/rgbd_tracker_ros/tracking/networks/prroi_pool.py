"""Precise RoI Pooling (PrRoIPool) in pure PyTorch.

Paper: Jiang et al., "Acquisition of Localization Confidence for Accurate Object Detection"
(IoU-Net), ECCV 2018.

The reference trackers pool with the CUDA-only PrRoIPool extension, whose gradient w.r.t. the
box coordinates drives the IoU-Net box refinement. This module computes the same quantity in
closed form so it runs on CPU and GPU, under TorchScript, and autograd gives both the feature and
the box-coordinate gradients.

Conventions (those of the reference kernel):

* feature value ``f[h, w]`` sits at the continuous point ``(y, x) = (h, w)`` (no half-pixel
  shift); between samples the field is bilinear, and it falls linearly to zero within one cell
  outside the map (samples outside ``[0, H) x [0, W)`` are zero);
* an RoI is ``(batch_index, x0, y0, x1, y1)`` in input-image units; multiplied by
  ``spatial_scale`` it becomes a box in feature units, split into ``pooled_h x pooled_w``
  equal bins;
* each output is the integral of the field over its bin divided by the bin area, and ``0``
  (with zero gradients) for an empty bin.

Because the bilinear field is separable, the integral over a bin is ``Ky @ f @ Kx^T`` with
``K[b, k] = T(end_b - k) - T(start_b - k)``, where ``T`` is the antiderivative of the unit tent
``max(0, 1 - |u|)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def tent_antiderivative(u: Tensor) -> Tensor:
    """``T(u) = integral_{-inf}^{u} max(0, 1 - |t|) dt`` (0 below -1, 1 above 1)."""
    u = u.clamp(-1.0, 1.0)
    return torch.where(u <= 0, 0.5 * (u + 1.0) ** 2, 1.0 - 0.5 * (1.0 - u) ** 2)


def _bin_weights(start: Tensor, bin_size: Tensor, num_bins: int, length: int) -> Tensor:
    """Integration weights of every bin over every sample along one axis: (R, num_bins, length).

    ``start`` and ``bin_size`` are (R,) in feature units.
    """
    steps = torch.arange(num_bins + 1, dtype=start.dtype, device=start.device)
    edges = start[:, None] + steps[None, :] * bin_size[:, None]  # (R, num_bins + 1)
    samples = torch.arange(length, dtype=start.dtype, device=start.device)
    cumulative = tent_antiderivative(edges[:, :, None] - samples[None, None, :])
    return cumulative[:, 1:, :] - cumulative[:, :-1, :]


def prroi_pool2d(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> Tensor:
    """Pool ``rois`` (R, 5) = (batch_index, x0, y0, x1, y1) from ``features`` (B, C, H, W).

    Returns (R, C, pooled_h, pooled_w). Differentiable w.r.t. ``features`` and the four box
    coordinates (the batch index gets no gradient).
    """
    height, width = features.shape[-2], features.shape[-1]
    batch_index = rois[:, 0].detach().long()
    x0 = rois[:, 1] * spatial_scale
    y0 = rois[:, 2] * spatial_scale
    x1 = rois[:, 3] * spatial_scale
    y1 = rois[:, 4] * spatial_scale
    bin_w = (x1 - x0).clamp(min=0.0) / pooled_w
    bin_h = (y1 - y0).clamp(min=0.0) / pooled_h
    num_rois, channels = rois.shape[0], features.shape[1]
    weights_x = _bin_weights(x0, bin_w, pooled_w, width).to(features.dtype)  # (R, pw, W)
    weights_y = _bin_weights(y0, bin_h, pooled_h, height).to(features.dtype)  # (R, ph, H)
    # Contract W, then H, as few large matrix products (many small ones are far slower).
    if features.shape[0] == 1:  # the tracking case: every box on the same image
        flat = features[0].reshape(channels * height, width)
        pooled_x = torch.matmul(flat, weights_x.reshape(num_rois * pooled_w, width).t())
        pooled_x = pooled_x.reshape(channels, height, num_rois, pooled_w).permute(2, 0, 1, 3)
    else:
        selected = features.index_select(0, batch_index).reshape(num_rois, -1, width)
        pooled_x = torch.bmm(selected, weights_x.transpose(1, 2))
        pooled_x = pooled_x.reshape(num_rois, channels, height, pooled_w)
    by_row = pooled_x.permute(0, 2, 1, 3).reshape(num_rois, height, channels * pooled_w)
    integral = torch.bmm(weights_y, by_row).reshape(num_rois, pooled_h, channels, pooled_w)
    integral = integral.permute(0, 2, 1, 3)  # (R, C, ph, pw)
    area = bin_w * bin_h
    nonempty = area > 0
    inverse_area = torch.where(nonempty, 1.0 / torch.where(nonempty, area, 1.0), 0.0)
    return integral * inverse_area.to(integral.dtype)[:, None, None, None]


class PrRoIPool2D(nn.Module):
    """Module form of :func:`prroi_pool2d` (no parameters; mirrors the reference's layer)."""

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_height = int(pooled_height)
        self.pooled_width = int(pooled_width)
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        return prroi_pool2d(
            features, rois, self.pooled_height, self.pooled_width, self.spatial_scale
        )

    def extra_repr(self) -> str:
        return (
            f"pooled_height={self.pooled_height}, pooled_width={self.pooled_width}, "
            f"spatial_scale={self.spatial_scale}"
        )
