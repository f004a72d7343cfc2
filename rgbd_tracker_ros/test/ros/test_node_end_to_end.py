"""End to end over real DDS with the default tracker on a synthetic RGB-D sequence."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import Graph, wait_for

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, generate_sequence


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    config = SyntheticConfig(
        seed=5, num_frames=90, width=320, height=240, scale_change=True, out_of_view=True
    )
    return read_sequence(generate_sequence(config, tmp_path_factory.mktemp("seq") / "e2e"))


def _play(graph: Graph, sequence, index: int) -> TrackedTarget:
    """Publish frame ``index`` and wait for its result (lock-step: no drops by design)."""
    header = graph.publish(sequence.color(index), sequence.depth_mm(index), sequence.intrinsics)
    assert wait_for(lambda: graph.targets_for(header), timeout=20), f"no result for frame {index}"
    return graph.targets_for(header)[0]


def test_tracks_in_3d_reports_loss_and_recovers_after_reinit(graph, sequence):
    gt, gt3d = sequence.groundtruth, sequence.groundtruth_3d
    visible = np.all(np.isfinite(gt), axis=1)
    assert not visible.all(), "the sequence must have the target out of view for a while"
    graph.activate(**{"tracker.name": "depth_dcf"})
    _play(graph, sequence, 0)
    assert graph.init(gt[0]).success
    results = [_play(graph, sequence, 0)]
    results += [_play(graph, sequence, i) for i in range(1, len(sequence))]

    # 3D: within a few centimetres of the ground truth on most frames with a position.
    errors = [
        np.linalg.norm(np.array([t.position.x, t.position.y, t.position.z]) - gt3d[i]) * 100
        for i, t in enumerate(results)
        if t.has_position and visible[i] and t.state == TrackedTarget.TRACKING
    ]
    first_gap = int(np.argmin(visible))
    assert len(errors) >= 0.6 * first_gap
    assert np.median(errors) < 5.0, np.median(errors)

    # Loss: LOST (never a stale TRACKING box) while the target is out of view.
    absent = [t.state for i, t in enumerate(results) if not visible[i]]
    assert np.mean([s != TrackedTarget.TRACKING for s in absent]) >= 0.9
    assert np.mean([s == TrackedTarget.LOST for s in absent]) >= 0.6

    # Re-init on a frame where the target is back: TRACKING again with the new id.
    back = [i for i in range(first_gap, len(sequence)) if visible[i]]
    assert back, "the target must come back into view"
    index = back[len(back) // 2]
    _play(graph, sequence, index)
    response = graph.init(gt[index])
    assert response.success
    again = _play(graph, sequence, index)
    assert again.target_id == response.target_id == 2
    assert again.state == TrackedTarget.TRACKING
