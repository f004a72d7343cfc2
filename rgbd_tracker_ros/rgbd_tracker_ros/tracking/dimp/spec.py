"""``dimp`` (DiMP-50, RGB) and ``det`` (DeT-DiMP50, RGB-D)."""

from rgbd_tracker_ros.tracking.dimp.params import DeTParams, DiMPParams
from rgbd_tracker_ros.tracking.spec import TrackerSpec

SPECS = (
    TrackerSpec(
        name="dimp",
        summary="DiMP-50 (visionml/pytracking), reference `dimp50` parameters",
        factory="rgbd_tracker_ros.tracking.dimp.tracker:build_dimp",
        params=DiMPParams,
        architectures=("dimp50",),
        checkpoints="`dimp50.pth`",
    ),
    TrackerSpec(
        name="det",
        summary="DeT (DepthTrack): DiMP-50 with a depth backbone, merge read from the checkpoint",
        factory="rgbd_tracker_ros.tracking.dimp.tracker:build_det",
        params=DeTParams,
        architectures=("det_dimp50",),
        checkpoints="`DeT_DiMP50_Max.pth`, `_Mean`, `_MC`, …",
        uses_depth=True,
        needs_depth=True,
    ),
)
