"""OSTrack / ViPT: official checkpoint layout, export, and the tracker's test-time arithmetic.

Full-size checkpoints (ViT-B) are made once per session (``ostrack_models`` in conftest); the
multi-frame runs use the same architectures at reduced width and input size, which the
builders accept, so they stay fast on a CPU. Expected values are computed here from the
reference's formulas (shared/reference/trackers.md §9.3), not from the code under test.
"""

from __future__ import annotations

import copy
import logging
import math

import checkpoint_files
import numpy as np
import pytest
import torch

from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, generate_sequence
from rgbd_tracker_ros.tools.export_model import main as export_main
from rgbd_tracker_ros.tracking.api import Frame, TrackerState
from rgbd_tracker_ros.tracking.dimp.preprocessing import depth_colormap
from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.export import (
    ExportError,
    half_precision_backbone,
    load_exported_model,
    save_scripted,
)
from rgbd_tracker_ros.tracking.networks.ostrack.network import build_ostrack256, build_ostrack384
from rgbd_tracker_ros.tracking.networks.ostrack.vit import candidate_elimination, centre_token
from rgbd_tracker_ros.tracking.networks.vipt.network import build_vipt as build_vipt_network
from rgbd_tracker_ros.tracking.ostrack.geometry import crop_square, hann2d
from rgbd_tracker_ros.tracking.ostrack.tracker import (
    OSTrack384Tracker,
    OSTrackTracker,
    ViPTTracker,
)
from rgbd_tracker_ros.tracking.registry import create_tracker, parameter_record, tracker_params

# Reduced width/depth and 32/64 px inputs: the same code paths (CE after blocks 1, 2, 3 removes
# 16 -> 12 -> 9 -> 7 search tokens), a fraction of ViT-B's cost.
SMALL = {
    "template_size": 32,
    "search_size": 64,
    "embed_dim": 48,
    "depth": 4,
    "num_heads": 4,
    "ce_loc": [1, 2, 3],
    "head_channels": 16,
}
RUN_FRAMES = 8
CPU = torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Network pieces against the reference's definitions


def test_centre_token_is_the_references_ctr_point():
    # generate_mask_cond: 7 -> cell 3, 8 -> 3, 12 -> 5, 14 -> 6 in both directions.
    assert [centre_token(g) for g in (7, 8, 12, 14)] == [24, 27, 65, 90]


def test_candidate_elimination_keeps_what_the_centre_token_attends_to():
    lens_t, lens_s, heads = 4, 10, 2
    attn = torch.zeros(1, heads, lens_t + lens_s, lens_t + lens_s)
    wanted = torch.tensor([7, 2, 9, 0, 5, 1, 8])  # ranked: most attended first
    for rank, index in enumerate(wanted.tolist()):
        attn[0, 0, 3, lens_t + index] = 1.0 - 0.1 * rank
        attn[0, 1, 3, lens_t + index] = 1.0 - 0.1 * rank
    attn[0, :, 0, lens_t + 4] = 5.0  # another template token's attention is ignored
    tokens = torch.arange(lens_t + lens_s, dtype=torch.float).view(1, -1, 1)
    global_index = torch.arange(100, 100 + lens_s).view(1, -1)
    new_tokens, kept, removed = candidate_elimination(attn, tokens, lens_t, 0.7, global_index, 3)
    assert kept.tolist() == [(100 + wanted).tolist()]  # ceil(0.7 * 10) = 7 kept, in rank order
    assert sorted(removed[0].tolist()) == [103, 104, 106]
    assert new_tokens[0, :, 0].tolist() == [0, 1, 2, 3, *(lens_t + wanted).tolist()]


def test_prompt_entries_and_no_normalisation_constants_in_the_state_dict():
    keys = list(build_vipt_network(SMALL).state_dict())
    assert "backbone.prompt_blocks.3.fovea.smooth" in keys
    assert (
        "backbone.prompt_norms.3.weight" in keys and "backbone.patch_embed_prompt.proj.bias" in keys
    )
    assert "mean" not in keys and "std" not in keys  # normalisation constants are not weights


