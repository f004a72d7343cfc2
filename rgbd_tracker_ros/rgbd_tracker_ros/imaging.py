"""Image decoding and encoding from the raw fields of ``sensor_msgs/Image``, without ROS.

The ROS layer passes ``msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
msg.data`` here. NumPy does the conversion (no cv_bridge: its binary breaks under NumPy 2),
so the same tested path runs on every install.
"""

from __future__ import annotations

import array
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """An image message that cannot be turned into an array (the message says why)."""


@dataclass(frozen=True)
class _Layout:
    channels: int
    dtype: str  # little-endian NumPy dtype of one channel


_COLOR_LAYOUTS = {
    "rgb8": _Layout(3, "u1"),
    "bgr8": _Layout(3, "u1"),
    "rgba8": _Layout(4, "u1"),
    "bgra8": _Layout(4, "u1"),
    "mono8": _Layout(1, "u1"),
}
_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}
_DEPTH_LAYOUTS = {
    "16UC1": _Layout(1, "u2"),
    "mono16": _Layout(1, "u2"),
    "32FC1": _Layout(1, "f4"),
}


def _view(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool,
    data: object,
    layout: _Layout,
) -> np.ndarray:
    """A zero-copy (height, width, channels) view of ``data`` honouring ``step`` and byte order."""
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"{encoding} image has no pixels ({width}x{height})")
    dtype = np.dtype(("<" if not is_bigendian else ">") + layout.dtype)
    row_bytes = width * layout.channels * dtype.itemsize
    if step < row_bytes:
        raise ImageDecodeError(
            f"{encoding} image step {step} is smaller than a row of {width} pixels "
            f"({row_bytes} bytes)"
        )
    try:
        buffer = memoryview(data).cast("B")  # type: ignore[arg-type]
    except TypeError:
        buffer = memoryview(np.asarray(data, dtype=np.uint8).tobytes())
    needed = step * (height - 1) + row_bytes
    if buffer.nbytes < needed:
        raise ImageDecodeError(
            f"{encoding} image data is truncated: {buffer.nbytes} bytes for {width}x{height} "
            f"with step {step} (needs at least {needed})"
        )
    return np.ndarray(
        shape=(height, width, layout.channels),
        dtype=dtype,
        buffer=buffer,
        strides=(step, layout.channels * dtype.itemsize, dtype.itemsize),
    )


def _unsupported(encoding: str, supported: Sequence[str]) -> ImageDecodeError:
    return ImageDecodeError(
        f"unsupported image encoding {encoding!r}; supported: {', '.join(supported)}"
    )


def decode_color(
    encoding: str, height: int, width: int, step: int, is_bigendian: bool, data: object
) -> np.ndarray:
    """HxWx3 uint8 RGB from an 8-bit color or mono image message.

    rgb8 without row padding comes back as a view of ``data`` (no copy; read-only when
    ``data`` is ``bytes``); every other case is one conversion into a new array.
    """
    layout = _COLOR_LAYOUTS.get(encoding)
    if layout is None:
        raise _unsupported(encoding, tuple(_COLOR_LAYOUTS))
    view = _view(encoding, height, width, step, is_bigendian, data, layout)
    if encoding == "rgb8":
        return view if view.flags.c_contiguous else np.ascontiguousarray(view)
    pixels = view[:, :, 0] if layout.channels == 1 else view
    return cv2.cvtColor(pixels, _TO_RGB[encoding])


