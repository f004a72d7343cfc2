"""SiamRPN++ and SiamRPN++ LT tracking through the node, from exported random-weight files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from ros_harness import Graph, small_intrinsics, wait_for

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.tracking.networks.export import save_scripted
from rgbd_tracker_ros.tracking.networks.siamrpn.network import (
    ARCHITECTURE,
    ARCHITECTURE_LT,
    build_siamrpn_r50,
    build_siamrpn_r50_lt,
)
from rgbd_tracker_ros.tracking.registry import parameter_record, tracker_params

# Reduced search sizes (score maps 14x14, lost 18x18) keep a CPU frame short. The LT file is
# run with thresholds of 1, so every frame is LOST and the next one searches the lost size.
RUNS = {
    "siamrpn": (build_siamrpn_r50, ARCHITECTURE, {"instance_size": 167, "use_depth": False}),
    "siamrpn_lt": (
        build_siamrpn_r50_lt,
        ARCHITECTURE_LT,
        {
            "instance_size": 167,
            "lost_instance_size": 199,
            "confidence_low": 1.0,
            "confidence_high": 1.0,
        },
    ),
}


def _frame(index: int) -> tuple[np.ndarray, np.ndarray]:
    """A red square moving right on noise. Depth is flat: the random-weight box lands on the
    background, and a depth step there would let the outcome's depth rules (a pose jump
    judged against the time between frames) decide the state instead of the tracker."""
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    depth = np.full((120, 160), 1500, np.uint16)
    x = 50 + 3 * index
    color[40:80, x : x + 40] = (200, 40, 40)
    return color, depth


@pytest.mark.parametrize("name", sorted(RUNS))
def test_tracks_through_the_node(graph: Graph, tmp_path, name):
    build, architecture, overrides = RUNS[name]
    # Fixed weights: some random draws saturate a score to exactly 1.0, which thresholds of 1
    # do not call LOST (the LT run failed about one time in eight unseeded).
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = build({})
    model = save_scripted(
        net,
        tmp_path / f"{name}.ts",
        name,
        architecture,
        parameter_record(tracker_params(name)),
    )
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(overrides))
    graph.activate(
        **{
            "tracker.name": name,
            "tracker.model_path": str(model),
            "tracker.params_file": str(params_file),
        }
    )
    intrinsics = small_intrinsics()

    def play(index: int) -> TrackedTarget:
        header = graph.publish(*_frame(index), intrinsics)
        assert wait_for(lambda: graph.targets_for(header), timeout=60), f"no result for {index}"
        return graph.targets_for(header)[0]

    play(0)
    assert graph.init((50, 40, 40, 40)).success
    assert play(0).state == TrackedTarget.TRACKING  # the init frame
    results = [play(i) for i in (1, 2)]
    assert all(r.target_id == 1 for r in results)
    assert all(np.isfinite([r.x, r.y, r.width, r.height]).all() for r in results)
    # The score maps of frames 1 and 2 (they may arrive after the targets).
    assert wait_for(lambda: len(graph.record.scores) >= 2, timeout=20)
    sides = [(m.height, m.width) for m in graph.record.scores]
    if name == "siamrpn":
        assert all(r.state == TrackedTarget.TRACKING for r in results)
        assert sides == [(14, 14), (14, 14)], sides
    else:
        assert all(r.state == TrackedTarget.LOST for r in results)
        assert sides == [(14, 14), (18, 18)], sides