def test_full_size_layouts_load_strict_from_trainer_and_bare_files(ostrack_models, tmp_path):
    network, path, _ = ostrack_models["ostrack256"]
    loaded = ckpt.load_network(path)
    assert loaded.architecture.name == "ostrack256" and not loaded.network.training
    state = network.state_dict()
    assert len(state) == 242
    for key in (
        "backbone.pos_embed_x",
        "box_head.conv5_size.bias",
        "backbone.blocks.11.mlp.fc2.weight",
    ):
        assert torch.equal(loaded.network.state_dict()[key], state[key])
    bare = tmp_path / "bare.pth"
    torch.save({"net": state}, bare)
    assert ckpt.load_network(bare).architecture.name == "ostrack256"
    vipt_network, vipt_path, _ = ostrack_models["vipt_rgbd"]
    assert len(vipt_network.state_dict()) == 352
    raw = ckpt.read_checkpoint(vipt_path)
    assert raw.net_type == "ViPTrack" and raw.constructor is None
    assert ckpt.identify_architecture(raw).name == "vipt_rgbd"
    raw.net_type = None  # as a bare {'net': ...}: told apart by its prompt entries
    assert ckpt.identify_architecture(raw).name == "vipt_rgbd"


def test_the_384_model_is_told_by_its_position_embeddings(tmp_path):
    state = {
        "backbone.pos_embed_x": torch.zeros(1, 576, 768),
        "backbone.pos_embed_z": torch.zeros(1, 144, 768),
    }
    torch.save({"net": state}, tmp_path / "o.pth")
    assert ckpt.identify_architecture(ckpt.read_checkpoint(tmp_path / "o.pth")).name == "ostrack384"


def test_wrong_shape_other_architecture_and_truncated_files_are_refused(ostrack_models, tmp_path):
    network, path, _ = ostrack_models["ostrack256"]
    state = dict(network.state_dict())
    state["box_head.conv1_ctr.0.weight"] = torch.zeros(256, 384, 3, 3)
    wrong = tmp_path / "wrong.pth"
    torch.save({"net": state}, wrong)
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load_network(wrong)
    message = str(error.value)
    assert message.startswith(str(wrong)) and "\n" not in message
    assert "box_head.conv1_ctr.0.weight [256, 384, 3, 3] (expected [256, 768, 3, 3])" in message

    # OSTrack with a ViT-L backbone (another architecture): named, with what was expected.
    large = {
        "backbone.pos_embed_x": torch.zeros(1, 256, 1024),
        "backbone.norm.weight": torch.zeros(1024),
    }
    other = checkpoint_files.save_training_record(
        tmp_path / "large.pth", large, None, {}, "OSTrack", records="lib.train.admin"
    )
    with pytest.raises(ckpt.CheckpointError, match=r"is not a ostrack256 network \(242 entries\)"):
        ckpt.load_network(other)

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: 1 << 20])
    with pytest.raises(ckpt.CheckpointError, match="not a PyTorch checkpoint") as error:
        ckpt.load_network(truncated)
    assert str(error.value).startswith(str(truncated)) and "\n" not in str(error.value)


# --------------------------------------------------------------------------------------------
# Export


def test_full_size_export_runs_like_the_eager_network(ostrack_models):
    for arch, channels in (("ostrack256", 3), ("vipt_rgbd", 6)):
        network, _, exported = ostrack_models[arch]
        model = load_exported_model(exported, "cpu")
        assert model.architecture == arch and model.tracker == (
            "vipt" if channels == 6 else "ostrack"
        )
        assert model.params == parameter_record(tracker_params(model.tracker))
        assert int(model.module.search_size) == 256 and int(model.module.feature_size) == 16
        generator = torch.Generator().manual_seed(1)
        template = torch.rand(1, channels, 128, 128, generator=generator) * 255
        search = torch.rand(1, channels, 256, 256, generator=generator) * 255
        with torch.no_grad():
            eager = network(template, search)
            scripted = model.module(template, search)
        for a, b in zip(eager, scripted, strict=True):
            assert a.dtype == torch.float32 and a.shape == b.shape
            assert (a - b).abs().max() <= 1e-5 * max(1.0, float(a.abs().max()))


def test_export_refuses_a_tracker_of_another_architecture(ostrack_models, tmp_path, capsys):
    _, path, _ = ostrack_models["vipt_rgbd"]
    output = tmp_path / "x.ts"
    args = ["--checkpoint", str(path), "--output", str(output), "--tracker", "ostrack"]
    assert export_main(args) == 1
    err = capsys.readouterr().err
    assert "a vipt_rgbd network cannot run the 'ostrack' tracker" in err and err.count("\n") == 1
    assert not output.exists()


