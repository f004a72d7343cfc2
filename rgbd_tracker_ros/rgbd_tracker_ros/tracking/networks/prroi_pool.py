"""Precise RoI Pooling (PrRoIPool) in pure PyTorch, with its box gradient in closed form.

Paper: Jiang et al., "Acquisition of Localization Confidence for Accurate Object Detection"
(IoU-Net), ECCV 2018.

The reference trackers pool with the CUDA-only PrRoIPool extension, whose gradient w.r.t. the
box coordinates drives the IoU-Net box refinement. This module computes the same quantities in
closed form so they run on CPU and GPU, under TorchScript and ``torch.export``; the box
gradient needs no autograd.

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
``max(0, 1 - |u|)``. The box gradient is what the kernel's coordinate backward pass computes:
moving a bin edge changes the bin integral by the field's line integral along that edge (the
same contraction with the tent itself, ``tent(edge - k)``, in place of ``K``), and the bin
area changes with the box.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def tent_antiderivative(u: Tensor) -> Tensor:
    """``T(u) = integral_{-inf}^{u} max(0, 1 - |t|) dt`` (0 below -1, 1 above 1).

    On [-1, 1] both halves, ``(u + 1)^2 / 2`` and ``1 - (1 - u)^2 / 2``, are
    ``1/2 + u - u |u| / 2``: one expression, no branch (it runs in every refinement step).
    """
    u = u.clamp(-1.0, 1.0)
    return 0.5 + u - 0.5 * u * u.abs()


def _edges(start: Tensor, bin_size: Tensor, num_bins: int) -> Tensor:
    """Bin edges (R, num_bins + 1) from the first edge and the bin size, both (R,)."""
    steps = torch.arange(num_bins + 1, dtype=start.dtype, device=start.device)
    return start[:, None] + steps[None, :] * bin_size[:, None]


def _bin_weights(edges: Tensor, length: int) -> Tensor:
    """Integration weights of every bin over every sample along one axis: (R, num_bins, length)."""
    samples = torch.arange(length, dtype=edges.dtype, device=edges.device)
    cumulative = tent_antiderivative(edges[:, :, None] - samples[None, None, :])
    return cumulative[:, 1:, :] - cumulative[:, :-1, :]


def _edge_weights(edges: Tensor, length: int) -> Tensor:
    """The field's interpolation weights along each edge: (R, num_edges, length)."""
    samples = torch.arange(length, dtype=edges.dtype, device=edges.device)
    return (1.0 - (edges[:, :, None] - samples[None, None, :]).abs()).clamp(min=0.0)


def _contract(features: Tensor, batch_index: Tensor, by_x: Tensor, by_y: Tensor) -> Tensor:
    """``sum_hw by_y[r, i, h] f[b_r, c, h, w] by_x[r, j, w]``: (R, I, C, J).

    Contracts W, then H, as few large matrix products (many small ones are far slower).
    """
    height, width = features.shape[-2], features.shape[-1]
    num_rois, channels = by_x.shape[0], features.shape[1]
    num_x, num_y = by_x.shape[1], by_y.shape[1]
    by_x = by_x.to(features.dtype)
    if features.shape[0] == 1:  # the tracking case: every box on the same image
        flat = features[0].reshape(channels * height, width)
        pooled_x = torch.matmul(flat, by_x.reshape(num_rois * num_x, width).t())
        pooled_x = pooled_x.reshape(channels, height, num_rois, num_x).permute(2, 0, 1, 3)
    else:
        selected = features.index_select(0, batch_index).reshape(num_rois, -1, width)
        pooled_x = torch.bmm(selected, by_x.transpose(1, 2))
        pooled_x = pooled_x.reshape(num_rois, channels, height, num_x)
    by_row = pooled_x.permute(0, 2, 1, 3).reshape(num_rois, height, channels * num_x)
    out = torch.bmm(by_y.to(features.dtype), by_row)
    return out.reshape(num_rois, num_y, channels, num_x)


