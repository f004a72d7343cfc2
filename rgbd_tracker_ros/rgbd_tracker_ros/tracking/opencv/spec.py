"""OpenCV's MIL, CSRT and KCF trackers, for side-by-side evaluation only."""

from rgbd_tracker_ros.tracking.opencv.tracker import OpenCVParams
from rgbd_tracker_ros.tracking.spec import TrackerSpec

SPECS = tuple(
    TrackerSpec(
        name=f"opencv_{kind.lower()}",
        summary=f"OpenCV's Tracker{kind}, a baseline for side-by-side comparison only"
        + ("" if kind == "MIL" else " (needs the OpenCV contrib build)"),
        factory=f"rgbd_tracker_ros.tracking.opencv.tracker:build_{kind.lower()}",
        params=OpenCVParams,
    )
    for kind in ("MIL", "CSRT", "KCF")
)
