"""The iterations of the DiMP family, driven over the network's single steps.

Filter learning (pytracking's ``classifier.get_filter`` / ``filter_optimizer``) and IoU-Net box
refinement (``optimize_boxes`` / ``optimize_boxes_relative``) loop in Python over the methods
of ``networks/dimp/network.py``, so the same loops run an eager network, a TorchScript module
or a compiled package (each iteration count a plain argument, never baked into a graph).

The refinement computes the IoU-Net's test features only on a window of the search patch
around the proposals (its convolutions cost more than the whole ascent): the backbone maps are
cut with a halo of two cells (the reach of two 3x3 convolutions, zeros beyond the map), the
unpadded convolutions return the window itself, and the boxes are given in the window's frame.
A box whose pooling support leaves the window grows the window to hold it for the remaining
steps, so the result is the whole map's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# Margin around the proposals of the refinement's feature window, as a fraction of the largest
# proposal side, plus half a layer3 cell: room for the boxes to move before the window must
# grow. The boxes of a refinement move a few pixels; a smaller window is less convolution work
# (on the demo sequence DiMP's windows cost 1.8 GFLOP instead of 3.2 with 0.25 + one cell),
# and a box that leaves it only costs a second, larger window.
WINDOW_MARGIN = 0.1
# Cells beyond a window that the IoU-Net's two chained 3x3 convolutions read.
HALO = 2


def initial_filter(
    net: Any,
    feat: Tensor,
    boxes: Tensor,
    num_iter: int,
    training: tuple[Tensor, Tensor, Tensor] | None = None,
) -> Tensor:
    """The initializer's filter on samples ``feat`` (N, C, H, W) / ``boxes`` (N, 4), then
    ``num_iter`` steps on ``training`` (samples, boxes, weights; default: ``feat`` and
    ``boxes`` with uniform weights; the tracker passes its sample memory)."""
    weights = net.filter_init(feat, boxes)
    if training is None:
        count = feat.shape[0]
        uniform = torch.full((count,), 1.0 / count, dtype=feat.dtype, device=feat.device)
        training = (feat, boxes, uniform)
    return optimize_filter(net, weights, *training, num_iter)


def optimize_filter(
    net: Any, weights: Tensor, feat: Tensor, boxes: Tensor, sample_weights: Tensor, num_iter: int
) -> Tensor:
    """``num_iter`` steepest-descent steps from filter ``weights`` on the weighted samples."""
    if num_iter <= 0:
        return weights
    problem = net.filter_problem(feat, boxes, sample_weights)
    for _ in range(num_iter):
        weights = net.filter_step(weights, feat, problem)
    return weights


def rect_to_rel(boxes: Tensor, sz_norm: Tensor) -> Tensor:
    """x, y, w, h -> [cx / w0, cy / h0, log w, log h] (the 'relative' refinement space)."""
    center = boxes[..., :2] + 0.5 * boxes[..., 2:]
    return torch.cat((center / sz_norm, torch.log(boxes[..., 2:])), dim=-1)


def rel_to_rect(rel: Tensor, sz_norm: Tensor) -> Tensor:
    size = torch.exp(rel[..., 2:])
    return torch.cat((rel[..., :2] * sz_norm - 0.5 * size, size), dim=-1)


def _rel_gradient(grad: Tensor, boxes: Tensor, sz_norm: Tensor) -> Tensor:
    """Chain rule through :func:`rel_to_rect`: d / d rel from d / d (x, y, w, h)."""
    position = grad[..., :2] * sz_norm
    size = (grad[..., 2:] - 0.5 * grad[..., :2]) * boxes[..., 2:]
    return torch.cat((position, size), dim=-1)


def refine_boxes(
    net: Any,
    modulation: list[Tensor],
    backbone: dict[str, Tensor],
    proposals: Tensor,
    num_iter: int,
    step_length: list[float],
    step_decay: float,
    relative: bool,
) -> tuple[Tensor, Tensor]:
    """Gradient ascent of the predicted IoU of ``proposals`` (B, P, 4): (boxes, ious).

    ``step_length`` is [s] or [s_position, s_size]. ``relative=False``: ``b += step * grad *
    [w, h, w, h]``; ``relative=True``: ascent on ``[cx/w0, cy/h0, log w, log h]`` with (w0, h0)
    the size of each batch's FIRST proposal. The IoUs are those of the boxes before the last
    update, as in the reference.
    """
    if len(step_length) not in (1, 2):
        raise ValueError("step_length must hold 1 value or 2 (position, size)")
    layer3 = backbone["layer3"]
    whole = [0, int(layer3.shape[-2]), 0, int(layer3.shape[-1])]
    stride = int(net.feature_stride)
    window = feature_window(proposals, whole, stride)
    iou_feat = window_features(net, backbone, window)
    corner = _corner(window, stride, proposals)
    if num_iter <= 0:
        return proposals, net.predict_iou(modulation, iou_feat, proposals - corner)
    step = torch.tensor(
        [step_length[0], step_length[0], step_length[-1], step_length[-1]],
        dtype=proposals.dtype,
        device=proposals.device,
    )
    sz_norm = proposals[:, :1, 2:]
    params = rect_to_rel(proposals, sz_norm) if relative else proposals
    ious = proposals.new_empty(0)
    for _ in range(num_iter):
        boxes = rel_to_rect(params, sz_norm) if relative else params
        if window != whole and not inside_window(boxes, window, whole, stride):
            window = _union(window, feature_window(boxes, whole, stride))
            iou_feat = window_features(net, backbone, window)
            corner = _corner(window, stride, proposals)
        ious, grad = net.iou_and_gradient(modulation, iou_feat, boxes - corner)
        if relative:
            params = params + step * _rel_gradient(grad, boxes, sz_norm)
        else:
            params = params + step * grad * params[:, :, 2:].repeat(1, 1, 2)
        step = step * step_decay
    boxes = rel_to_rect(params, sz_norm) if relative else params
    return boxes, ious


def _corner(window: list[int], stride: int, like: Tensor) -> Tensor:
    """The window's top-left corner as an (x, y, 0, 0) box offset in patch pixels."""
    offset = [window[2] * stride, window[0] * stride, 0, 0]
    return torch.tensor(offset, dtype=like.dtype, device=like.device)


