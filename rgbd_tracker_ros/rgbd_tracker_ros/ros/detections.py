"""The outputs other perception packages speak: vision_msgs detections and the target's TF.

Detection consumers (isaac_ros, yolo_ros users, trackers of trackers) read
``vision_msgs/Detection2DArray`` and ``Detection3DArray``; one array goes out per processed
frame, holding the target while it is TRACKING or UNCERTAIN and nothing otherwise, so a
subscriber sees "no detection" rather than silence. ``id`` is the target id (as the
``~/init`` answer gives it), the hypothesis score the tracker's score; a single-object
tracker has no class, so ``class_id`` stays empty.

vision_msgs has no PyPI wheel: where it does not import, the node leaves these outputs off
and says so once.
"""

from __future__ import annotations

from geometry_msgs.msg import Pose, TransformStamped
from std_msgs.msg import Header

from rgbd_tracker_ros.outcome import Outcome
from rgbd_tracker_ros.tracking.api import TrackerState

try:
    from vision_msgs.msg import (
        Detection2D,
        Detection2DArray,
        Detection3D,
        Detection3DArray,
        ObjectHypothesisWithPose,
    )
except ImportError:  # the wheel-based install without the ROS source overlay
    Detection2DArray = Detection3DArray = None

MISSING_VISION_MSGS = (
    "vision_msgs is not installed: ~/detections_2d and ~/detections_3d are off "
    "(sudo apt install ros-$ROS_DISTRO-vision-msgs)"
)


def vision_msgs_available() -> bool:
    return Detection2DArray is not None


def detected(outcome: Outcome) -> bool:
    """Whether this frame's outcome is a detection of the target."""
    visible = outcome.state in (TrackerState.TRACKING, TrackerState.UNCERTAIN)
    return visible and outcome.box_xywh is not None


def box_extent_3d(metric_size: tuple[float, float] | None) -> tuple[float, float, float]:
    """Width, height and depth (m) of the target's 3D box. A camera sees no thickness: the
    depth extent is taken as the smaller side; every side at least 1 cm (0.1 m unknown)."""
    width, height = metric_size or (0.1, 0.1)
    return max(width, 0.01), max(height, 0.01), max(min(width, height), 0.01)


def _hypothesis(outcome: Outcome) -> ObjectHypothesisWithPose:
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.score = float(outcome.score)
    return hypothesis


def detection_2d_array(header: Header, outcome: Outcome, target_id: int) -> Detection2DArray:
    """The box in color-image pixels (centre and size)."""
    array = Detection2DArray(header=header)
    if detected(outcome):
        x, y, w, h = (float(c) for c in outcome.box_xywh)
        detection = Detection2D(header=header, id=str(target_id), results=[_hypothesis(outcome)])
        detection.bbox.center.position.x, detection.bbox.center.position.y = x + w / 2, y + h / 2
        detection.bbox.size_x, detection.bbox.size_y = w, h
        array.detections.append(detection)
    return array


def detection_3d_array(
    header: Header, outcome: Outcome, target_id: int, pose: Pose | None
) -> Detection3DArray:
    """The 3D box at ``pose`` (the target's pose in ``header.frame_id``; None: no 3D
    position this frame), sized from the metric extent. The box's axes are the optical
    frame's (x right, y down, z forward), carried into ``header.frame_id`` by ``pose``."""
    array = Detection3DArray(header=header)
    if detected(outcome) and pose is not None:
        detection = Detection3D(header=header, id=str(target_id), results=[_hypothesis(outcome)])
        detection.results[0].pose.pose = pose
        detection.bbox.center = pose
        size = detection.bbox.size
        size.x, size.y, size.z = box_extent_3d(outcome.metric_size)
        array.detections.append(detection)
    return array


def target_transform(
    header: Header, position: tuple[float, float, float], child_frame: str
) -> TransformStamped:
    """The target as a TF frame: ``child_frame`` at ``position`` in the optical frame of
    ``header``, axes parallel to it."""
    transform = TransformStamped(header=header, child_frame_id=child_frame)
    t = transform.transform.translation
    t.x, t.y, t.z = (float(c) for c in position)
    transform.transform.rotation.w = 1.0
    return transform
