"""Image message fields <-> NumPy: every supported encoding, padding, byte order, bad input."""

from __future__ import annotations

import array

import numpy as np
import pytest

from rgbd_tracker_ros.imaging import (
    ImageDecodeError,
    decode_color,
    decode_depth,
    draw_overlay,
    encode_image,
)

H, W = 5, 7


def _rgb(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _padded(pixels: np.ndarray, pad: int) -> tuple[int, bytes]:
    """(step, data) of ``pixels`` (H x row bytes) with ``pad`` junk bytes after each row."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    return rows.shape[1] + pad, np.hstack([rows, junk]).tobytes()


def test_rgb8_is_decoded_without_a_copy():
    rgb = _rgb(np.random.default_rng(0))
    data = array.array("B", rgb.tobytes())  # what rclpy hands over for uint8[]
    out = decode_color("rgb8", H, W, W * 3, 0, data)
    np.testing.assert_array_equal(out, rgb)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    assert np.shares_memory(out, np.frombuffer(data, dtype=np.uint8))


@pytest.mark.parametrize(
    ("encoding", "to_wire"),
    [
        ("bgr8", lambda rgb: rgb[:, :, ::-1]),
        ("rgba8", lambda rgb: np.dstack([rgb, np.full((H, W), 9, np.uint8)])),
        ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full((H, W), 9, np.uint8)])),
    ],
)
def test_color_encodings_come_back_as_rgb(encoding, to_wire):
    rgb = _rgb(np.random.default_rng(1))
    wire = np.ascontiguousarray(to_wire(rgb))
    out = decode_color(encoding, H, W, W * wire.shape[2], False, wire.tobytes())
    np.testing.assert_array_equal(out, rgb)


def test_mono8_is_replicated_to_three_channels():
    grey = np.random.default_rng(2).integers(0, 256, (H, W), dtype=np.uint8)
    out = decode_color("mono8", H, W, W, 0, grey.tobytes())
    assert out.shape == (H, W, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], grey)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "rgba8"])
def test_row_padding_in_step_is_skipped(encoding):
    rng = np.random.default_rng(3)
    rgb = _rgb(rng)
    wire = {
        "rgb8": rgb,
        "bgr8": rgb[:, :, ::-1],
        "mono8": rgb[:, :, 0],
        "rgba8": np.dstack([rgb, np.zeros((H, W), np.uint8)]),
    }[encoding]
    step, data = _padded(np.ascontiguousarray(wire), pad=5)
    out = decode_color(encoding, H, W, step, 0, data)
    expected = np.repeat(rgb[:, :, :1], 3, axis=2) if encoding == "mono8" else rgb
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
@pytest.mark.parametrize("big_endian", [False, True])
def test_16bit_depth_is_scaled_to_metres(encoding, big_endian):
    mm = np.random.default_rng(4).integers(0, 10000, (H, W)).astype(np.uint16)
    mm[0, 0] = 0
    wire = mm.astype(">u2" if big_endian else "<u2")
    out = decode_depth(encoding, H, W, W * 2, int(big_endian), wire.tobytes())
    assert out.dtype == np.float32 and out.shape == (H, W)
    np.testing.assert_allclose(out, mm.astype(np.float64) / 1000.0, rtol=1e-6)
    assert out[0, 0] == 0.0
    scaled = decode_depth(encoding, H, W, W * 2, int(big_endian), wire.tobytes(), 0.0001)
    np.testing.assert_allclose(scaled, mm.astype(np.float64) / 10000.0, rtol=1e-6)


@pytest.mark.parametrize("big_endian", [False, True])
def test_32fc1_depth_keeps_metres_and_zeroes_invalid(big_endian):
    metres = np.random.default_rng(5).uniform(0.2, 5.0, (H, W)).astype(np.float32)
    metres[0, :4] = [np.nan, np.inf, -np.inf, -1.0]
    wire = metres.astype(">f4" if big_endian else "<f4")
    out = decode_depth("32FC1", H, W, W * 4, big_endian, wire.tobytes(), depth_scale=0.001)
    np.testing.assert_array_equal(out[0, :4], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(out[1:], metres[1:])  # not scaled: 32FC1 is metres
    assert np.isfinite(out).all()


def test_padded_depth_rows():
    mm = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 7
    step, data = _padded(mm, pad=6)
    np.testing.assert_allclose(decode_depth("16UC1", H, W, step, 0, data), mm / 1000.0, rtol=1e-6)


def test_odd_step_on_16bit_depth_is_read_unaligned():
    mm = np.arange(H * W, dtype=np.uint16).reshape(H, W)
    step, data = _padded(mm, pad=1)
    np.testing.assert_allclose(decode_depth("16UC1", H, W, step, 0, data), mm / 1000.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rgb8", H, W, W * 3, 0, b""), "truncated"),
        (("rgb8", H, W, W * 3, 0, bytes(W * 3 * H - 1)), "truncated"),
        (("rgb8", H, W, W * 3 + 4, 0, bytes(W * 3 * H)), "truncated"),
        (("rgb8", H, W, W * 3 - 1, 0, bytes(W * 3 * H)), "step"),
        (("rgb8", 0, 0, 0, 0, b""), "no pixels"),
        (("yuv422", H, W, W * 2, 0, bytes(W * 2 * H)), "unsupported image encoding 'yuv422'"),
        (("16UC1", H, W, W * 2, 0, bytes(W * 2 * H)), "unsupported"),
    ],
)
def test_bad_color_messages_raise_clear_errors(args, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_color(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("16UC1", H, W, W * 2, 0, bytes(W * 2 * H - 2)), "truncated"),
        (("32FC1", H, W, W * 2, 0, bytes(W * 4 * H)), "step"),
        (("rgb8", H, W, W * 3, 0, bytes(W * 3 * H)), "unsupported"),
        (("16UC1", H, W, W * 2, 0, bytes(W * 2 * H), 0.0), "depth_scale"),
    ],
)
def test_bad_depth_messages_raise_clear_errors(args, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_depth(*args)
    assert issubclass(ImageDecodeError, ValueError)


@pytest.mark.parametrize(
    ("image", "encoding", "decode"),
    [
        (np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3), "rgb8", decode_color),
        (np.linspace(0.1, 4.0, H * W, dtype=np.float32).reshape(H, W), None, decode_depth),
        (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 100, None, decode_depth),
    ],
)
def test_encode_then_decode_round_trips(image, encoding, decode):
    name, step, data = encode_image(image, encoding)
    assert isinstance(data, array.array) and data.typecode == "B"
    assert step == image.strides[0] and len(data) == step * H
    out = decode(name, H, W, step, 0, data)
    expected = image / 1000.0 if image.dtype == np.uint16 else image
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_encode_picks_the_encoding_from_the_array():
    assert encode_image(np.zeros((2, 3, 3), np.uint8))[0] == "bgr8"
    assert encode_image(np.zeros((2, 3), np.uint8))[0] == "mono8"
    assert encode_image(np.zeros((2, 3), np.float32))[:2] == ("32FC1", 12)
    big = np.arange(6, dtype=">f4").reshape(2, 3)  # written little-endian whatever it was
    assert np.frombuffer(encode_image(big)[2], "<f4").tolist() == [0, 1, 2, 3, 4, 5]
    view = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]  # non-contiguous
    name, step, data = encode_image(view)
    assert (name, step) == ("32FC1", 12)
    np.testing.assert_array_equal(np.frombuffer(data, np.float32).reshape(4, 3), view)
    with pytest.raises(ValueError, match="cannot encode"):
        encode_image(np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError, match="cannot be sent as 'rgb8'"):
        encode_image(np.zeros((2, 3), np.float32), "rgb8")


def test_draw_overlay_draws_box_in_state_colour_and_keeps_input():
    rgb = np.zeros((120, 160, 3), np.uint8)
    out = draw_overlay(rgb, (40.0, 50.0, 60.0, 40.0), "TRACKING", 0.87, ["z 1.50 m"])
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert tuple(out[70, 40]) == (0, 200, 0)  # left edge of the box, BGR green
    assert tuple(out[100, 100]) == (0, 0, 0)  # inside the box untouched
    assert out[:40, :80].any()  # text written
    assert not rgb.any()
    lost = draw_overlay(rgb, (40.0, 50.0, 60.0, 40.0), "LOST", 0.1)
    assert tuple(lost[70, 40]) == (0, 0, 255)
    idle = draw_overlay(rgb, None, "IDLE", 0.0)
    assert not idle[60:, :].any()  # no box drawn
