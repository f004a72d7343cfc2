"""``depth_dcf``, the weight-free default tracker."""

from rgbd_tracker_ros.tracking.depth_dcf.params import DepthDCFParams
from rgbd_tracker_ros.tracking.spec import TrackerSpec

SPECS = (
    TrackerSpec(
        name="depth_dcf",
        summary="the default: correlation filter over HOG-like, Lab and depth channels; "
        "depth-driven scale; occlusion/loss from the response and the depth; a memory of "
        "look-alikes and their depths; re-detection when lost, only at a depth the target can "
        "have reached; brightness normalised",
        factory="rgbd_tracker_ros.tracking.depth_dcf.tracker:build",
        params=DepthDCFParams,
        uses_depth=True,
    ),
)
