"""``siamrpn`` and ``siamrpn_lt`` (pysot SiamRPN++, ResNet-50)."""

from rgbd_tracker_ros.tracking.siamrpn.params import SiamRPNLTParams, SiamRPNParams
from rgbd_tracker_ros.tracking.spec import TrackerSpec

SPECS = (
    TrackerSpec(
        name="siamrpn",
        summary="SiamRPN++ (pysot, ResNet-50); `use_depth` (on by default, off = pysot exactly) "
        "refuses candidates at an implausible depth and scales the box with the distance",
        factory="rgbd_tracker_ros.tracking.siamrpn.tracker:build_siamrpn",
        params=SiamRPNParams,
        architectures=("siamrpn_r50_l234_dwxcorr",),
        checkpoints="pysot `siamrpn_r50_l234_dwxcorr/model.pth`",
        uses_depth=True,
    ),
    TrackerSpec(
        name="siamrpn_lt",
        summary="SiamRPN++ long-term: below `confidence_low` it searches an 831-px region until "
        "a candidate scores above `confidence_high`; same depth option",
        factory="rgbd_tracker_ros.tracking.siamrpn.tracker:build_siamrpn_lt",
        params=SiamRPNLTParams,
        architectures=("siamrpn_r50_l234_dwxcorr_lt", "siamrpn_r50_l234_dwxcorr"),
        checkpoints="pysot `siamrpn_r50_l234_dwxcorr_lt/model.pth`",
        uses_depth=True,
    ),
)
