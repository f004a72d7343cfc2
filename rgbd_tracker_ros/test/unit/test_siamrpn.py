"""SiamRPN++ (pysot): checkpoint layouts, export, and the trackers' test-time logic.

The network tests run pysot's ResNet-50 on random weights at reduced search sizes; the tracker
logic tests use ``SpotNet``, a tiny network with the SiamRPN++ interface whose score says how
close each search cell's colour is to the template's centre colour, so the expected behaviour
(which candidate wins, what depth refuses) is known. Facts: STVIR/pysot.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checkpoint_files import write_pysot_checkpoint
from torch import Tensor, nn

from rgbd_tracker_ros.tracking.api import Frame, TrackerState
from rgbd_tracker_ros.tracking.model import export_checkpoint
from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.export import ExportError, load_exported_model
from rgbd_tracker_ros.tracking.networks.siamrpn.network import (
    ARCHITECTURE,
    ARCHITECTURE_LT,
    build_siamrpn_r50,
    build_siamrpn_r50_lt,
)
from rgbd_tracker_ros.tracking.registry import tracker_params
from rgbd_tracker_ros.tracking.siamrpn.params import SiamRPNParams
from rgbd_tracker_ros.tracking.siamrpn.tracker import (
    SiamRPNLTTracker,
    SiamRPNTracker,
    anchor_shapes,
    crop_patch,
)

CPU = torch.device("cpu")
# Search sizes that keep pysot's geometry (template maps 15 -> 7x7, search maps >= 20 wide)
# at a fraction of the 255/831 cost: score maps 14x14 and 18x18.
SMALL_SIZES = {"instance_size": 167, "lost_instance_size": 199}


def _params(name: str, **overrides) -> SiamRPNParams:
    return tracker_params(name, {"device": "cpu", **overrides})


@pytest.fixture(scope="module")
def networks():
    torch.manual_seed(0)
    return {ARCHITECTURE: build_siamrpn_r50({}), ARCHITECTURE_LT: build_siamrpn_r50_lt({})}


# --------------------------------------------------------------------------------------------
# Checkpoint layouts


@pytest.mark.parametrize(
    ("architecture", "layout", "data_parallel", "batch_counters"),
    [
        (ARCHITECTURE, "bare", False, True),  # the model zoo's model.pth
        (ARCHITECTURE_LT, "snapshot", True, True),  # a multi-GPU training snapshot
        (ARCHITECTURE_LT, "bare", False, False),  # saved before BatchNorm counted batches
    ],
)
def test_pysot_files_load_strict(
    networks, tmp_path, architecture, layout, data_parallel, batch_counters
):
    net = networks[architecture]
    path = write_pysot_checkpoint(tmp_path / "model.pth", net, layout, data_parallel)
    if not batch_counters:
        state = torch.load(path)
        torch.save({k: v for k, v in state.items() if "num_batches_tracked" not in k}, path)
    loaded = ckpt.load_network(path)
    assert loaded.architecture.name == architecture
    expected = net.state_dict()
    assert len(expected) == 458  # pysot's ModelBuilder for both configurations
    for key, value in loaded.network.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


def test_wrong_shape_file_is_refused_naming_file_and_entry(networks, tmp_path):
    state = dict(networks[ARCHITECTURE].state_dict())
    state["rpn_head.rpn3.loc.head.3.weight"] = torch.zeros(12, 256, 1, 1)
    path = tmp_path / "resized.pth"
    torch.save(state, path)
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_network(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "rpn_head.rpn3.loc.head.3.weight [12, 256, 1, 1]" in message


# --------------------------------------------------------------------------------------------
# Export and tracking on the real network


def _scene_frames(count: int) -> tuple[list[Frame], tuple[float, float, float, float]]:
    """A textured square drifting over a noisy background, depth 1.5 m on 3 m."""
    rng = np.random.default_rng(3)
    background = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    texture = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        color = background.copy()
        depth = np.full((120, 160), 3.0, np.float32)
        x, y = 60 + 2 * i, 40 + i
        color[y : y + 30, x : x + 30] = texture
        depth[y : y + 30, x : x + 30] = 1.5
        frames.append(Frame(color, depth))
    return frames, (60.0, 40.0, 30.0, 30.0)


def _run(tracker, frames, box):
    tracker.initialize(frames[0], box)
    return [tracker.track(frame) for frame in frames[1:]]


def test_export_runs_like_the_eager_network_over_frames(networks, tmp_path):
    net = networks[ARCHITECTURE_LT]
    checkpoint = write_pysot_checkpoint(tmp_path / "model.pth", net)
    exported = export_checkpoint(checkpoint, tmp_path / "siamrpn_lt.ts")
    model = load_exported_model(exported)
    assert (model.tracker, model.architecture) == ("siamrpn_lt", ARCHITECTURE_LT)
    assert model.params["lost_instance_size"] == 831  # the tracker's parameters are embedded

    frames, box = _scene_frames(4)
    params = _params("siamrpn_lt", **SMALL_SIZES)
    eager = _run(SiamRPNLTTracker(net, params, CPU), frames, box)
    scripted = _run(SiamRPNLTTracker(model.module, params, CPU), frames, box)
    for a, b in zip(eager, scripted, strict=True):
        assert a.state == b.state
        np.testing.assert_allclose(b.box_xywh, a.box_xywh, rtol=1e-5, atol=1e-4)
        assert b.score == pytest.approx(a.score, rel=1e-4, abs=1e-6)
        np.testing.assert_allclose(b.score_map.scores, a.score_map.scores, atol=1e-5)
    # Random weights are far from confident: the lost state's wider search ran too.
    sizes = {r.score_map.scores.shape for r in eager}
    assert sizes >= {(18, 18)}, sizes
    # No .pt2 form: the search sizes vary, which a compiled package would not cover.
    with pytest.raises(ExportError, match=r"have no \.pt2 form .*export a \.ts file"):
        export_checkpoint(checkpoint, tmp_path / "siamrpn_lt.pt2")
    assert not (tmp_path / "siamrpn_lt.pt2").exists()


# --------------------------------------------------------------------------------------------
# Tracker logic (SpotNet)


class SpotNet(nn.Module):
    """SiamRPN++ interface; each cell scores how close the mean colour of a target-sized
    window around it is to the template centre's colour (the tests' targets are 40-pixel
    squares: 63 pixels in the crops), so the score peaks at a target's centre.

    Cell (i, j) of an S x S map sits (i - S // 2) * 8 pixels from the search crop's centre, as
    pysot's anchors assume; ``loc`` is zero, so every candidate box is its anchor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.architecture = "spot"
        self.anchor_stride = 8

    def template(self, z: Tensor) -> list[Tensor]:
        centre = z.shape[-1] // 2
        return [z[:, :, centre - 2 : centre + 3, centre - 2 : centre + 3].mean(dim=(2, 3))]

    def track(self, template: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
        size = x.shape[-1]
        cells = (size - 127) // 8 + 9
        centres = (size - 1) // 2 + (torch.arange(cells) - cells // 2) * 8
        pool = nn.functional.avg_pool2d  # a separable 63x63 box mean (fast)
        rows = pool(x, (63, 1), stride=1, padding=(31, 0), count_include_pad=False)
        means = pool(rows, (1, 63), stride=1, padding=(0, 31), count_include_pad=False)
        colours = means[0][:, centres][:, :, centres]  # (3, S, S)
        distance = (colours - template[0].view(3, 1, 1)).norm(dim=0)
        logit = 8.0 - distance / 2.0  # same colour: score 0.9997, 16 levels off: 0.5
        cls = torch.cat([torch.zeros(5, cells, cells), logit.expand(5, -1, -1)]).unsqueeze(0)
        return cls, torch.zeros(1, 20, cells, cells)


GREY, RED = (90, 90, 90), (220, 30, 30)


def _frame(squares: list[tuple[int, int, float]], size: int = 40) -> Frame:
    """Grey wall at 4 m with red squares (x, y, depth)."""
    color = np.full((240, 320, 3), GREY, np.uint8)
    depth = np.full((240, 320), 4.0, np.float32)
    for x, y, z in squares:
        color[y : y + size, x : x + size] = RED
        depth[y : y + size, x : x + size] = z
    return Frame(color, depth)


def _tracker(name: str, **overrides):
    params = _params(name, **overrides)
    kind = SiamRPNLTTracker if name == "siamrpn_lt" else SiamRPNTracker
    return kind(SpotNet(), params, CPU)


def _centre(box) -> np.ndarray:
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


@pytest.mark.parametrize("name", ["siamrpn", "siamrpn_lt"])
def test_follows_a_target(name):
    tracker = _tracker(name)
    tracker.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
    # Steps of about one score-map cell (5 px = 7.9 crop pixels), so scores stay near 1.
    for step in range(1, 6):
        result = tracker.track(_frame([(100 + 5 * step, 100 - 5 * step, 1.5)]))
        assert result.state == TrackerState.TRACKING
        assert result.score > 0.95
    np.testing.assert_allclose(_centre(result.box_xywh), [144.5, 94.5], atol=3)


@pytest.mark.parametrize("name", ["siamrpn", "siamrpn_lt"])
def test_depth_refuses_a_look_alike_at_another_depth(name):
    """The target is gone; a look-alike on the wall is the best candidate."""
    boxes = {}
    for use_depth in (False, True):
        tracker = _tracker(name, use_depth=use_depth)
        tracker.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
        result = tracker.track(_frame([(150, 110, 4.0)]))  # centre (169.5, 129.5)
        boxes[use_depth] = _centre(result.box_xywh)
        if use_depth:
            assert result.state == TrackerState.LOST
        else:
            assert result.state == TrackerState.TRACKING
    np.testing.assert_allclose(boxes[False], [169.5, 129.5], atol=3)  # pysot jumps to it
    np.testing.assert_allclose(boxes[True], [119.5, 119.5], atol=1)  # held


def test_depth_takes_the_candidate_at_the_target_depth():
    """Target and look-alike both in view: the look-alike wins on the window; depth picks right."""
    tracker = _tracker("siamrpn")
    tracker.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
    frame = _frame([(102, 100, 4.0), (160, 120, 1.5)])
    result = tracker.track(frame)
    assert result.state == TrackerState.TRACKING
    np.testing.assert_allclose(_centre(result.box_xywh), [179.5, 139.5], atol=3)
    plain = _tracker("siamrpn", use_depth=False)
    plain.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
    np.testing.assert_allclose(_centre(plain.track(frame).box_xywh), [121.5, 119.5], atol=3)


def test_size_follows_depth():
    widths = {}
    for use_depth in (False, True):
        tracker = _tracker("siamrpn", use_depth=use_depth)
        tracker.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
        widths[use_depth] = tracker.track(_frame([(100, 100, 1.35)])).box_xywh[2]
    # Depth 1.5 -> 1.41 (1.35 blended in at 0.6): the kept share of the size grows by 1.5/1.41.
    assert widths[True] > widths[False] * 1.03


def test_long_term_searches_wide_while_lost_and_recovers():
    tracker = _tracker("siamrpn_lt", **SMALL_SIZES)
    tracker.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
    gone = tracker.track(_frame([]))
    assert gone.state == TrackerState.LOST and gone.score < 0.8
    assert gone.score_map.scores.shape == (14, 14)
    # Back 40 px (8 cells) away: outside the normal search (cells -7..6), inside the lost one.
    back = tracker.track(_frame([(140, 100, 1.6)]))
    assert back.score_map.scores.shape == (18, 18)
    assert back.state == TrackerState.TRACKING and back.score > 0.998
    np.testing.assert_allclose(_centre(back.box_xywh), [159.5, 119.5], atol=3)


def test_anchor_shapes_and_crop_padding_follow_pysot():
    shapes = anchor_shapes(8, (0.33, 0.5, 1.0, 2.0, 3.0), (8.0,))
    np.testing.assert_array_equal(shapes, [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]])
    image = np.full((10, 10, 3), 200, np.uint8)
    patch = crop_patch(image, np.array([0.0, 0.0]), 6, 6, np.array([10.7, 20.2, 30.9]))
    # floor(0 - 3.5 + 0.5) = -3: three padded rows/columns, filled with the truncated mean.
    np.testing.assert_array_equal(patch[:3, :, :].reshape(-1, 3)[0], [10, 20, 30])
    np.testing.assert_array_equal(patch[3:, 3:], 200)


class OverflowNet(SpotNet):
    """Box deltas so large that exp() overflows: no candidate box is usable."""

    def track(self, template: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
        cls, loc = super().track(template, x)
        return cls, torch.full_like(loc, 1e4)


@pytest.mark.parametrize("name", ["siamrpn", "siamrpn_lt"])
def test_unusable_boxes_report_lost_and_keep_the_target(name):
    kind = SiamRPNLTTracker if name == "siamrpn_lt" else SiamRPNTracker
    tracker = kind(OverflowNet(), _params(name), CPU)
    tracker.initialize(_frame([(100, 100, 1.5)]), (100, 100, 40, 40))
    result = tracker.track(_frame([(100, 100, 1.5)]))
    assert result.state == TrackerState.LOST
    np.testing.assert_allclose(result.box_xywh, (99.5, 99.5, 40, 40))