def test_half_precision_runs_the_network_in_fp16_and_returns_fp32(tmp_path):
    torch.manual_seed(0)
    network = build_ostrack256(SMALL).eval()
    path = save_scripted(network, tmp_path / "s.ts", "ostrack", "ostrack256", {})
    # The loaded module is frozen (no submodules left to look at): what converts is seen on
    # a copy, what runs in fp16 by its rounding.
    converted = half_precision_backbone(copy.deepcopy(network))
    assert converted.backbone.patch_embed.proj.weight.dtype == torch.float16
    assert converted.box_head.conv5_ctr.weight.dtype == torch.float16
    model = load_exported_model(path, "cpu", half=True)
    template, search = torch.rand(1, 3, 32, 32) * 255, torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        half = model.module(template, search)
        full = network(template, search)
    for a, b in zip(half, full, strict=True):
        assert a.dtype == torch.float32
        assert 0 < (a - b).abs().max() <= 0.05 * max(1.0, float(b.abs().max()))


# --------------------------------------------------------------------------------------------
# Test-time arithmetic with a network that returns chosen maps


class MapNet(torch.nn.Module):
    """Returns the maps it holds whatever the images: lets a test place the peak."""

    def __init__(self, uses_depth: bool = False) -> None:
        super().__init__()
        self.architecture = "vipt_rgbd" if uses_depth else "ostrack256"
        self.template_size, self.search_size, self.feature_size = 128, 256, 16
        self.uses_depth = uses_depth
        self.score = torch.full((1, 1, 16, 16), 0.05)
        self.size = torch.full((1, 2, 16, 16), 0.25)
        self.offset = torch.zeros(1, 2, 16, 16)
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def place(self, iy: int, ix: int, peak: float, offset=(0.0, 0.0), size=(0.25, 0.25)):
        self.score.fill_(0.05)
        self.score[0, 0, iy, ix] = peak
        self.offset[0, :, iy, ix] = torch.tensor(offset)
        self.size[0, :, iy, ix] = torch.tensor(size)

    def forward(self, template, search):
        self.inputs.append((template, search))
        return self.score.clone(), self.size.clone(), self.offset.clone()


def _params(name: str = "ostrack", **overrides):
    return tracker_params(name, {"model_path": "x", "device": "cpu", **overrides})


def _window(k: int, n: int = 16) -> float:
    return 0.5 * (1 - math.cos(2 * math.pi * (k + 1) / (n + 1)))


def _image(height: int = 480, width: int = 640) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_hann_window_is_the_centered_raised_cosine():
    window = hann2d(16)
    assert window.shape == (1, 1, 16, 16)
    assert window[0, 0, 5, 9].item() == pytest.approx(_window(5) * _window(9), rel=1e-6)


def test_crop_rounds_half_to_even_and_pads_the_last_column_like_the_reference():
    image = np.arange(20 * 20 * 3, dtype=np.uint8).reshape(20, 20, 3)
    crop = crop_square(image, (14.0, 5.0, 4.0, 4.0), 2.0, 8)  # side 8 at x 12..19, y 3..10
    assert crop.box_xywh == (12.0, 3.0, 8.0, 8.0) and crop.resize_factor == 1.0
    np.testing.assert_array_equal(crop.patch[:, :7], image[3:11, 12:19])
    assert not crop.patch[:, 7].any()  # column 19 is the image's last: left out, zero
    assert crop_square(image, (0.0, 0.0, 5.0, 5.0), 1.0, 5).box_xywh[0] == 0.0  # round(0.0)
    assert crop_square(image, (1.0, 0.0, 5.0, 5.0), 1.0, 5).box_xywh[0] == 1.0
    assert crop_square(image, (0.5, 0.0, 4.0, 4.0), 1.0, 4).box_xywh[0] == 0.0  # round(0.5) = 0
    outside = crop_square(image, (100.0, 100.0, 4.0, 4.0), 2.0, 8)
    assert outside.patch.shape == (8, 8, 3) and not outside.patch.any()


def test_box_comes_from_the_peak_cell_offset_and_size_mapped_around_the_previous_centre():
    net = MapNet()
    tracker = OSTrackTracker(net, _params(), CPU)
    tracker.initialize(Frame(_image()), (300.0, 200.0, 40.0, 30.0))
    assert tracker._template.shape == (1, 3, 128, 128)
    net.place(5, 9, 0.9, offset=(0.25, 0.5), size=(0.2, 0.1))
    result = tracker.track(Frame(_image()))
    side = math.ceil(math.sqrt(40 * 30) * 4.0)  # 139
    cx = (9 + 0.25) / 16 * side + 320 - side / 2
    cy = (5 + 0.5) / 16 * side + 215 - side / 2
    expected = (cx - 0.1 * side, cy - 0.05 * side, 0.2 * side, 0.1 * side)
    np.testing.assert_allclose(result.box_xywh, expected, atol=1e-3)
    assert result.score == pytest.approx(0.9 * _window(5) * _window(9), rel=1e-5)
    assert result.state == TrackerState.TRACKING
    # The search square: corner round(320 - 69.5) = 250 (half to even), round(145.5) = 146.
    assert result.score_map.region_xywh == (250.0, 146.0, float(side), float(side))
    assert result.score_map.scores.shape == (16, 16) and result.score_map.scores[
        5, 9
    ] == pytest.approx(0.9)
    assert net.inputs[-1][1].shape == (1, 3, 256, 256)
    assert set(result.timings) >= {"crop", "network", "total"}


