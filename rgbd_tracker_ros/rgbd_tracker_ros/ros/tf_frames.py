"""tf2 for the node: clicked points into the optical frame, outputs into ``output_frame``, and
the target's own TF frame.

RViz's Publish Point tool stamps the point in RViz's fixed frame (``map``, ``base_link``,
...); a robot wants the target's pose in a fixed frame too. Where tf2_ros is installed the
node looks the transforms up in one ``Buffer``; where it is not (tf2_ros has no PyPI wheel),
only points already in the optical frame are accepted, the refusal says how to get there,
and neither ``output_frame`` nor the target's TF frame can be had.
"""

from __future__ import annotations

from geometry_msgs.msg import PointStamped, TransformStamped
from rclpy.node import Node
from rclpy.time import Time

from rgbd_tracker_ros.geometry import transform_point
from rgbd_tracker_ros.ros.conversions import stamp_to_ns

try:
    import tf2_ros
except ImportError:  # the wheel-based install: no tf2
    tf2_ros = None

Transform = tuple[tuple[float, float, float], tuple[float, float, float, float]]


class FrameError(ValueError):
    """A point or pose cannot be expressed in the frame asked for; the message says why."""


def tf2_available() -> bool:
    return tf2_ros is not None


class TfFrames:
    """The tf2 buffer, listener and broadcaster (when available) while the node is active."""

    def __init__(self, node: Node, broadcast: bool = False) -> None:
        self._node = node
        self._buffer = self._listener = self._broadcaster = None
        self._newest_sent_ns: int | None = None
        if tf2_ros is not None:
            self._buffer = tf2_ros.Buffer()
            self._listener = tf2_ros.TransformListener(self._buffer, node)
            if broadcast:
                self._broadcaster = tf2_ros.TransformBroadcaster(node)

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
            raise FrameError(
                f"clicked point is in {source!r} and tf2_ros is not installed to transform it; "
                f"set RViz's fixed frame to {frame!r} to start tracking from a click"
            )
        translation, rotation = self.transform(frame, source, Time())
        return transform_point(point, translation, rotation)

    def transform(self, target: str, source: str, when: Time) -> Transform:
        """Translation and rotation (x, y, z, w) taking ``source`` points into ``target`` at
        ``when`` (``Time()``: the latest); never waits."""
        if self._buffer is None:
            raise FrameError(f"tf2_ros is not installed to transform {source!r} to {target!r}")
        try:
            stamped = self._buffer.lookup_transform(target, source, when)
        except tf2_ros.TransformException as exc:
            raise FrameError(f"{source!r} has no transform to {target!r}: {exc}") from exc
        t, q = stamped.transform.translation, stamped.transform.rotation
        return (t.x, t.y, t.z), (q.x, q.y, q.z, q.w)

    def broadcast(self, transform: TransformStamped) -> bool:
        """Send ``transform`` on /tf; False when there is no broadcaster, or when its stamp is
        not newer than the last one sent: tf2 listeners drop such data with a warning each
        (TF_OLD_DATA, TF_REPEATED_DATA), so input stamps that jump back would flood every log
        on the robot, this node's included."""
        if self._broadcaster is None:
            return False
        stamp_ns = stamp_to_ns(transform.header.stamp)
        if self._newest_sent_ns is not None and stamp_ns <= self._newest_sent_ns:
            return False
        self._newest_sent_ns = stamp_ns
        self._broadcaster.sendTransform(transform)
        return True

    def close(self) -> None:
        if self._listener is not None:
            self._listener.unregister()
        if self._broadcaster is not None:
            self._node.destroy_publisher(self._broadcaster.pub_tf)
        self._buffer = self._listener = self._broadcaster = None
