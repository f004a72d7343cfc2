"""ROS messages <-> the ROS-free types (NumPy images, Intrinsics, seconds).

The decoding itself lives in ``imaging`` and ``geometry``; this module only unpacks the
message fields, so the tested NumPy path is the same with or without cv_bridge.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_tracker_ros.geometry import Intrinsics, intrinsics_from_camera_info
from rgbd_tracker_ros.imaging import decode_color, decode_depth, encode_image


def stamp_to_sec(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_to_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def color_from_msg(msg: Image) -> np.ndarray:
    """HxWx3 uint8 RGB; raises ``ImageDecodeError`` for what it cannot read."""
    return decode_color(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def depth_from_msg(msg: Image, depth_scale: float) -> np.ndarray:
    """HxW float32 metres; ``depth_scale`` converts 16UC1 units (RealSense: mm -> 0.001)."""
    return decode_depth(
        msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, depth_scale
    )


def image_msg(array: np.ndarray, header: Header, encoding: str | None = None) -> Image:
    """Image message from an HxWx3 uint8 (bgr8 unless ``encoding`` says rgb8) or HxW float32."""
    enc, step, data = encode_image(array, encoding)
    msg = Image(header=header, height=array.shape[0], width=array.shape[1], encoding=enc)
    msg.is_bigendian = 0
    msg.step = step
    msg.data = data
    return msg


def intrinsics_from_msg(msg: CameraInfo) -> Intrinsics:
    """Raises ``ValueError`` for a missing, all-zero, malformed or implausible camera_info."""
    return intrinsics_from_camera_info(
        list(msg.k),
        list(msg.d),
        msg.distortion_model,
        msg.width,
        msg.height,
        r=list(msg.r),
        p=list(msg.p),
    )


def camera_info_msg(intrinsics: Intrinsics, header: Header) -> CameraInfo:
    i = intrinsics
    msg = CameraInfo(header=header, width=i.width, height=i.height)
    msg.distortion_model = i.distortion_model
    msg.d = [float(c) for c in i.distortion] or [0.0] * 5
    msg.k = [i.fx, 0.0, i.cx, 0.0, i.fy, i.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [i.fx, 0.0, i.cx, 0.0, 0.0, i.fy, i.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def frame_messages(
    color: np.ndarray,
    depth: np.ndarray | None,
    intrinsics: Intrinsics,
    header: Header,
    color_encoding: str = "rgb8",
) -> tuple[Image, Image | None, CameraInfo]:
    """One camera frame as a driver publishes it: color, depth (uint16 millimetres as 16UC1,
    float32 metres as 32FC1; None: no depth message) and camera_info."""
    depth_msg = image_msg(depth, header) if depth is not None else None
    return image_msg(color, header, color_encoding), depth_msg, camera_info_msg(intrinsics, header)