def decode_depth(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool,
    data: object,
    depth_scale: float = 0.001,
) -> np.ndarray:
    """HxW float32 depth in metres; every missing or unusable reading becomes 0.0.

    16UC1/mono16 hold integer units (RealSense: millimetres) that ``depth_scale`` turns into
    metres; 32FC1 already holds metres (REP 118) and is not scaled. NaN, infinities and
    negative values of 32FC1 are mapped to 0.0 so that "no reading" has a single spelling
    downstream (``Frame`` accepts 0 or NaN; this module always gives 0).
    """
    layout = _DEPTH_LAYOUTS.get(encoding)
    if layout is None:
        raise _unsupported(encoding, tuple(_DEPTH_LAYOUTS))
    if not (math.isfinite(depth_scale) and depth_scale > 0.0):
        raise ImageDecodeError(f"depth_scale must be finite and positive, got {depth_scale}")
    view = _view(encoding, height, width, step, is_bigendian, data, layout)[:, :, 0]
    if layout.dtype == "u2":
        return np.multiply(view, np.float32(depth_scale), dtype=np.float32)
    metres = view.astype(np.float32)
    with np.errstate(invalid="ignore"):
        metres[~(np.isfinite(metres) & (metres > 0.0))] = 0.0
    return metres


_PLANE_ENCODINGS = {"u1": "mono8", "u2": "16UC1", "f4": "32FC1"}


def encode_image(image: np.ndarray, encoding: str | None = None) -> tuple[str, int, array.array]:
    """``(encoding, step, data)`` of a ``sensor_msgs/Image`` for ``image`` (little-endian).

    HxWx3 uint8 is bgr8 unless ``encoding`` says rgb8 (the array is written as given, so
    pass the channel order it names); HxW uint8 is mono8, uint16 16UC1, float32 32FC1.
    ``data`` is an ``array.array('B')``: ROS's ``uint8[]`` setter takes it as is, whereas
    ``bytes`` would be checked element by element.
    """
    kind = image.dtype.str[1:]  # "u1", "u2", "f4" whatever the byte order
    if image.ndim == 3 and image.shape[2] == 3 and kind == "u1":
        allowed: tuple[str, ...] = ("bgr8", "rgb8")
    elif image.ndim == 2 and kind in _PLANE_ENCODINGS:
        allowed = (_PLANE_ENCODINGS[kind],)
    else:
        allowed = ()
    if not allowed:
        raise ValueError(
            f"cannot encode an array of shape {image.shape} and dtype {image.dtype}; expected "
            "HxWx3 uint8, HxW uint8, HxW uint16 or HxW float32"
        )
    chosen = encoding or allowed[0]
    if chosen not in allowed:
        raise ValueError(
            f"an array of shape {image.shape} and dtype {image.dtype} cannot be sent as "
            f"{chosen!r}; use {' or '.join(allowed)}"
        )
    little = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("<"))
    data = array.array("B")
    data.frombytes(memoryview(little).cast("B"))
    return chosen, int(little.strides[0]), data


_STATE_COLORS_BGR = {
    "IDLE": (160, 160, 160),
    "TRACKING": (0, 200, 0),
    "UNCERTAIN": (0, 200, 255),
    "LOST": (0, 0, 255),
}


def draw_overlay(
    color_rgb: np.ndarray,
    box: Sequence[float] | None,
    state_name: str,
    score: float,
    extra_lines: Sequence[str] = (),
) -> np.ndarray:
    """The debug view as a BGR uint8 image: the box coloured by state, state and score text.

    ``extra_lines`` (e.g. depth, rate) are written under the first line.
    """
    canvas = cv2.cvtColor(color_rgb, cv2.COLOR_RGB2BGR)
    colour = _STATE_COLORS_BGR.get(state_name, (255, 255, 255))
    thickness = max(1, round(min(canvas.shape[:2]) / 240))
    if box is not None and all(math.isfinite(float(c)) for c in box):
        x, y, w, h = (float(c) for c in box)
        cv2.rectangle(canvas, (round(x), round(y)), (round(x + w), round(y + h)), colour, thickness)
    scale = 0.5 * thickness
    line_height = int(22 * scale) + 4
    lines = [f"{state_name} {score:.2f}", *extra_lines]
    for i, text in enumerate(lines):
        origin = (6, line_height * (i + 1))
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness)
    return canvas