def test_clipping_keeps_the_box_in_the_image_with_the_margin():
    net = MapNet()
    tracker = OSTrackTracker(net, _params(), CPU)
    tracker.initialize(Frame(_image()), (600.0, 440.0, 40.0, 40.0))
    net.place(15, 15, 0.9, offset=(0.9, 0.9), size=(0.9, 0.9))
    x, y, w, h = tracker.track(Frame(_image())).box_xywh
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480 and w >= 10 and h >= 10


@pytest.mark.parametrize(
    ("peak", "state"),
    [(0.95, TrackerState.TRACKING), (0.4, TrackerState.UNCERTAIN), (0.2, TrackerState.LOST)],
)
def test_confidence_thresholds(peak, state):
    net = MapNet()
    tracker = OSTrackTracker(net, _params(), CPU)
    tracker.initialize(Frame(_image()), (300.0, 200.0, 40.0, 30.0))
    net.place(7, 7, peak)  # window ~0.99 at the centre cells
    result = tracker.track(Frame(_image()))
    assert result.state == state
    assert result.box_xywh != (300.0, 200.0, 40.0, 30.0)  # the reference always follows


def test_long_term_holds_the_box_and_widens_the_search_until_a_confident_peak():
    net = MapNet()
    tracker = OSTrackTracker(net, _params(long_term=True), CPU)
    start = (300.0, 200.0, 40.0, 30.0)
    tracker.initialize(Frame(_image()), start)
    net.place(2, 13, 0.2)
    lost = tracker.track(Frame(_image()))
    assert lost.state == TrackerState.LOST and lost.box_xywh == start
    net.place(2, 13, 0.4)  # not windowed while searching, yet below uncertain: still LOST
    searching = tracker.track(Frame(_image()))
    wide = math.ceil(math.sqrt(40 * 30) * 8.0)
    assert searching.score_map.region_xywh[2] == wide
    assert searching.score == pytest.approx(0.4) and searching.state == TrackerState.LOST
    assert searching.box_xywh == start
    net.place(2, 13, 0.6, size=(0.1, 0.1))
    found = tracker.track(Frame(_image()))
    assert found.state == TrackerState.TRACKING and found.score == pytest.approx(0.6)
    cx = (13 + 0.0) / 16 * wide + 320 - wide / 2
    assert found.box_xywh[0] + found.box_xywh[2] / 2 == pytest.approx(cx, abs=1e-3)
    back = tracker.track(Frame(_image()))  # tracking again: the usual square and window
    assert back.score_map.region_xywh[2] == math.ceil(math.sqrt(0.1 * wide * 0.1 * wide) * 4.0)


