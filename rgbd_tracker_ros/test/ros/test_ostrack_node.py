"""OSTrack and ViPT through the node: an exported full-size random-weight model answers every
frame with a finite box and its 16x16 score map (what the weights make of it is not tested)."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import Graph, wait_for

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, generate_sequence

FRAMES = 2
# A ViT-B forward on one busy CPU core takes seconds; the node must still answer every frame.
RESULT_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    config = SyntheticConfig(seed=6, num_frames=FRAMES + 1, width=320, height=240)
    return read_sequence(generate_sequence(config, tmp_path_factory.mktemp("seq") / "node"))


def _play(graph: Graph, sequence, index: int) -> TrackedTarget:
    header = graph.publish(sequence.color(index), sequence.depth_mm(index), sequence.intrinsics)
    assert wait_for(lambda: graph.targets_for(header), timeout=RESULT_TIMEOUT_S), index
    return graph.targets_for(header)[0]


@pytest.mark.parametrize(("name", "arch"), [("ostrack", "ostrack256"), ("vipt", "vipt_rgbd")])
def test_tracks_through_the_node(graph, ostrack_models, sequence, name, arch):
    _, _, exported = ostrack_models[arch]
    graph.activate(
        **{"tracker.name": name, "tracker.model_path": str(exported), "tracker.device": "cpu"}
    )
    _play(graph, sequence, 0)
    response = graph.init(sequence.groundtruth[0])
    assert response.success, response.message
    assert _play(graph, sequence, 0).state == TrackedTarget.TRACKING  # the init is applied here
    results = [_play(graph, sequence, i) for i in range(1, FRAMES + 1)]
    states = (TrackedTarget.TRACKING, TrackedTarget.UNCERTAIN, TrackedTarget.LOST)
    for target in results:
        assert target.target_id == response.target_id and target.state in states
        assert np.all(np.isfinite([target.x, target.y, target.width, target.height]))
        assert target.width >= 10 and target.height >= 10  # clipped with the 10 px margin
    assert wait_for(lambda: len(graph.record.scores) >= FRAMES)
    score_map = graph.record.scores[-1]
    assert (score_map.height, score_map.width, score_map.encoding) == (16, 16, "32FC1")
