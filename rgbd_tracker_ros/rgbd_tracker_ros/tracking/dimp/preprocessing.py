"""Image side of the DiMP trackers: patch sampling, box <-> patch boxes, DeT depth, augmentation.

Conventions follow pytracking so that the networks see exactly what they were trained on:
points and sizes are NumPy ``(y, x)`` / ``(h, w)`` pairs (float64), image boxes are
``[x, y, w, h]`` with the pixel-inclusive centre ``x + (w - 1) / 2``, and patch boxes (the
IoUNet / classifier input) are ``[x, y, w, h]`` in patch pixels. Images travel as
``(1, C, H, W)`` uint8 tensors, patches as float32 in ``[0, 255]`` (the network normalises).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

BORDER_MODES = ("replicate", "inside", "inside_major")
# How the sample window's corners are computed: "integer" as pytracking until 2022-05 (the code
# DiMP-50, DeT and TransformerTrack were evaluated with), "float" as pytracking since commit
# 9e0b1b2 (2022-05), where the corners are half-pixel floats and the cut is truncated to ints.
CROP_ARITHMETICS = ("integer", "float")


# --------------------------------------------------------------------------------------------
# Patch sampling


@dataclass(frozen=True)
class PatchCoords:
    """Where a patch came from: image rows/cols ``[tl, br)`` (``(y, x)``; integers, or
    half-pixel floats with the "float" crop arithmetic).

    The window may extend past the image (replicated border); ``sample_pos`` is its centre in
    the pixel-inclusive convention, as the reference's ``get_sample_location``.
    """

    tl: np.ndarray
    br: np.ndarray

    @property
    def sample_pos(self) -> np.ndarray:
        return 0.5 * (self.tl + self.br - 1).astype(np.float64)

    def sample_scale(self, img_sample_sz: np.ndarray) -> float:
        """Image pixels per patch pixel (geometric mean over both axes)."""
        return float(np.sqrt(np.prod((self.br - self.tl) / img_sample_sz)))


def _inside_sample_size(
    sample_sz: np.ndarray, image_sz: np.ndarray, mode: str, max_scale_change: float | None
) -> np.ndarray:
    """Shrink the window so it fits the image ('inside': both axes, 'inside_major': one)."""
    ratios = sample_sz / image_sz
    shrink = ratios.max() if mode == "inside" else ratios.min()
    shrink = np.float32(max(shrink, 1.0))
    if max_scale_change is not None:
        shrink = np.float32(min(shrink, max_scale_change))
    return np.trunc(sample_sz / shrink)


def _shift_inside(tl: np.ndarray, br: np.ndarray, image_sz: np.ndarray) -> None:
    """Move a window inside the image, then centre it on axes where it is still larger."""
    shift = np.clip(-tl, 0, None) - np.clip(br - image_sz, 0, None)
    tl += shift
    br += shift
    outside = (np.clip(-tl, 0, None) + np.clip(br - image_sz, 0, None)) // 2
    shift = (-tl - outside) * (outside > 0)
    tl += shift
    br += shift


def crop_window(
    image: torch.Tensor,
    pos: np.ndarray,
    sample_sz: np.ndarray,
    output_sz: np.ndarray,
    mode: str = "replicate",
    max_scale_change: float | None = None,
    arithmetic: str = "integer",
) -> tuple[torch.Tensor, PatchCoords]:
    """Cut the window around ``pos`` with replicated borders, before any resizing.

    As the reference: the position is truncated, large windows are first strided by an integer
    factor ``df``, and with ``arithmetic`` "integer" (pytracking up to 2022-05, TransformerTrack,
    DeT) an ``n``-pixel window spans ``[pos - (n - 1) // 2, pos + n // 2 + 1)``. With "float"
    (pytracking since 2022-05) the corners are ``pos - (n - 1) / 2`` and ``pos + n / 2 + 1``,
    the cut runs between their truncations (``n`` or ``n + 1`` pixels, by the sign of the
    corners) and the float corners locate the patch: up to a pixel from the integer version.
    Sizes are computed in float32 as the reference's tensors are, so that truncations agree
    with it at the edges. Replicate padding is an index clamp, which also works for windows
    entirely outside the image.
    """
    if mode not in BORDER_MODES:
        raise ValueError(f"unknown border mode {mode!r}; expected one of {BORDER_MODES}")
    if arithmetic not in CROP_ARITHMETICS:
        raise ValueError(f"unknown crop arithmetic {arithmetic!r}; one of {CROP_ARITHMETICS}")
    height, width = image.shape[-2:]
    posl = np.trunc(np.asarray(pos, dtype=np.float32)).astype(np.int64)
    sample_sz = np.asarray(sample_sz, dtype=np.float32)
    if mode != "replicate":
        sample_sz = _inside_sample_size(
            sample_sz, np.array([height, width], np.float32), mode, max_scale_change
        )
    df = max(int(float(np.min(sample_sz / np.asarray(output_sz, np.float32))) - 0.1), 1)
    offset = posl % df
    posl = (posl - offset) // df
    strided_sz = np.array([-(-(height - offset[0]) // df), -(-(width - offset[1]) // df)])
    szl = np.maximum(np.round(sample_sz / df), 2).astype(np.int64)
    if arithmetic == "integer":
        tl = posl - (szl - 1) // 2
        br = posl + szl // 2 + 1
    else:
        tl = posl - (szl - 1) / 2
        br = posl + szl / 2 + 1
    if mode != "replicate":
        _shift_inside(tl, br, strided_sz)
    first, stop = np.trunc(tl).astype(np.int64), np.trunc(br).astype(np.int64)
    device = image.device
    rows = offset[0] + df * np.clip(np.arange(first[0], stop[0]), 0, strided_sz[0] - 1)
    cols = offset[1] + df * np.clip(np.arange(first[1], stop[1]), 0, strided_sz[1] - 1)
    window = image.index_select(2, torch.from_numpy(rows).to(device))
    window = window.index_select(3, torch.from_numpy(cols).to(device))
    return window, PatchCoords(tl=df * tl, br=df * br)


def sample_patch(
    image: torch.Tensor,
    pos: np.ndarray,
    sample_sz: np.ndarray,
    output_sz: np.ndarray,
    mode: str = "replicate",
    max_scale_change: float | None = None,
    arithmetic: str = "integer",
) -> tuple[torch.Tensor, PatchCoords]:
    """A float32 ``(1, C, out_h, out_w)`` patch in [0, 255] and the window it covers."""
    window, coords = crop_window(
        image, pos, sample_sz, output_sz, mode, max_scale_change, arithmetic
    )
    window = window.float()
    out_hw = [int(output_sz[0]), int(output_sz[1])]
    if list(window.shape[-2:]) != out_hw:
        window = F.interpolate(window, out_hw, mode="bilinear", align_corners=False)
    return window, coords


def sample_patch_multiscale(
    image: torch.Tensor,
    pos: np.ndarray,
    scales: list[float],
    img_sample_sz: np.ndarray,
    mode: str = "replicate",
    max_scale_change: float | None = None,
    arithmetic: str = "integer",
) -> tuple[torch.Tensor, list[PatchCoords]]:
    """One patch per scale, stacked along the batch axis."""
    pairs = [
        sample_patch(
            image, pos, scale * img_sample_sz, img_sample_sz, mode, max_scale_change, arithmetic
        )
        for scale in scales
    ]
    return torch.cat([patch for patch, _ in pairs]), [coords for _, coords in pairs]


# --------------------------------------------------------------------------------------------
# Boxes


def box_to_pos_size(box_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image box -> centre ``(y, x)`` and size ``(h, w)``, pixel-inclusive centre."""
    x, y, w, h = (float(v) for v in box_xywh)
    return np.array([y + (h - 1) / 2, x + (w - 1) / 2]), np.array([h, w])


def pos_size_to_box(pos: np.ndarray, target_sz: np.ndarray) -> np.ndarray:
    """Inverse of ``box_to_pos_size``."""
    return np.array(
        [
            pos[1] - (target_sz[1] - 1) / 2,
            pos[0] - (target_sz[0] - 1) / 2,
            target_sz[1],
            target_sz[0],
        ]
    )


def image_to_patch_box(
    pos: np.ndarray,
    target_sz: np.ndarray,
    sample_pos: np.ndarray,
    sample_scale: float,
    img_sample_sz: np.ndarray,
) -> np.ndarray:
    """Target (image centre/size) -> patch box ``[x, y, w, h]`` (the reference's get_iounet_box)."""
    centre = (pos - sample_pos) / sample_scale + (img_sample_sz - 1) / 2
    size = target_sz / sample_scale
    top_left = centre - (size - 1) / 2
    return np.array([top_left[1], top_left[0], size[1], size[0]])


def patch_to_image_box(
    box: np.ndarray, sample_pos: np.ndarray, sample_scale: float, img_sample_sz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inverse of ``image_to_patch_box``: patch box -> image centre ``(y, x)``, size."""
    size = np.array([box[3], box[2]], dtype=np.float64)
    centre = np.array([box[1], box[0]], dtype=np.float64) + (size - 1) / 2
    pos = (centre - (img_sample_sz - 1) / 2) * sample_scale + sample_pos
    return pos, size * sample_scale


def refined_box_to_image(
    box: np.ndarray, sample_pos: np.ndarray, sample_scale: float, img_sample_sz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """IoUNet output box -> image centre/size, as the reference's refine_target_box.

    The reference takes the box centre as ``x + w / 2`` here (continuous convention) instead of
    ``x + (w - 1) / 2``, which puts the target half a patch pixel right/below the exact
    inverse. Kept because the published DiMP/DeT results were produced this way.
    """
    pos, size = patch_to_image_box(box, sample_pos, sample_scale, img_sample_sz)
    return pos + sample_scale / 2, size


# --------------------------------------------------------------------------------------------
# DeT depth input


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Metres (0/NaN = no reading) -> the uint16 millimetre image the DeT reference reads.

    In place on one float64 buffer: this runs on every DeT frame.
    """
    depth_mm = np.multiply(depth_m, 1000.0, dtype=np.float64)
    np.rint(depth_mm, out=depth_mm)
    np.nan_to_num(depth_mm, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(depth_mm, 0, np.iinfo(np.uint16).max, out=depth_mm)
    return depth_mm.astype(np.uint16)


def uint16_median(values: np.ndarray) -> float:
    """``np.median`` of a uint16 array from its histogram (linear time, no partial sort)."""
    counts = np.cumsum(np.bincount(values.reshape(-1), minlength=1))
    size = int(counts[-1])
    low = int(np.searchsorted(counts, (size - 1) // 2, side="right"))
    high = int(np.searchsorted(counts, size // 2, side="right"))
    return (low + high) / 2.0


def clip_depth(depth_mm: np.ndarray, median_factor: float, max_depth_mm: float) -> np.ndarray:
    """Clip far readings at ``min(median_factor * median, max_depth_mm)``.

    The median includes the zero (invalid) pixels and the threshold is truncated on
    assignment into uint16, both as in DeT's ``get_rgbd_frame``.
    """
    limit = min(uint16_median(depth_mm) * median_factor, max_depth_mm)
    return np.minimum(depth_mm, np.uint16(math.floor(limit)))


def depth_colormap(depth_m: np.ndarray, median_factor: float, max_depth_mm: float) -> np.ndarray:
    """DeT's depth input: clipped, min-max normalised to 0..255, JET colour map in BGR order."""
    clipped = clip_depth(depth_to_millimetres(depth_m), median_factor, max_depth_mm)
    levels = cv2.normalize(clipped, None, alpha=0, beta=255, norm_type=cv2.NORM_MINMAX)
    return cv2.applyColorMap(levels.astype(np.uint8), cv2.COLORMAP_JET)


def rgbd_image(
    color: np.ndarray, depth_m: np.ndarray, median_factor: float, max_depth_mm: float
) -> np.ndarray:
    """HxWx6 uint8: RGB followed by the JET (BGR) depth, DeT's 'rgbcolormap' input."""
    if depth_m.shape != color.shape[:2]:
        raise ValueError(
            f"depth image {depth_m.shape} does not match the color image {color.shape[:2]}"
        )
    return np.concatenate([color, depth_colormap(depth_m, median_factor, max_depth_mm)], axis=2)


def image_to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWxC uint8 -> (1, C, H, W) uint8 on ``device`` (cropping happens before the float cast)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)
    return tensor.to(device)


# --------------------------------------------------------------------------------------------
# First-frame augmentation


@dataclass(frozen=True)
class Augmentation:
    """One augmented first-frame sample.

    ``shift`` ``(dy, dx)`` is how far the target moves in the output patch: the classifier's
    training box for this sample is the identity box plus ``(dx, dy)``.
    """

    kind: str
    shift: tuple[int, int] = (0, 0)
    blur_sigma: tuple[float, float] = (0.0, 0.0)
    scale_factor: float = 1.0
    angle_deg: float = 0.0


@dataclass(frozen=True)
class AugmentationConfig:
    """The ``augmentation`` parameter block (see config/trackers/dimp.yaml)."""

    fliplr: bool
    shift: tuple[tuple[int, int], ...]
    relativeshift: tuple[tuple[float, float], ...]
    blur: tuple[tuple[float, float], ...]
    scale: tuple[float, ...]
    rotate: tuple[float, ...]
    dropout: tuple[int, float]


def build_augmentations(
    config: AugmentationConfig | None,
    img_sample_sz: np.ndarray,
    random_shift_factor: float,
    global_shift: np.ndarray,
    generator: torch.Generator,
) -> list[Augmentation]:
    """The augmentation list in the reference's order (which fixes the RNG draws and boxes).

    Identity first (its sample is the unaugmented one used for the IoUNet), then absolute and
    relative shifts, flip, blurs, scales, rotations; the last four each get a random shift.
    """
    base = tuple(int(v) for v in np.trunc(global_shift))
    augs = [Augmentation("identity", base)]
    if config is None:
        return augs

    def random_shift() -> tuple[int, int]:
        if random_shift_factor <= 0:
            return (0, 0)
        draw = (torch.rand(2, generator=generator) - 0.5).double().numpy()
        return tuple(
            int(v) for v in np.trunc(draw * img_sample_sz * random_shift_factor + global_shift)
        )

    for dy, dx in config.shift:
        augs.append(Augmentation("shift", (base[0] + dy, base[1] + dx)))
    for ry, rx in config.relativeshift:
        dy, dx = (int(v) for v in np.trunc(np.array([ry, rx]) * img_sample_sz / 2))
        augs.append(Augmentation("shift", (base[0] + dy, base[1] + dx)))
    if config.fliplr:
        augs.append(Augmentation("fliplr", random_shift()))
    augs.extend(Augmentation("blur", random_shift(), blur_sigma=s) for s in config.blur)
    augs.extend(Augmentation("scale", random_shift(), scale_factor=f) for f in config.scale)
    augs.extend(Augmentation("rotate", random_shift(), angle_deg=a) for a in config.rotate)
    return augs


def crop_to_output(
    patch: torch.Tensor, output_sz: np.ndarray, shift: tuple[int, int]
) -> torch.Tensor:
    """Centre-crop (or replicate-pad) to ``output_sz``, displacing the content by ``shift``."""
    out_h, out_w = int(output_sz[0]), int(output_sz[1])
    in_h, in_w = patch.shape[-2:]
    top = math.floor((out_h - in_h) / 2) + shift[0]
    left = math.floor((out_w - in_w) / 2) + shift[1]
    rows = torch.clamp(torch.arange(out_h) - top, 0, in_h - 1).to(patch.device)
    cols = torch.clamp(torch.arange(out_w) - left, 0, in_w - 1).to(patch.device)
    return patch.index_select(2, rows).index_select(3, cols)


def _blur(patch: torch.Tensor, sigma: tuple[float, float]) -> torch.Tensor:
    """Separable Gaussian (half size ceil(2 sigma)), zero padded, per channel."""
    channels, (height, width) = patch.shape[1], patch.shape[-2:]
    out = patch.reshape(-1, 1, height, width)
    for axis, s in enumerate(sigma):
        half = math.ceil(2 * s)
        taps = torch.exp(-(torch.arange(-half, half + 1, dtype=torch.float32) ** 2) / (2 * s**2))
        taps = (taps / taps.sum()).to(patch.device, patch.dtype)
        kernel = taps.view(1, 1, -1, 1) if axis == 0 else taps.view(1, 1, 1, -1)
        out = F.conv2d(out, kernel, padding=(half, 0) if axis == 0 else (0, half))
    return out.reshape(1, channels, height, width)


def _scale(patch: torch.Tensor, factor: float) -> torch.Tensor:
    """Resize by 1/factor keeping the size difference even (so the crop stays centred)."""
    height, width = patch.shape[-2:]
    new_h = round(height / factor)
    new_h += (new_h - height) % 2
    new_w = round(width / factor)
    new_w += (new_w - width) % 2
    return F.interpolate(patch, [new_h, new_w], mode="bilinear", align_corners=False)


def _rotate(patch: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotate about the patch centre with OpenCV (bilinear, replicated border), as the reference."""
    image = patch[0].permute(1, 2, 0).cpu().numpy()
    angle = math.radians(angle_deg)
    rotation = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    centre = (np.array(image.shape[:2], dtype=np.float64).reshape(2, 1) - 1) / 2
    matrix = np.concatenate([rotation, centre - rotation @ centre], axis=1)
    rotated = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    if rotated.ndim == 2:
        rotated = rotated[:, :, None]
    return torch.from_numpy(rotated).permute(2, 0, 1).unsqueeze(0).to(patch.device)


def apply_augmentation(
    patch: torch.Tensor, aug: Augmentation, output_sz: np.ndarray
) -> torch.Tensor:
    """Transform the expanded first-frame patch and cut the ``output_sz`` sample from it."""
    if aug.kind == "fliplr":
        patch = patch.flip(3)
    elif aug.kind == "blur":
        patch = _blur(patch, aug.blur_sigma)
    elif aug.kind == "scale":
        patch = _scale(patch, aug.scale_factor)
    elif aug.kind == "rotate":
        patch = _rotate(patch, aug.angle_deg)
    return crop_to_output(patch, output_sz, aug.shift)


def feature_dropout(
    features: torch.Tensor, count: int, prob: float, generator: torch.Generator
) -> torch.Tensor:
    """``count`` copies of ``features`` (1, C, H, W) with whole channels dropped (dropout2d).

    The mask comes from the tracker's own CPU generator so runs are reproducible on any device.
    """
    channels = features.shape[1]
    keep = (torch.rand(count, channels, generator=generator) >= prob).to(features.dtype)
    mask = (keep / (1.0 - prob)).to(features.device).view(count, channels, 1, 1)
    return features.expand(count, -1, -1, -1) * mask
