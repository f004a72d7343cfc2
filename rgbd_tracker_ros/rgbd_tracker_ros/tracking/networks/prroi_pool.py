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

The refinement calls this five times per frame on ten small boxes, so its cost is the count of
tensor operations, not arithmetic: the bin edges of both axes come from one product of the
boxes with a constant matrix (and the box gradient from one product with its transpose), and
both axes share one pass through the tent's formulas.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def bin_edge_matrix(pooled_h: int, pooled_w: int, spatial_scale: float) -> Tensor:
    """(4, pooled_w + pooled_h + 2), float64: a box (x0, y0, width, height) times this matrix
    gives its bin edges in feature units, the ``pooled_w + 1`` along x first, then the
    ``pooled_h + 1`` along y: ``x0 s + k (width s / pooled_w)``, the offsets rounded on the
    box's size, not on its position. The edges are linear in the box, so the chain rule from
    the edges back to the box is the product with the transpose."""
    matrix = torch.zeros(4, pooled_w + pooled_h + 2, dtype=torch.float64)
    for axis, count, first in ((0, pooled_w, 0), (1, pooled_h, pooled_w + 1)):
        steps = torch.arange(count + 1, dtype=torch.float64)
        matrix[axis, first : first + count + 1] = spatial_scale
        matrix[axis + 2, first : first + count + 1] = steps * (spatial_scale / count)
    return matrix


def _start_and_size(rois: Tensor) -> Tensor:
    """Boxes (R, 4) = (x0, y0, width, height) from rois (R, 5), an inverted side empty."""
    start = rois[:, 1:3]
    return torch.cat((start, (rois[:, 3:5] - start).clamp(min=0.0)), dim=1)


def _axis_weights(
    edges: Tensor, pooled_w: int, height: int, width: int, lines: bool
) -> tuple[Tensor, Tensor]:
    """Per box, the integration weights of each bin over the samples along x (R, J, W) and y
    (R, I, H) from the bin edges (R, E) of :func:`bin_edge_matrix`; with ``lines``, the field's
    interpolation weights along each edge follow the bins (J = 2 pooled_w + 1)."""
    samples = torch.arange(max(height, width), dtype=edges.dtype, device=edges.device)
    offset = (edges[:, :, None] - samples).clamp(-1.0, 1.0)
    magnitude = offset.abs()
    # The tent's antiderivative: 0 below -1, 1 above 1, and between (both halves,
    # (u + 1)^2 / 2 and 1 - (1 - u)^2 / 2, in one expression) 1/2 + u - u |u| / 2.
    cumulative = torch.addcmul(offset + 0.5, offset, magnitude, value=-0.5)
    count_x = pooled_w + 1
    by_x = cumulative[:, 1:count_x] - cumulative[:, : count_x - 1]
    by_y = cumulative[:, count_x + 1 :] - cumulative[:, count_x:-1]
    if lines:
        tent = 1.0 - magnitude
        by_x = torch.cat((by_x, tent[:, :count_x]), dim=1)
        by_y = torch.cat((by_y, tent[:, count_x:]), dim=1)
    return by_x[:, :, :width], by_y[:, :, :height]


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


