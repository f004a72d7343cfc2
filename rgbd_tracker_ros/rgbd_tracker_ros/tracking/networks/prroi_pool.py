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
tensor operations, not arithmetic: both axes go through one set of operations (their bin
edges side by side, with constants of ``bin_edges``), and the box gradient comes from the
edges' by one product with a constant matrix. The pooled values are computed with the same
roundings as a per-axis computation in the reference's order (a rounding difference here
moved the random-weight trackers' scores by 3e-4 after 50 frames).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def bin_edges(pooled_h: int, pooled_w: int, spatial_scale: float) -> tuple[Tensor, Tensor]:
    """The constants that give a box's bin edges in feature units, the ``pooled_w + 1`` along
    x first, then the ``pooled_h + 1`` along y, both float64:

    * ``matrix`` (4, E): a box (x0, y0, width, height) times it gives the edges
      ``s x0 + k s width / pooled_w``; the edges are linear in the box, so the chain rule from
      the edges back to the box is the product with the transpose;
    * ``steps`` (2, E): each edge's index k and its axis' bin count, with which the edges are
      computed in the reference kernel's order, ``s x0 + k ((s width) / pooled_w)``.
    """
    count = pooled_w + pooled_h + 2
    matrix = torch.zeros(4, count, dtype=torch.float64)
    steps = torch.zeros(2, count, dtype=torch.float64)
    for axis, bins, first in ((0, pooled_w, 0), (1, pooled_h, pooled_w + 1)):
        index = torch.arange(bins + 1, dtype=torch.float64)
        matrix[axis, first : first + bins + 1] = spatial_scale
        matrix[axis + 2, first : first + bins + 1] = index * (spatial_scale / bins)
        steps[0, first : first + bins + 1] = index
        steps[1, first : first + bins + 1] = bins
    return matrix, steps


def _start_and_size(rois: Tensor) -> Tensor:
    """Boxes (R, 4) = (x0, y0, width, height) from rois (R, 5), an inverted side empty."""
    start = rois[:, 1:3]
    return torch.cat((start, (rois[:, 3:5] - start).clamp(min=0.0)), dim=1)


def _axis_weights(
    edges: Tensor, pooled_w: int, height: int, width: int, lines: bool
) -> tuple[Tensor, Tensor]:
    """Per box, the integration weights of each bin over the samples along x (R, J, W) and y
    (R, I, H) from the bin edges (R, E) of :func:`bin_edges`; with ``lines``, the field's
    interpolation weights along each edge follow the bins (J = 2 pooled_w + 1)."""
    samples = torch.arange(max(height, width), dtype=edges.dtype, device=edges.device)
    offset = (edges[:, :, None] - samples).clamp(-1.0, 1.0)
    magnitude = offset.abs()
    # The tent's antiderivative: 0 below -1, 1 above 1, and between (both halves,
    # (u + 1)^2 / 2 and 1 - (1 - u)^2 / 2, in one expression) 1/2 + u - u |u| / 2.
    cumulative = 0.5 + offset - 0.5 * offset * magnitude
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


