"""Hand-crafted feature channels for the correlation filter, computed with tensor ops.

The gradient channels are HOG-like (Dalal and Triggs, "Histograms of Oriented Gradients for
Human Detection", CVPR 2005), as in most correlation-filter trackers.

Every function here is TorchScript-compatible (``torch.jit.script``), so the compute core runs
eager or scripted, on CPU or GPU. Inputs are batches of square image patches (N, C, P, P);
outputs are grids of cells (N, C', P / cell, P / cell), the resolution the filter works at.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

NUM_LAB_CHANNELS = 3
# relative depth, near-target share, horizontal and vertical relative-depth gradients
NUM_DEPTH_CHANNELS = 4


class FeatureSettings(NamedTuple):
    """How patches become feature grids; every value comes from the tracker's YAML.

    A NamedTuple (not a dataclass) because TorchScript accepts it as a function argument.
    """

    cell_size: int
    num_orientations: int
    orientation_clip: float
    contrast_floor: float
    min_depth_m: float
    max_depth_m: float
    depth_range_m: float
    depth_sigma_m: float
    orientation_weight: float
    color_weight: float
    depth_weight: float


def num_feature_channels(settings: FeatureSettings) -> int:
    return settings.num_orientations + NUM_LAB_CHANNELS + NUM_DEPTH_CHANNELS


def image_gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences with replicated borders, so patch edges add no false gradient."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    grad_x = padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]
    grad_y = padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]
    return grad_x, grad_y


def orientation_channels(
    gray: torch.Tensor, num_bins: int, cell_size: int, clip: float, contrast_floor: float
) -> torch.Tensor:
    """HOG-like histogram of unsigned gradient orientations per cell.

    Each pixel splits its gradient magnitude linearly between the two nearest bins, so a
    small rotation changes the features smoothly. The votes are scattered straight into the
    cell grid (no dense per-bin maps): first into 2 * num_bins + 2 "slots" of signed
    orientation, padded by one slot at each end so no per-pixel wrap-around is needed, then
    folded onto the num_bins unsigned bins on the small grid. Each cell is normalised by the
    gradient energy of its 3x3 neighbourhood so the channels survive illumination changes,
    and clipped so one strong edge cannot dominate; ``contrast_floor`` keeps flat regions
    from amplifying noise. The patch side must be a multiple of the cell.
    """
    grad_x, grad_y = image_gradients(gray)
    magnitude = torch.hypot(grad_x, grad_y)
    # Signed orientation in bin units, shifted so slot s holds bin centre s - 0.5 (s >= 0).
    slots = 2 * num_bins + 2
    position = torch.atan2(grad_y, grad_x) * (num_bins / math.pi) + (num_bins + 0.5)
    lower_slot = position.long()
    upper_votes = magnitude * (position - lower_slot)

    batch, _, height, width = gray.shape
    grid_h, grid_w = height // cell_size, width // cell_size
    cells = grid_h * grid_w
    rows = torch.arange(height, device=gray.device) // cell_size
    cols = torch.arange(width, device=gray.device) // cell_size
    cell_index = rows.view(-1, 1) * grid_w + cols.view(1, -1)
    first = (torch.arange(batch, device=gray.device) * (slots * cells)).view(-1, 1, 1, 1)
    index = first + cell_index + lower_slot * cells
    histogram = gray.new_zeros(batch * slots * cells)
    histogram.index_add_(0, index.flatten(), (magnitude - upper_votes).flatten())
    histogram.index_add_(0, (index + cells).flatten(), upper_votes.flatten())
    histogram = histogram.view(batch, slots, grid_h, grid_w)
    # Slot s is signed bin s - 1; signed bins k and k + num_bins are the same orientation.
    slot_bins = torch.remainder(torch.arange(slots, device=gray.device) - 1, num_bins)
    bins = gray.new_zeros(batch, num_bins, grid_h, grid_w).index_add_(1, slot_bins, histogram)
    bins = bins / float(cell_size * cell_size)

    energy = bins.pow(2).sum(dim=1, keepdim=True)
    neighbourhood = F.avg_pool2d(energy, 3, stride=1, padding=1, count_include_pad=False)
    normalised = bins / torch.sqrt(neighbourhood + contrast_floor * contrast_floor)
    return torch.clamp(normalised, max=clip)


def lab_channels(color: torch.Tensor, cell_size: int) -> torch.Tensor:
    """Mean colour of each cell in CIE Lab, scaled near unit range.

    Lab separates lightness from chroma, so a target's colour stays recognisable when the
    light changes; pooling first keeps the non-linear conversion cheap.
    """
    rgb = F.avg_pool2d(color, cell_size).clamp(0.0, 1.0)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, torch.pow((rgb + 0.055) / 1.055, 2.4))
    # sRGB (D65) linear RGB -> CIE XYZ (IEC 61966-2-1), rows divided by the D65 white point
    # so that white maps to X = Y = Z = 1.
    matrix = torch.tensor(
        [
            [0.4124 / 0.95047, 0.3576 / 0.95047, 0.1805 / 0.95047],
            [0.2126, 0.7152, 0.0722],
            [0.0193 / 1.08883, 0.1192 / 1.08883, 0.9505 / 1.08883],
        ],
        dtype=color.dtype,
        device=color.device,
    )
    xyz = torch.einsum("ij,njhw->nihw", matrix, linear)
    # CIE Lab: cube root above (6/29)^3, linear segment below. (Constants are locals because
    # TorchScript cannot read module-level floats.)
    delta = 6.0 / 29.0
    compressed = torch.where(
        xyz > delta**3,
        torch.pow(xyz.clamp(min=delta**3), 1.0 / 3.0),
        xyz / (3.0 * delta**2) + 4.0 / 29.0,
    )
    f_x, f_y, f_z = compressed[:, 0:1], compressed[:, 1:2], compressed[:, 2:3]
    # L spans 0..100 and a, b about -100..100: divide by 100 to bring them near unit scale.
    lightness = (116.0 * f_y - 16.0) / 100.0 - 0.5
    green_red = 500.0 * (f_x - f_y) / 100.0
    blue_yellow = 200.0 * (f_y - f_z) / 100.0
    return torch.cat([lightness, green_red, blue_yellow], dim=1)


def depth_channels(
    depth: torch.Tensor,
    target_depth: float,
    cell_size: int,
    settings: FeatureSettings,
) -> torch.Tensor:
    """Depth relative to the target, so a target separates from a look-alike background.

    Channels: mean relative depth clipped to +-1 at ``depth_range_m`` (in front < 0 < behind),
    share of pixels within ``depth_sigma_m`` of the target depth (a soft foreground mask), and
    the horizontal / vertical gradients of the relative depth (object silhouettes). Readings
    outside the trusted range (0 = none, NaN, inf) are left out of every mean; a cell with no
    valid pixel reads 0. ``cell_size`` is the depth patch's own (depth may be sampled coarser
    than colour: it is smooth, and this is the costliest per-pixel part).
    """
    is_valid = (depth > settings.min_depth_m) & (depth < settings.max_depth_m)
    valid = is_valid.to(depth.dtype)
    offset = torch.where(is_valid, depth - target_depth, torch.zeros_like(depth))
    # Invalid pixels add 0 to every sum, so a cell without valid pixels reads 0.
    denominator = F.avg_pool2d(valid, cell_size).clamp(min=1.0 / float(cell_size * cell_size))
    clipped = torch.clamp(offset, -settings.depth_range_m, settings.depth_range_m)
    relative_cells = F.avg_pool2d(clipped, cell_size) / (denominator * settings.depth_range_m)
    near = torch.exp(offset * offset * (-0.5 / (settings.depth_sigma_m**2))) * valid
    near_cells = F.avg_pool2d(near, cell_size) / denominator
    grad_x, grad_y = image_gradients(relative_cells)
    return torch.cat([relative_cells, near_cells, 0.5 * grad_x, 0.5 * grad_y], dim=1)


def extract_features(
    color: torch.Tensor,
    depth: torch.Tensor | None,
    target_depth: float,
    settings: FeatureSettings,
) -> torch.Tensor:
    """All channels of a batch of patches: orientations, Lab colour, depth (zeros without depth).

    ``color`` is (N, 3, P, P) RGB in [0, 1]; ``depth`` is (N, 1, Q, Q) metres (Q a multiple
    of the cell grid's side, 0 = no reading), or None. Depth channels stay in the stack as
    zeros when there is no depth, so the filter's channel count never changes mid-sequence.
    """
    # ITU-R BT.709 luma weights, the ones sRGB content is encoded for.
    luma = torch.tensor([0.2126, 0.7152, 0.0722], dtype=color.dtype, device=color.device)
    gray = F.conv2d(color, luma.view(1, 3, 1, 1))
    orientations = orientation_channels(
        gray,
        settings.num_orientations,
        settings.cell_size,
        settings.orientation_clip,
        settings.contrast_floor,
    )
    colour = lab_channels(color, settings.cell_size)
    grid_h, grid_w = orientations.shape[-2], orientations.shape[-1]
    # Without depth every depth pixel counts as invalid, which yields all-zero depth channels.
    if depth is None or target_depth <= 0.0:
        depth = color.new_zeros((color.shape[0], 1, grid_h, grid_w))
    depth_part = depth_channels(depth, target_depth, depth.shape[-1] // grid_w, settings)
    return torch.cat(
        [
            settings.orientation_weight * orientations,
            settings.color_weight * colour,
            settings.depth_weight * depth_part,
        ],
        dim=1,
    )


def chroma_cells(features: torch.Tensor, settings: FeatureSettings) -> torch.Tensor:
    """The Lab a, b channels of feature grids (N, 2, H, W), unweighted: colour without lightness."""
    first = settings.num_orientations + 1
    return features[:, first : first + 2] / settings.color_weight


def chroma_histogram(chroma: torch.Tensor, bins: int, extent: float) -> torch.Tensor:
    """Normalised bins x bins histogram (flattened) of cell chroma (2, H, W) over +-``extent``.

    Lightness is left out so a change of brightness does not change the histogram, while a
    look-alike of another hue lands in other bins.
    """
    scaled = ((chroma + extent) * (bins / (2.0 * extent))).long().clamp(0, bins - 1)
    index = (scaled[0] * bins + scaled[1]).flatten()
    counts = torch.bincount(index, minlength=bins * bins).to(chroma.dtype)
    return counts / counts.sum().clamp(min=1.0)
