"""``ostrack``, ``ostrack384`` (OSTrack, RGB) and ``vipt`` (ViPT, RGB-D)."""

from rgbd_tracker_ros.tracking.ostrack.params import OSTrackParams, ViPTParams
from rgbd_tracker_ros.tracking.spec import TrackerSpec

SPECS = (
    TrackerSpec(
        name="ostrack",
        summary="OSTrack-256 (botaoye/OSTrack): one-stream ViT-B with candidate elimination; "
        "optional `long_term` search when lost (off = the reference)",
        factory="rgbd_tracker_ros.tracking.ostrack.tracker:build_ostrack",
        params=OSTrackParams,
        architectures=("ostrack256",),
        checkpoints="`OSTrack_ep0300.pth.tar` of `vitb_256_mae_ce_32x4_ep300`",
    ),
    TrackerSpec(
        name="ostrack384",
        summary="OSTrack-384: the same at a 384-px search, the more accurate and slower one",
        factory="rgbd_tracker_ros.tracking.ostrack.tracker:build_ostrack384",
        params=OSTrackParams,
        architectures=("ostrack384",),
        checkpoints="`OSTrack_ep0300.pth.tar` of `vitb_384_mae_ce_32x4_ep300`",
    ),
    TrackerSpec(
        name="vipt",
        summary="ViPT (jiawen-zhu/ViPT): OSTrack-256 with depth prompts; DepthTrack F-score "
        "0.594 vs DeT's 0.532 (authors' figures); same `long_term` option",
        factory="rgbd_tracker_ros.tracking.ostrack.tracker:build_vipt",
        params=ViPTParams,
        architectures=("vipt_rgbd",),
        checkpoints="`ViPT_deep_rgbd.pth`",
        uses_depth=True,
        needs_depth=True,
    ),
)
