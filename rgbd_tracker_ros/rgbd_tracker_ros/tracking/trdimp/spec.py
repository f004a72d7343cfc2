"""``trdimp`` and ``trsiam`` (TransformerTrack), one network for both."""

from rgbd_tracker_ros.tracking.spec import TrackerSpec
from rgbd_tracker_ros.tracking.trdimp.params import TrDiMPParams

SPECS = (
    TrackerSpec(
        name="trdimp",
        summary="TrDiMP (TransformerTrack); `parameter_set: lasot` gives the `trdimp_lasot` set",
        factory="rgbd_tracker_ros.tracking.trdimp.tracker:build_trdimp",
        params=TrDiMPParams,
        architectures=("trdimp",),
        checkpoints="`trdimp_net.pth.tar`",
    ),
    TrackerSpec(
        name="trsiam",
        summary="TrSiam (TransformerTrack): the TrDiMP network without filter optimisation",
        factory="rgbd_tracker_ros.tracking.trdimp.tracker:build_trsiam",
        params=TrDiMPParams,
        architectures=("trdimp",),
        checkpoints="`trdimp_net.pth.tar`",
    ),
)
