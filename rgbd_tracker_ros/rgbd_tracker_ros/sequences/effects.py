"""Sensor effects for synthetic frames: RealSense-like depth noise, lighting, motion blur.

Applied after rendering, so the renderer stays exact and each effect can be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rgbd_tracker_ros.sequences.depthtrack import MM_PER_M

_UINT16_MAX = 65535


@dataclass(frozen=True)
class DepthNoiseModel:
    """Active-stereo depth errors in the style of an Intel RealSense D435.

    Stereo depth is z = f·B/disparity, so a fixed disparity error gives a depth error growing
    with z²: sigma_z = subpixel · z² / (f · B). Depth edges lose readings (matching fails
    across discontinuities), and a band left of near objects is invalid because the
    right imager cannot see it (occlusion shadow, width f·B·(1/z_near - 1/z_far) pixels).
    ``strength`` scales the error and the hole rates (0 = perfect depth).
    """

    strength: float = 1.0
    subpixel_px: float = 0.08  # D4xx matching error (RMS, disparity pixels)
    baseline_m: float = 0.050  # D435 stereo baseline
    edge_jump_ratio: float = 0.04  # a neighbour this much (relative) farther marks an edge
    edge_band_px: int = 2  # width of the unreliable band around depth edges
    edge_drop_prob: float = 0.6  # chance a pixel of that band reads 0
    speckle_prob: float = 0.002  # isolated invalid pixels
    blob_fraction: float = 0.01  # image area of larger invalid blobs (dark/shiny spots)
    min_range_m: float = 0.2  # closer than this: no reading
    max_range_m: float = 10.0  # farther than this: no reading
    max_shadow_px: int = 40

    def apply(self, depth_m: np.ndarray, fx: float, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of ``depth_m`` (float32 metres, inf = nothing) as uint16 millimetres."""
        height, width = depth_m.shape
        finite = np.isfinite(depth_m)
        z = np.where(finite, depth_m, np.float32(0))
        # Stereo matching windows correlate neighbouring errors: draw the fine noise at half
        # resolution, plus a smooth low-frequency part (stereo depth is blotchy).
        fine = _upsampled_normal(rng, height, width, 2)
        smooth = _upsampled_normal(rng, height, width, 32)
        sigma = np.float32(self.strength * self.subpixel_px / (fx * self.baseline_m)) * z * z
        noisy = z + sigma * (fine + np.float32(0.5) * smooth)

        invalid = ~finite | (z < self.min_range_m) | (z > self.max_range_m)
        invalid |= self._shadow(z, fx)
        uniform = rng.random((height, width), np.float32)
        invalid |= self._edges(z) & (uniform < min(1.0, self.edge_drop_prob * self.strength))
        invalid |= uniform > 1.0 - min(1.0, self.speckle_prob * self.strength)
        invalid |= self._blobs(height, width, rng)

        millimetres = np.clip(noisy * np.float32(MM_PER_M) + np.float32(0.5), 0, _UINT16_MAX)
        millimetres[invalid] = 0
        return millimetres.astype(np.uint16)

    def _edges(self, z: np.ndarray) -> np.ndarray:
        size = 2 * self.edge_band_px + 1
        kernel = np.ones((size, size), np.uint8)
        spread = cv2.dilate(z, kernel) - cv2.erode(z, kernel)
        return spread > self.edge_jump_ratio * z

    def _shadow(self, z: np.ndarray, fx: float) -> np.ndarray:
        """Invalid band to the left of each near-object edge, as wide as the disparity step."""
        left, right = z[:, :-1], z[:, 1:]
        jump = (left - right) > self.edge_jump_ratio * right  # farther on the left
        mask = np.zeros(z.shape, bool)
        if not jump.any() or self.strength <= 0:
            return mask
        near, far = right[jump], left[jump]
        widths = fx * self.baseline_m * (1.0 / near - 1.0 / far)
        band = int(np.clip(np.rint(np.median(widths)), 1, self.max_shadow_px))
        edges = np.zeros(z.shape, np.uint8)
        edges[:, 1:][jump] = 1
        # Anchor (0, 0): a pixel becomes invalid if an edge lies within ``band`` to its right.
        kernel = np.ones((1, band + 1), np.uint8)
        return cv2.dilate(edges, kernel, anchor=(0, 0)).astype(bool)

    def _blobs(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        fraction = min(1.0, self.blob_fraction * self.strength)
        if fraction <= 0:
            return np.zeros((height, width), bool)
        coarse = rng.random((max(2, height // 12), max(2, width // 12)), np.float32)
        field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        return field > 1.0 - fraction


def _upsampled_normal(
    rng: np.random.Generator, height: int, width: int, cell_px: int
) -> np.ndarray:
    """Unit normal noise drawn on a grid of ``cell_px`` cells, bilinearly upsampled."""
    coarse = rng.standard_normal((max(2, height // cell_px), max(2, width // cell_px)), np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def exact_depth_mm(depth_m: np.ndarray) -> np.ndarray:
    """Noise-free depth as uint16 millimetres (0 where nothing was rendered)."""
    finite = np.isfinite(depth_m)
    millimetres = np.clip(np.rint(np.where(finite, depth_m, 0) * MM_PER_M), 0, _UINT16_MAX)
    return millimetres.astype(np.uint16)


def illuminate(color: np.ndarray, gain_rgb: np.ndarray, gradient_xy: np.ndarray) -> np.ndarray:
    """Global colour gain times a linear brightness ramp across the image (a moving light)."""
    height, width = color.shape[:2]
    # The ramp is linear: a coarse grid upsampled bilinearly gives it at a fraction of the cost.
    ramp_x = np.linspace(-0.5, 0.5, 9, dtype=np.float32)[None, :] * np.float32(gradient_xy[0])
    ramp_y = np.linspace(-0.5, 0.5, 9, dtype=np.float32)[:, None] * np.float32(gradient_xy[1])
    ramp = np.clip(1.0 + ramp_x + ramp_y, 0.1, None)
    coarse = ramp[..., None] * gain_rgb.astype(np.float32)[None, None, :]
    factor = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(color.astype(np.float32), factor, dtype=cv2.CV_8U)


def dim(
    color: np.ndarray, level: float, noise_sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Brightness scaled by ``level`` plus Gaussian sensor noise of ``noise_sigma`` grey levels
    (a dark scene: the camera's gain amplifies its noise)."""
    if level >= 1.0 and noise_sigma <= 0.0:
        return color
    dimmed = color.astype(np.float32) * np.float32(level)
    if noise_sigma > 0.0:
        dimmed += rng.standard_normal(color.shape, np.float32) * np.float32(noise_sigma)
    return np.clip(dimmed + np.float32(0.5), 0, 255).astype(np.uint8)


def motion_blur(color: np.ndarray, length_px: float, angle_rad: float) -> np.ndarray:
    """Linear motion blur (camera shake): average along a ``length_px`` segment."""
    if length_px < 1.5:
        return color
    size = int(np.ceil(length_px)) | 1
    kernel = np.zeros((size, size), np.float32)
    centre = size // 2
    dx, dy = np.cos(angle_rad) * (length_px - 1) / 2, np.sin(angle_rad) * (length_px - 1) / 2
    start = (round(centre - dx), round(centre - dy))
    end = (round(centre + dx), round(centre + dy))
    cv2.line(kernel, start, end, 1.0, thickness=1, lineType=cv2.LINE_AA)
    kernel /= kernel.sum()
    return cv2.filter2D(color, -1, kernel, borderType=cv2.BORDER_REFLECT)
