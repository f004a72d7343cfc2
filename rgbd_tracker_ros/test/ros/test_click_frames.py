"""Clicked points in other frames: refused without tf2_ros, transformed with it.

tf2_ros has no wheel here, so the tf2 path runs against a stand-in module with tf2_ros's
documented API (Buffer.lookup_transform(target, source, time), TransformListener,
TransformException); the lookup arguments and the point arithmetic are what is checked.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from geometry_msgs.msg import PointStamped, TransformStamped

from rgbd_tracker_ros.ros import click_frames
from rgbd_tracker_ros.ros.click_frames import ClickFrameError, ClickFrames

OPTICAL = "camera_color_optical_frame"


class FakeTransformError(Exception):
    pass


class FakeBuffer:
    def __init__(self) -> None:
        self.transforms: dict[tuple[str, str], TransformStamped] = {}
        self.lookups: list[tuple[str, str, object]] = []

    def lookup_transform(self, target: str, source: str, time) -> TransformStamped:
        self.lookups.append((target, source, time))
        try:
            return self.transforms[(target, source)]
        except KeyError:
            raise FakeTransformError(
                f'"{source}" passed to lookupTransform does not exist'
            ) from None


class FakeListener:
    def __init__(self, buffer: FakeBuffer, node) -> None:
        self.unregistered = False

    def unregister(self) -> None:
        self.unregistered = True


@pytest.fixture
def fake_tf2(monkeypatch):
    module = SimpleNamespace(
        Buffer=FakeBuffer, TransformListener=FakeListener, TransformException=FakeTransformError
    )
    monkeypatch.setattr(click_frames, "tf2_ros", module)
    return module


def _click(frame: str, x: float, y: float, z: float) -> PointStamped:
    msg = PointStamped()
    msg.header.frame_id = frame
    msg.point.x, msg.point.y, msg.point.z = x, y, z
    return msg


def test_points_in_the_optical_frame_need_no_transform(monkeypatch):
    monkeypatch.setattr(click_frames, "tf2_ros", None)
    frames = ClickFrames(node=None)
    assert not frames.uses_tf
    assert frames.in_frame(_click(OPTICAL, 0.1, 0.2, 1.5), OPTICAL) == (0.1, 0.2, 1.5)
    assert frames.in_frame(_click("", 0.1, 0.2, 1.5), OPTICAL) == (0.1, 0.2, 1.5)


def test_other_frames_are_refused_with_a_fix_when_tf2_is_missing(monkeypatch):
    monkeypatch.setattr(click_frames, "tf2_ros", None)
    with pytest.raises(ClickFrameError, match=r"tf2_ros is not installed.*fixed frame"):
        ClickFrames(node=None).in_frame(_click("base_link", 1.0, 0.0, 0.0), OPTICAL)


def test_other_frames_are_transformed_with_the_latest_tf(fake_tf2):
    frames = ClickFrames(node=None)
    assert frames.uses_tf
    transform = TransformStamped()
    transform.header.frame_id, transform.child_frame_id = OPTICAL, "camera_link"
    transform.transform.translation.x = 0.015  # the color imager's offset
    rotation = transform.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = 0.5, -0.5, 0.5, 0.5
    frames._buffer.transforms[(OPTICAL, "camera_link")] = transform
    point = frames.in_frame(_click("camera_link", 2.0, 0.3, 0.1), OPTICAL)
    assert point == pytest.approx((-0.3 + 0.015, -0.1, 2.0))
    target, source, time = frames._buffer.lookups[-1]
    assert (target, source) == (OPTICAL, "camera_link")
    assert time.nanoseconds == 0  # latest available


def test_a_missing_transform_is_a_clear_error(fake_tf2):
    frames = ClickFrames(node=None)
    with pytest.raises(ClickFrameError, match=r"'map'.*no transform to .*does not exist"):
        frames.in_frame(_click("map", 1.0, 0.0, 0.0), OPTICAL)
    listener = frames._listener
    frames.close()
    assert listener.unregistered and not frames.uses_tf