def _integrals(
    features: Tensor,
    rois: Tensor,
    edge_matrix: Tensor,
    pooled_h: int,
    pooled_w: int,
    spatial_scale: float,
    lines: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """The bin integrals (and line integrals) over each box divided by its bin area,
    (R, I, C, J) as :func:`_contract`; the boxes' width and height (R, 2); ``1 / box area``
    (R,) (0 for an empty box)."""
    boxes = _start_and_size(rois)
    edges = torch.matmul(boxes, edge_matrix.to(boxes.dtype))
    size = boxes[:, 2:]
    by_x, by_y = _axis_weights(edges, pooled_w, features.shape[-2], features.shape[-1], lines)
    area = size[:, 0] * size[:, 1]
    nonempty = area > 0
    inverse_area = torch.where(nonempty, 1.0 / torch.where(nonempty, area, 1.0), 0.0)
    # The bin area in feature units is the box's area times spatial_scale^2 / (ph pw).
    bin_scale = inverse_area * (pooled_h * pooled_w / (spatial_scale * spatial_scale))
    integrals = _contract(features, rois[:, 0].detach().long(), by_x, by_y)
    return integrals * bin_scale.to(integrals.dtype)[:, None, None, None], size, inverse_area


def _pool(
    features: Tensor,
    rois: Tensor,
    edge_matrix: Tensor,
    pooled_h: int,
    pooled_w: int,
    spatial_scale: float,
) -> Tensor:
    pooled, _, _ = _integrals(
        features, rois, edge_matrix, pooled_h, pooled_w, spatial_scale, lines=False
    )
    return pooled.permute(0, 2, 1, 3)  # (R, C, ph, pw)


def _pool_for_gradient(
    features: Tensor,
    rois: Tensor,
    edge_matrix: Tensor,
    pooled_h: int,
    pooled_w: int,
    spatial_scale: float,
) -> tuple[Tensor, list[Tensor]]:
    both, size, inverse_area = _integrals(
        features, rois, edge_matrix, pooled_h, pooled_w, spatial_scale, lines=True
    )
    pooled = both[:, :pooled_h, :, :pooled_w]  # (R, ph, C, pw)
    along_x_edges = both[:, :pooled_h, :, pooled_w:]  # (R, ph, C, pw + 1)
    along_y_edges = both[:, pooled_h:, :, :pooled_w]  # (R, ph + 1, C, pw)
    # d pooled / d (width, height) through the bin area is -pooled / (width, height); written
    # with 1 / area so that an empty box gets 0.
    by_area = -size.flip(1) * inverse_area[:, None]
    context = [pooled, along_x_edges, along_y_edges, by_area, edge_matrix]
    return pooled.permute(0, 2, 1, 3), context


def _box_gradient(context: list[Tensor], grad_of_output: Tensor) -> Tensor:
    pooled, along_x_edges, along_y_edges, by_area, edge_matrix = context
    grad = grad_of_output.permute(0, 2, 1, 3)  # (R, ph, C, pw), like ``pooled``
    # Edge e ends bin e - 1 and starts bin e: its line integral enters both, with opposite signs.
    padded = nn.functional.pad(grad, [1, 1])
    by_x_edge = ((padded[..., :-1] - padded[..., 1:]) * along_x_edges).sum(dim=(1, 2))
    padded = nn.functional.pad(grad, [0, 0, 0, 0, 1, 1])
    by_y_edge = ((padded[:, :-1] - padded[:, 1:]) * along_y_edges).sum(dim=(2, 3))
    by_edge = torch.cat((by_x_edge, by_y_edge), dim=1)
    by_box = torch.matmul(by_edge, edge_matrix.to(by_edge.dtype).t())
    by_size = (grad * pooled).sum(dim=(1, 2, 3))[:, None] * by_area.to(by_edge.dtype)
    return by_box + nn.functional.pad(by_size, [2, 0])


def prroi_pool2d(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> Tensor:
    """Pool ``rois`` (R, 5) = (batch_index, x0, y0, x1, y1) from ``features`` (B, C, H, W).

    Returns (R, C, pooled_h, pooled_w). Differentiable by autograd w.r.t. ``features`` and the
    four box coordinates (the batch index gets no gradient).
    """
    edge_matrix = bin_edge_matrix(pooled_h, pooled_w, spatial_scale).to(rois.device)
    return _pool(features, rois, edge_matrix, pooled_h, pooled_w, spatial_scale)


def prroi_pool2d_for_gradient(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> tuple[Tensor, list[Tensor]]:
    """:func:`prroi_pool2d` (no autograd) and what :func:`prroi_box_gradient` needs.

    One contraction gives the bin integrals and the field's line integrals along every bin
    edge: along the x edges over each bin row, along the y edges over each bin column.
    """
    edge_matrix = bin_edge_matrix(pooled_h, pooled_w, spatial_scale).to(rois.device)
    return _pool_for_gradient(features, rois, edge_matrix, pooled_h, pooled_w, spatial_scale)


def prroi_box_gradient(context: list[Tensor], grad_of_output: Tensor) -> Tensor:
    """d sum(grad_of_output * pooled) / d (x0, y0, width, height): (R, 4), the box moved by
    its corner and resized (x1 = x0 + width).

    ``context`` comes from :func:`prroi_pool2d_for_gradient`, ``grad_of_output`` has the
    pooled output's shape (R, C, ph, pw). Empty boxes get zero gradients, as in the kernel.
    """
    return _box_gradient(context, grad_of_output)


class PrRoIPool2D(nn.Module):
    """Module form of :func:`prroi_pool2d` (no parameters; mirrors the reference's layer)."""

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_height = int(pooled_height)
        self.pooled_width = int(pooled_width)
        self.spatial_scale = float(spatial_scale)
        # Not a weight (no checkpoint holds it); a constant once the network is frozen.
        edge_matrix = bin_edge_matrix(self.pooled_height, self.pooled_width, self.spatial_scale)
        self.register_buffer("edge_matrix", edge_matrix.float(), persistent=False)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        return _pool(
            features,
            rois,
            self.edge_matrix,
            self.pooled_height,
            self.pooled_width,
            self.spatial_scale,
        )

    def for_gradient(self, features: Tensor, rois: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The pooled boxes and the context of :meth:`box_gradient` (no autograd)."""
        return _pool_for_gradient(
            features,
            rois,
            self.edge_matrix,
            self.pooled_height,
            self.pooled_width,
            self.spatial_scale,
        )

    def box_gradient(self, context: list[Tensor], grad_of_output: Tensor) -> Tensor:
        return _box_gradient(context, grad_of_output)

    def extra_repr(self) -> str:
        return (
            f"pooled_height={self.pooled_height}, pooled_width={self.pooled_width}, "
            f"spatial_scale={self.spatial_scale}"
        )