def window_features(net: Any, backbone: dict[str, Tensor], window: list[int]) -> list[Tensor]:
    """The IoU-Net's test features on ``window`` (layer3 cells; layer2 has ``ratio`` cells per
    layer3 cell), exactly the whole maps' values there."""
    layer2, layer3 = backbone["layer2"], backbone["layer3"]
    ratio = int(layer2.shape[-1]) // int(layer3.shape[-1])
    cut2, inside2 = _cut(layer2, [v * ratio for v in window])
    cut3, inside3 = _cut(layer3, window)
    return net.iou_features({"layer2": cut2, "layer3": cut3}, [inside2, inside3])


def _cut(features: Tensor, window: list[int]) -> tuple[Tensor, Tensor]:
    """``features`` on ``window`` (rows, cols) with a halo of ``HALO`` cells, zeros where the
    map ends, and the mask of the first convolution's outputs (halo less one cell) that lie
    on the map."""
    height, width = int(features.shape[-2]), int(features.shape[-1])
    top, bottom = window[0] - HALO, window[1] + HALO
    left, right = window[2] - HALO, window[3] + HALO
    cut = features[:, :, max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    padding = [max(-left, 0), max(right - width, 0), max(-top, 0), max(bottom - height, 0)]
    cut = F.pad(cut, padding) if any(padding) else cut.contiguous()
    rows = torch.arange(top + 1, bottom - 1, device=features.device)
    cols = torch.arange(left + 1, right - 1, device=features.device)
    on_rows = (rows >= 0) & (rows < height)
    on_cols = (cols >= 0) & (cols < width)
    inside = (on_rows[:, None] & on_cols[None, :]).to(features.dtype)
    return cut, inside[None, None]


def _union(first: list[int], second: list[int]) -> list[int]:
    """The smallest window holding both windows."""
    low = [min(a, b) for a, b in zip(first[0::2], second[0::2], strict=True)]
    high = [max(a, b) for a, b in zip(first[1::2], second[1::2], strict=True)]
    return [low[0], high[0], low[1], high[1]]


def _extent(boxes: Tensor) -> tuple[float, float, float, float]:
    """Smallest and largest x and y the boxes (B, P, 4) reach, in patch pixels."""
    corners = torch.stack((boxes[..., :2], boxes[..., :2] + boxes[..., 2:]))
    low = corners.amin(dim=(0, 1, 2)).tolist()
    high = corners.amax(dim=(0, 1, 2)).tolist()
    return low[0], high[0], low[1], high[1]


def feature_window(proposals: Tensor, whole: list[int], stride: int) -> list[int]:
    """Window [row0, row1, col0, col1] of layer3 cells holding the proposals' pooling support
    with a margin of ``WINDOW_MARGIN`` times their largest side plus half a cell (the whole
    map if that is not finite or no box is on the map)."""
    x_low, x_high, y_low, y_high = _extent(proposals)
    margin = WINDOW_MARGIN * float(proposals[..., 2:].abs().max()) + stride / 2
    bounds = (y_low - margin, y_high + margin, x_low - margin, x_high + margin)
    if not all(math.isfinite(v) for v in bounds):
        return list(whole)
    # A box's support reaches one cell beyond it: starts need the cell, ends one more.
    row0 = min(max(math.floor(bounds[0] / stride), 0), whole[1])
    row1 = max(min(math.floor(bounds[1] / stride) + 2, whole[1]), row0)
    col0 = min(max(math.floor(bounds[2] / stride), 0), whole[3])
    col1 = max(min(math.floor(bounds[3] / stride) + 2, whole[3]), col0)
    if row1 == row0 or col1 == col0:  # every box off the map: nothing to cut
        return list(whole)
    return [row0, row1, col0, col1]


def inside_window(boxes: Tensor, window: list[int], whole: list[int], stride: int) -> bool:
    """Whether every box's pooling support (one layer3 cell around it) lies in ``window``,
    a window side on the map's border counting as unbounded (beyond it all is zero)."""
    x_low, x_high, y_low, y_high = _extent(boxes)
    checks = (
        window[0] == whole[0] or y_low >= window[0] * stride,
        window[1] == whole[1] or y_high <= (window[1] - 1) * stride,
        window[2] == whole[2] or x_low >= window[2] * stride,
        window[3] == whole[3] or x_high <= (window[3] - 1) * stride,
    )
    return all(checks) and all(math.isfinite(v) for v in (x_low, x_high, y_low, y_high))
