"""Textures for the synthetic scenes: real photographs where available, procedural otherwise.

Photographs come from the sample images that ship inside the scikit-image wheel (read
straight from its ``data/`` folder, so nothing is ever downloaded and scikit-image itself
is not imported). Without scikit-image every texture is procedural, so the generator works
everywhere; the sequences then differ from those made with photographs.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np

LOG = logging.getLogger(__name__)

# Colourful, structured photos: good tracking targets (each is a distinct object).
TARGET_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
# Surfaces: repetitive or grey material images, tinted when used.
WALL_PHOTOS = ("brick.png", "gravel.png")
SURFACE_PHOTOS = ("brick.png", "gravel.png", "grass.png")
# Posters and printed boxes: occluders and the side box.
POSTER_PHOTOS = (
    "camera.png",
    "text.png",
    "coins.png",
    "moon.png",
    "hubble_deep_field.jpg",
)


def _skimage_data_dir() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


@functools.lru_cache(maxsize=32)
def load_photo(name: str) -> np.ndarray | None:
    """A scikit-image sample photo as HxWx3 uint8 RGB, or None when not installed."""
    folder = _skimage_data_dir()
    if folder is None or not (folder / name).is_file():
        LOG.debug("photo %s unavailable, using procedural textures", name)
        return None
    image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
    if image is None:
        return None
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image.setflags(write=False)
    return image


def procedural_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A distinctive colourful texture: smooth colour noise, stripes and random shapes."""
    image = np.zeros((height, width, 3), np.float32)
    for cells in (3, 7, 17):  # octaves of smooth colour noise
        coarse = rng.uniform(0, 255, (cells, max(2, cells * width // height), 3))
        image += (
            cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
            / 3
        )
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(0.08, 0.2) * min(height, width)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    image *= (0.75 + 0.25 * stripes)[..., None]
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(4, 9))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.uniform(0.05, 0.18) * min(height, width))
        if rng.random() < 0.5:
            cv2.circle(canvas, centre, radius, color, thickness=-1, lineType=cv2.LINE_AA)
        else:
            corner = (centre[0] + radius, centre[1] + radius // 2)
            cv2.rectangle(canvas, centre, corner, color, thickness=-1)
    return canvas


def random_crop(
    rng: np.random.Generator, image: np.ndarray, aspect: float, min_fraction: float = 0.5
) -> np.ndarray:
    """A random crop of width/height ``aspect`` covering at least ``min_fraction`` of a side."""
    height, width = image.shape[:2]
    crop_h = rng.uniform(min_fraction, 1.0) * height
    crop_w = crop_h * aspect
    if crop_w > width:
        crop_w = width
        crop_h = width / aspect
    y0 = int(rng.uniform(0, height - crop_h + 1))
    x0 = int(rng.uniform(0, width - crop_w + 1))
    return np.ascontiguousarray(image[y0 : y0 + int(crop_h), x0 : x0 + int(crop_w)])


def tint(image: np.ndarray, rgb_gain: np.ndarray) -> np.ndarray:
    """Multiply channels by ``rgb_gain`` (makes grey material photos coloured)."""
    return np.clip(image.astype(np.float32) * rgb_gain, 0, 255).astype(np.uint8)


def hue_shift(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate hue, keeping structure: a look-alike for distractors."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(degrees / 2)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def tile(image: np.ndarray, reps_y: int, reps_x: int) -> np.ndarray:
    """Mirror-tile a texture (mirroring hides seams) to cover a large surface."""
    row = [image if i % 2 == 0 else image[:, ::-1] for i in range(reps_x)]
    strip = np.concatenate(row, axis=1)
    rows = [strip if j % 2 == 0 else strip[::-1] for j in range(reps_y)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def pick_photo(
    rng: np.random.Generator, names: tuple[str, ...], use_photos: bool, size: tuple[int, int]
) -> np.ndarray:
    """A random photo from ``names`` or, without photos, a procedural texture of ``size``."""
    choice = names[int(rng.integers(len(names)))]
    photo = load_photo(choice) if use_photos else None
    if photo is None:
        return procedural_texture(rng, *size)
    return photo
