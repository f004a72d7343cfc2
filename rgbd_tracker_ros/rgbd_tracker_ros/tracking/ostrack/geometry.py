"""OSTrack's test-time image and box arithmetic (botaoye/OSTrack ``lib/train/data/
processing_utils.py sample_target``, ``lib/test/utils/hann.py``, ``lib/utils/box_ops.py
clip_box``, ``lib/models/layers/head.py cal_bbox``, ``lib/test/tracker/ostrack.py
map_box_back``), reproduced value for value so that boxes match the reference's."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from rgbd_tracker_ros.geometry import BoxXYWH


@dataclass(frozen=True)
class Crop:
    """A square crop resized to the network input: the patch, its scale and image box."""

    patch: np.ndarray  # output_size x output_size x C, the image's dtype
    resize_factor: float  # output pixels per image pixel
    box_xywh: BoxXYWH  # the square in image pixels (may extend past the borders)


def crop_square(image: np.ndarray, box_xywh: BoxXYWH, factor: float, output_size: int) -> Crop:
    """The square of side ``ceil(sqrt(w*h) * factor)`` centred on the box, zero-padded outside
    the image, resized (bilinear) to ``output_size``.

    As the reference, the crop's corner is Python-rounded, and once the square reaches the
    image's last row or column that row/column is left out and padded with zeros too.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    side = math.ceil(math.sqrt(w * h) * factor)
    if not side >= 1:
        raise ValueError(f"box {box_xywh} is too small to crop (side {side})")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    height, width = image.shape[:2]
    src_x1, src_y1 = max(x1, 0), max(y1, 0)
    src_x2, src_y2 = min(x1 + side, width - 1), min(y1 + side, height - 1)
    padded = np.zeros((side, side, *image.shape[2:]), dtype=image.dtype)
    if src_x2 > src_x1 and src_y2 > src_y1:
        padded[src_y1 - y1 : src_y2 - y1, src_x1 - x1 : src_x2 - x1] = image[
            src_y1:src_y2, src_x1:src_x2
        ]
    patch = cv2.resize(padded, (output_size, output_size))
    if patch.ndim == 2:  # OpenCV drops a single channel axis
        patch = patch[:, :, None]
    return Crop(patch, output_size / side, (float(x1), float(y1), float(side), float(side)))


def hann2d(size: int) -> torch.Tensor:
    """(1, 1, size, size) raised-cosine window, zero just outside both ends (``centered``)."""
    k = torch.arange(1, size + 1).float()
    window = 0.5 * (1 - torch.cos((2 * math.pi / (size + 1)) * k))
    return window.reshape(1, 1, -1, 1) * window.reshape(1, 1, 1, -1)


def box_from_maps(
    response: torch.Tensor, size: torch.Tensor, offset: torch.Tensor
) -> tuple[float, torch.Tensor]:
    """Peak of ``response`` (1,1,F,F) and the box there: ``[cx, cy, w, h]`` (4,) as fractions
    of the search patch (centre = cell + offset, size from the size map)."""
    feat = response.shape[-1]
    peak, index = torch.max(response.flatten(1), dim=1, keepdim=True)
    index_y, index_x = index // feat, index % feat
    gather = index.unsqueeze(1).expand(index.shape[0], 2, 1)
    box_size = size.flatten(2).gather(dim=2, index=gather)
    box_offset = offset.flatten(2).gather(dim=2, index=gather).squeeze(-1)
    box = torch.cat(
        [
            (index_x.to(torch.float) + box_offset[:, :1]) / feat,
            (index_y.to(torch.float) + box_offset[:, 1:]) / feat,
            box_size.squeeze(-1),
        ],
        dim=1,
    )
    return float(peak.item()), box.view(-1, 4).mean(dim=0)


def box_to_image(
    box: torch.Tensor, search_size: int, resize_factor: float, previous: BoxXYWH
) -> BoxXYWH:
    """Search-patch fraction box -> image ``x, y, w, h`` around the previous box's centre."""
    cx, cy, w, h = (box.cpu() * search_size / resize_factor).tolist()
    half_side = 0.5 * search_size / resize_factor
    cx_image = cx + (previous[0] + 0.5 * previous[2] - half_side)
    cy_image = cy + (previous[1] + 0.5 * previous[3] - half_side)
    return cx_image - 0.5 * w, cy_image - 0.5 * h, w, h


def clip_box(box: BoxXYWH, height: int, width: int, margin: float) -> BoxXYWH:
    """Keep the box's corners in the image, at least ``margin`` pixels wide and high."""
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return float(x1), float(y1), float(max(margin, x2 - x1)), float(max(margin, y2 - y1))
