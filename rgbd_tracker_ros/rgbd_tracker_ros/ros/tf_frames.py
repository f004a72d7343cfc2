"""Clicked points into the camera's optical frame.

RViz's Publish Point tool stamps the point in RViz's fixed frame (``map``, ``base_link``,
...). Where tf2_ros is installed the node looks up that frame's transform to the color
optical frame; where it is not (tf2_ros has no PyPI wheel), only points already in the
optical frame are accepted, and the refusal says how to get there.
"""

from __future__ import annotations

from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rclpy.time import Time

from rgbd_tracker_ros.geometry import transform_point

try:
    import tf2_ros
except ImportError:  # the wheel-based install: no tf2
    tf2_ros = None


class ClickFrameError(ValueError):
    """The point cannot be expressed in the optical frame; the message says why."""


class ClickFrames:
    """Holds the tf2 buffer (when available) for the lifetime of the node's inputs."""

    def __init__(self, node: Node) -> None:
        self._buffer = None
        self._listener = None
        if tf2_ros is not None:
            self._buffer = tf2_ros.Buffer()
            self._listener = tf2_ros.TransformListener(self._buffer, node)

    @property
    def uses_tf(self) -> bool:
        return self._buffer is not None

    def in_frame(self, msg: PointStamped, frame: str) -> tuple[float, float, float]:
        """The clicked point in ``frame``, transformed with the latest transform if needed."""
        point = (msg.point.x, msg.point.y, msg.point.z)
        source = msg.header.frame_id
        if source in ("", frame):
            return point
        if self._buffer is None:
            raise ClickFrameError(
                f"clicked point is in {source!r} and tf2_ros is not installed to transform it; "
                f"set RViz's fixed frame to {frame!r} to start tracking from a click"
            )
        try:
            stamped = self._buffer.lookup_transform(frame, source, Time())
        except tf2_ros.TransformException as exc:
            raise ClickFrameError(
                f"clicked point is in {source!r}, with no transform to {frame!r}: {exc}"
            ) from exc
        t, q = stamped.transform.translation, stamped.transform.rotation
        return transform_point(point, (t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def close(self) -> None:
        if self._listener is not None:
            self._listener.unregister()
        self._buffer = self._listener = None