def prroi_pool2d(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> Tensor:
    """Pool ``rois`` (R, 5) = (batch_index, x0, y0, x1, y1) from ``features`` (B, C, H, W).

    Returns (R, C, pooled_h, pooled_w). Differentiable by autograd w.r.t. ``features`` and the
    four box coordinates (the batch index gets no gradient).
    """
    pool = PrRoIPool2D(pooled_h, pooled_w, spatial_scale).to(rois.device)
    return pool(features, rois)


def prroi_pool2d_for_gradient(
    features: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float
) -> tuple[Tensor, list[Tensor]]:
    """:func:`prroi_pool2d` (no autograd) and what :func:`prroi_box_gradient` needs."""
    pool = PrRoIPool2D(pooled_h, pooled_w, spatial_scale).to(rois.device)
    return pool.for_gradient(features, rois)


def prroi_box_gradient(context: list[Tensor], grad_of_output: Tensor) -> Tensor:
    """d sum(grad_of_output * pooled) / d (x0, y0, width, height): (R, 4), the box moved by
    its corner and resized (x1 = x0 + width).

    ``context`` comes from :func:`prroi_pool2d_for_gradient`, ``grad_of_output`` has the
    pooled output's shape (R, C, ph, pw). Empty boxes get zero gradients, as in the kernel.
    """
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


class PrRoIPool2D(nn.Module):
    """PrRoIPool with its box gradient (no parameters; mirrors the reference's layer)."""

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_height = int(pooled_height)
        self.pooled_width = int(pooled_width)
        self.spatial_scale = float(spatial_scale)
        # Not weights (no checkpoint holds them); constants once the network is frozen. Kept in
        # float64, cast to the boxes' type where used, so a float64 copy of the network is
        # exact too.
        matrix, steps = bin_edges(self.pooled_height, self.pooled_width, self.spatial_scale)
        self.register_buffer("edge_matrix", matrix, persistent=False)
        self.register_buffer("edge_steps", steps, persistent=False)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        pooled, _, _ = self._integrals(features, rois, False)
        return pooled.permute(0, 2, 1, 3)  # (R, C, ph, pw)

    def for_gradient(self, features: Tensor, rois: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The pooled boxes and the context of :meth:`box_gradient` (no autograd).

        One contraction gives the bin integrals and the field's line integrals along every bin
        edge: along the x edges over each bin row, along the y edges over each bin column.
        """
        ph, pw = self.pooled_height, self.pooled_width
        both, size, inverse_area = self._integrals(features, rois, True)
        pooled = both[:, :ph, :, :pw]  # (R, ph, C, pw)
        along_x_edges = both[:, :ph, :, pw:]  # (R, ph, C, pw + 1)
        along_y_edges = both[:, ph:, :, :pw]  # (R, ph + 1, C, pw)
        # Through the bin area, d pooled / d (width, height) = -pooled / (width, height) (image
        # units), written with 1 / bin area so that an empty box gets 0.
        by_area = size.flip(1) * (inverse_area * (-self.spatial_scale / (ph * pw)))[:, None]
        context = [pooled, along_x_edges, along_y_edges, by_area, self.edge_matrix]
        return pooled.permute(0, 2, 1, 3), context

    def box_gradient(self, context: list[Tensor], grad_of_output: Tensor) -> Tensor:
        return prroi_box_gradient(context, grad_of_output)

    def _integrals(
        self, features: Tensor, rois: Tensor, lines: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The bin integrals (and line integrals) over each box divided by its bin area,
        (R, I, C, J) as :func:`_contract`; the boxes' width and height in feature units
        (R, 2); ``1 / bin area`` (R,) (0 for an empty box)."""
        boxes = _start_and_size(rois)
        matrix, steps = self.edge_matrix.to(boxes.dtype), self.edge_steps.to(boxes.dtype)
        # Each edge's start and box side in feature units (products with the matrix's 0 and s
        # entries: exact), then the offsets in the reference's order.
        start = torch.matmul(boxes[:, :2], matrix[:2])
        side = torch.matmul(boxes[:, 2:], matrix[:2])
        positions = start + steps[0] * (side / steps[1])
        height, width = features.shape[-2], features.shape[-1]
        by_x, by_y = _axis_weights(positions, self.pooled_width, height, width, lines)
        size = boxes[:, 2:] * self.spatial_scale
        bin_area = size[:, 0] * size[:, 1] / float(self.pooled_height * self.pooled_width)
        nonempty = bin_area > 0
        inverse_area = torch.where(nonempty, 1.0 / torch.where(nonempty, bin_area, 1.0), 0.0)
        integrals = _contract(features, rois[:, 0].detach().long(), by_x, by_y)
        scaled = integrals * inverse_area.to(integrals.dtype)[:, None, None, None]
        return scaled, size, inverse_area

    def extra_repr(self) -> str:
        return (
            f"pooled_height={self.pooled_height}, pooled_width={self.pooled_width}, "
            f"spatial_scale={self.spatial_scale}"
        )
