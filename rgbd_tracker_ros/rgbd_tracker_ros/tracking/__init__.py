"""Trackers behind one API (``api``) and a name → factory registry (``registry``)."""

from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, Tracker, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.registry import available_trackers, create_tracker

__all__ = [
    "Frame",
    "ScoreMap",
    "TrackResult",
    "Tracker",
    "TrackerState",
    "available_trackers",
    "create_tracker",
]