def test_vipt_input_is_rgb_plus_the_clipped_depth_colour_map():
    net = MapNet(uses_depth=True)
    tracker = ViPTTracker(net, _params("vipt"), CPU)
    color = _image(120, 160)
    depth = np.random.default_rng(1).uniform(0.5, 8.0, (120, 160)).astype(np.float32)
    depth[:10] = 0.0
    with pytest.raises(ValueError, match="needs depth"):
        tracker.initialize(Frame(color), (60.0, 40.0, 32.0, 32.0))
    tracker.initialize(Frame(color, depth), (60.0, 40.0, 32.0, 32.0))
    image = np.concatenate([color, depth_colormap(depth, 3.0, 10000.0)], axis=2)
    expected = crop_square(image, (60.0, 40.0, 32.0, 32.0), 2.0, 128).patch
    template = tracker._template[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(template, expected.astype(np.float32))
    assert tracker.track(Frame(color)).state == TrackerState.LOST


# --------------------------------------------------------------------------------------------
# Whole runs: eager vs exported, odd frames, factories


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    config = SyntheticConfig(seed=4, num_frames=RUN_FRAMES + 1, width=160, height=120)
    return read_sequence(generate_sequence(config, tmp_path_factory.mktemp("seq") / "seq"))


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    out = {}
    for name, build, arch in (
        ("ostrack", build_ostrack256, "ostrack256"),
        ("vipt", build_vipt_network, "vipt_rgbd"),
    ):
        torch.manual_seed(3)
        network = build(SMALL).eval()
        params = parameter_record(tracker_params(name, {"search_factor": 3.5}))
        out[name] = (network, save_scripted(network, folder / f"{name}.ts", name, arch, params))
    return out


def _run(tracker, sequence):
    tracker.initialize(sequence.frame(0), tuple(sequence.groundtruth[0]))
    return [tracker.track(sequence.frame(i)) for i in range(1, RUN_FRAMES + 1)]


@pytest.mark.parametrize(
    ("name", "tracker_class"), [("ostrack", OSTrackTracker), ("vipt", ViPTTracker)]
)
def test_eager_and_exported_runs_agree(small_models, sequence, name, tracker_class):
    network, path = small_models[name]
    exported = create_tracker(name, {"model_path": str(path), "device": "cpu"})
    assert isinstance(exported, tracker_class)
    assert exported.params.search_factor == 3.5  # embedded at export
    eager = tracker_class(network, exported.params, CPU)
    for a, b in zip(_run(eager, sequence), _run(exported, sequence), strict=True):
        assert a.state == b.state
        np.testing.assert_allclose(a.box_xywh, b.box_xywh, atol=1e-3)
        assert abs(a.score - b.score) <= 1e-5
        np.testing.assert_allclose(a.score_map.scores, b.score_map.scores, atol=1e-5)
        assert a.score_map.region_xywh == b.score_map.region_xywh
        assert a.score_map.scores.shape == (4, 4)


def test_odd_frames_never_raise(small_models, sequence, caplog):
    network, _ = small_models["ostrack"]
    tracker = OSTrackTracker(network, _params(), CPU)
    assert tracker.track(sequence.frame(1)).state == TrackerState.IDLE
    tracker.initialize(sequence.frame(0), tuple(sequence.groundtruth[0]))
    odd = [np.zeros((1, 1, 3), np.uint8), np.full((3, 500, 3), 255, np.uint8), _image(40, 30)]
    with caplog.at_level(logging.ERROR):
        for color in odd:
            result = tracker.track(Frame(color))
            assert np.all(np.isfinite(result.box_xywh)) and result.state != TrackerState.IDLE
    assert not caplog.records
    with pytest.raises(ValueError, match="uint8"):
        tracker.track(Frame(sequence.frame(1).color.astype(np.float32)))
    with pytest.raises(ValueError, match="size must be positive"):
        tracker.initialize(sequence.frame(0), (10.0, 10.0, 0.0, 5.0))


def test_each_spec_builds_its_tracker(small_models, tmp_path):
    path = save_scripted(
        build_ostrack384(SMALL).eval(),
        tmp_path / "384.ts",
        "ostrack384",
        "ostrack384",
        parameter_record(tracker_params("ostrack384")),
    )
    tracker = create_tracker("ostrack384", {"model_path": str(path), "device": "cpu"})
    assert type(tracker) is OSTrack384Tracker and tracker.name == "ostrack384"
    assert tracker.params.search_factor == 5.0
    for name, kind in (("ostrack", OSTrackTracker), ("vipt", ViPTTracker)):
        _, path = small_models[name]
        tracker = create_tracker(name, {"model_path": str(path), "device": "cpu"})
        assert type(tracker) is kind and tracker.name == name


def test_factories_refuse_missing_or_mismatched_models(small_models):
    with pytest.raises(ValueError, match=r"needs a trained model"):
        create_tracker("ostrack")
    _, vipt_file = small_models["vipt"]
    with pytest.raises(ValueError, match=r"vipt_rgbd.*'ostrack384' needs ostrack384"):
        create_tracker("ostrack384", {"model_path": str(vipt_file), "device": "cpu"})
    network, _ = small_models["ostrack"]
    with pytest.raises(ValueError, match="RGB-only"):
        ViPTTracker(network, _params("vipt"), CPU)
    with pytest.raises(ExportError, match="no such exported model"):
        load_exported_model("/nonexistent/model.ts")


@pytest.mark.parametrize("name", ["ostrack", "ostrack384", "vipt"])
def test_parameter_files_load_and_bad_values_are_named(name):
    params = _params(name)
    assert params.template_factor == 2.0 and not params.long_term
    assert params.search_factor == (5.0 if name == "ostrack384" else 4.0)
    for overrides, field in (
        ({"lost_threshold": 0.9}, "lost_threshold"),
        ({"long_term": "yes"}, "long_term"),
        ({"precision": "int8"}, "precision"),
    ):
        with pytest.raises(ValueError, match=field):
            _params(name, **overrides)