def _geometry(
    rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Bin edges along x (R, pw + 1) and y (R, ph + 1) in feature units, box width and height
    (R,) clamped at 0, and ``1 / bin area`` (R,) (0 for an empty box)."""
    x0 = rois[:, 1] * spatial_scale
    y0 = rois[:, 2] * spatial_scale
    width = (rois[:, 3] * spatial_scale - x0).clamp(min=0.0)
    height = (rois[:, 4] * spatial_scale - y0).clamp(min=0.0)
    area = width * height / (pooled_w * pooled_h)
    nonempty = area > 0
    inverse_area = torch.where(nonempty, 1.0 / torch.where(nonempty, area, 1.0), 0.0)
    edges_x = _edges(x0, width / pooled_w, pooled_w)
    edges_y = _edges(y0, height / pooled_h, pooled_h)
    return edges_x, edges_y, width, height, inverse_area


def prroi_pool2d(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> Tensor:
    """Pool ``rois`` (R, 5) = (batch_index, x0, y0, x1, y1) from ``features`` (B, C, H, W).

    Returns (R, C, pooled_h, pooled_w). Differentiable by autograd w.r.t. ``features`` and the
    four box coordinates (the batch index gets no gradient).
    """
    height, width = features.shape[-2], features.shape[-1]
    edges_x, edges_y, _, _, inverse_area = _geometry(rois, pooled_h, pooled_w, spatial_scale)
    batch_index = rois[:, 0].detach().long()
    integral = _contract(
        features, batch_index, _bin_weights(edges_x, width), _bin_weights(edges_y, height)
    )
    integral = integral * inverse_area.to(integral.dtype)[:, None, None, None]
    return integral.permute(0, 2, 1, 3)  # (R, C, ph, pw)


def prroi_pool2d_for_gradient(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> tuple[Tensor, list[Tensor]]:
    """:func:`prroi_pool2d` (no autograd) and what :func:`prroi_box_gradient` needs.

    One contraction gives the bin integrals and the field's line integrals along every bin
    edge: along the x edges over each bin row, along the y edges over each bin column.
    """
    height, width = features.shape[-2], features.shape[-1]
    edges_x, edges_y, box_w, box_h, inverse_area = _geometry(
        rois, pooled_h, pooled_w, spatial_scale
    )
    by_x = torch.cat((_bin_weights(edges_x, width), _edge_weights(edges_x, width)), dim=1)
    by_y = torch.cat((_bin_weights(edges_y, height), _edge_weights(edges_y, height)), dim=1)
    both = _contract(features, rois[:, 0].long(), by_x, by_y)  # (R, 2ph + 1, C, 2pw + 1)
    scale = inverse_area.to(both.dtype)[:, None, None, None]
    pooled = both[:, :pooled_h, :, :pooled_w] * scale  # (R, ph, C, pw)
    along_x_edges = both[:, :pooled_h, :, pooled_w:] * scale  # (R, ph, C, pw + 1)
    along_y_edges = both[:, pooled_h:, :, :pooled_w] * scale  # (R, ph + 1, C, pw)
    context = [pooled, along_x_edges, along_y_edges, inverse_area, box_w, box_h]
    return pooled.permute(0, 2, 1, 3), context


def prroi_box_gradient(
    context: list[Tensor],
    grad_of_output: Tensor,
    pooled_h: int,
    pooled_w: int,
    spatial_scale: float,
) -> Tensor:
    """d sum(grad_of_output * pooled) / d (x0, y0, x1, y1): (R, 4).

    ``context`` comes from :func:`prroi_pool2d_for_gradient`, ``grad_of_output`` has the
    pooled output's shape (R, C, ph, pw). Empty boxes get zero gradients, as in the kernel.
    """
    pooled, along_x_edges, along_y_edges, inverse_area, box_w, box_h = context
    grad = grad_of_output.permute(0, 2, 1, 3)  # (R, ph, C, pw), like ``pooled``
    # Edge e ends bin e - 1 and starts bin e: its line integral enters both, with opposite signs.
    padded = nn.functional.pad(grad, [1, 1])
    by_x_edge = ((padded[..., :-1] - padded[..., 1:]) * along_x_edges).sum(dim=(1, 2))
    padded = nn.functional.pad(grad, [0, 0, 0, 0, 1, 1])
    by_y_edge = ((padded[:, :-1] - padded[:, 1:]) * along_y_edges).sum(dim=(2, 3))
    # Edge e sits at x0 + e / pw * (x1 - x0); pooled = integral / area with the bin area
    # (x1 - x0) (y1 - y0) / (pw ph), so d pooled / d area = -pooled / area.
    dtype = by_x_edge.dtype
    share_x = torch.arange(pooled_w + 1, dtype=dtype, device=grad.device) / pooled_w
    share_y = torch.arange(pooled_h + 1, dtype=dtype, device=grad.device) / pooled_h
    by_area = -(grad * pooled).sum(dim=(1, 2, 3)) * inverse_area.to(dtype)
    by_area = by_area / float(pooled_h * pooled_w)
    area_x = by_area * box_h.to(dtype)
    area_y = by_area * box_w.to(dtype)
    d_x1 = (by_x_edge * share_x).sum(dim=1)
    d_y1 = (by_y_edge * share_y).sum(dim=1)
    d_x0 = by_x_edge.sum(dim=1) - d_x1 - area_x
    d_y0 = by_y_edge.sum(dim=1) - d_y1 - area_y
    return torch.stack((d_x0, d_y0, d_x1 + area_x, d_y1 + area_y), dim=1) * spatial_scale


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

    def for_gradient(self, features: Tensor, rois: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The pooled boxes and the context of :meth:`box_gradient` (no autograd)."""
        return prroi_pool2d_for_gradient(
            features, rois, self.pooled_height, self.pooled_width, self.spatial_scale
        )

    def box_gradient(self, context: list[Tensor], grad_of_output: Tensor) -> Tensor:
        return prroi_box_gradient(
            context, grad_of_output, self.pooled_height, self.pooled_width, self.spatial_scale
        )

    def extra_repr(self) -> str:
        return (
            f"pooled_height={self.pooled_height}, pooled_width={self.pooled_width}, "
            f"spatial_scale={self.spatial_scale}"
        )
