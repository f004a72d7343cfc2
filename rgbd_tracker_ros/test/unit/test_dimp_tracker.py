"""DiMP / DeT tracker: crops and coordinates, DeT depth input, localisation flags, sample memory,
whole runs (eager vs TorchScript from an exported random-weight checkpoint), bad input."""

from __future__ import annotations

import logging
import math

import checkpoint_files
import cv2
import numpy as np
import pytest
import torch

from rgbd_tracker_ros.sequences.depthtrack import read_sequence
from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, generate_sequence
from rgbd_tracker_ros.tracking.api import Frame, TrackerState
from rgbd_tracker_ros.tracking.dimp import localization as loc
from rgbd_tracker_ros.tracking.dimp import preprocessing as pre
from rgbd_tracker_ros.tracking.dimp.memory import SampleMemory
from rgbd_tracker_ros.tracking.dimp.params import DeTParams, DiMPParams
from rgbd_tracker_ros.tracking.dimp.tracker import DeTTracker, DiMPTracker
from rgbd_tracker_ros.tracking.model import export_checkpoint
from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.params import ParameterError
from rgbd_tracker_ros.tracking.registry import create_tracker, tracker_params

SAMPLE_SIZE = 128  # 8x8 features, 9x9 scores: the smallest size the 4x4 filter is happy with
RUN_FRAMES = 5
BOX_TOLERANCE_PX = 1e-3
SCORE_TOLERANCE = 1e-4


# --------------------------------------------------------------------------------------------
# Crops and coordinates


def _index_image(height: int, width: int) -> torch.Tensor:
    """(1, 3, H, W) int64 image whose pixels say where they are: (row, col, row * W + col)."""
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([rows, cols, rows * width + cols]).astype(np.int64)
    return torch.from_numpy(image).unsqueeze(0)


def test_crop_arithmetic_is_the_references_integer_window():
    # pos is truncated toward zero, the window is [p - (n-1)//2, p + n//2 + 1): for pos
    # (10.9, -3.2) and size (7, 8) that is rows 7..13 and cols -6..1.
    image = _index_image(20, 30)
    window, coords = pre.crop_window(
        image, np.array([10.9, -3.2]), np.array([7.0, 8.0]), np.array([7, 8])
    )
    assert coords.tl.tolist() == [7, -6] and coords.br.tolist() == [14, 2]
    assert window[0, 0, :, 0].tolist() == list(range(7, 14))
    # Columns left of the image replicate column 0.
    assert window[0, 1, 0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert coords.sample_pos.tolist() == [10.0, -2.5]


def test_float_crop_arithmetic_is_current_pytracking():
    # Corners p - (n-1)/2 and p + n/2 + 1, cut between their truncations: for pos (10.9, 20.0)
    # and size (7, 8) the corners are (7, 16.5) and (14.5, 25): rows 7..13 as with integers,
    # but 9 columns 16..24 (integers: 8, 17..24), and the centre moves by half a pixel.
    image = _index_image(40, 40)
    window, coords = pre.crop_window(
        image, np.array([10.9, 20.0]), np.array([7.0, 8.0]), np.array([7, 8]), arithmetic="float"
    )
    assert coords.tl.tolist() == [7.0, 16.5] and coords.br.tolist() == [14.5, 25.0]
    assert window[0, 0, :, 0].tolist() == list(range(7, 14))
    assert window[0, 1, 0].tolist() == list(range(16, 25))
    assert coords.sample_pos.tolist() == [10.25, 20.25]
    _, integer = pre.crop_window(
        image, np.array([10.9, 20.0]), np.array([7.0, 8.0]), np.array([7, 8])
    )
    assert integer.sample_pos.tolist() == [10.0, 20.5]
    with pytest.raises(ValueError, match="crop_arithmetic must be one of"):
        tracker_params("dimp", {"crop_arithmetic": "round"})


@pytest.mark.parametrize("pos", [(30.0, 40.0), (2.0, 77.0), (-15.0, -20.0), (70.0, 95.0)])
def test_patch_pixels_are_the_image_pixels_of_their_box(pos):
    """Unscaled patch: every pixel is the (border-clamped) image pixel the coordinates name."""
    height, width, size = 60, 80, 33
    image = _index_image(height, width)
    patch, coords = pre.sample_patch(
        image, np.array(pos), np.full(2, float(size)), np.array([size, size])
    )
    rows = np.clip(np.arange(coords.tl[0], coords.br[0]), 0, height - 1)
    cols = np.clip(np.arange(coords.tl[1], coords.br[1]), 0, width - 1)
    assert patch.shape == (1, 3, size, size)
    assert np.array_equal(patch[0, 0].numpy(), np.repeat(rows[:, None], size, 1))
    assert np.array_equal(patch[0, 1].numpy(), np.repeat(cols[None, :], size, 0))

    # A target box -> its patch box: the patch pixel at the box's top-left corner is the
    # image pixel at the box's top-left corner.
    box = np.array([pos[1] - 3.0, pos[0] - 5.0, 7.0, 11.0])
    target_pos, target_sz = pre.box_to_pos_size(box)
    scale = coords.sample_scale(np.array([size, size], dtype=np.float64))
    patch_box = pre.image_to_patch_box(
        target_pos, target_sz, coords.sample_pos, scale, np.array([size, size], dtype=np.float64)
    )
    assert scale == 1.0
    col, row = int(patch_box[0]), int(patch_box[1])
    assert patch_box[:2].tolist() == [col, row]
    if 0 <= box[1] < height and 0 <= box[0] < width:
        assert patch[0, :2, row, col].tolist() == [box[1], box[0]]


def test_box_to_patch_to_box_round_trip_is_exact():
    rng = np.random.default_rng(4)
    img_sample_sz = np.array([288.0, 288.0])
    for _ in range(200):
        box = np.concatenate([rng.uniform(-50, 600, 2), rng.uniform(1, 300, 2)])
        sample_pos = rng.uniform(-100, 700, 2)
        scale = float(rng.uniform(0.05, 20))
        pos, size = pre.box_to_pos_size(box)
        patch_box = pre.image_to_patch_box(pos, size, sample_pos, scale, img_sample_sz)
        back_pos, back_size = pre.patch_to_image_box(patch_box, sample_pos, scale, img_sample_sz)
        np.testing.assert_allclose(pre.pos_size_to_box(back_pos, back_size), box, rtol=0, atol=1e-9)
        # The refinement's conversion differs by exactly half a patch pixel (reference quirk).
        ref_pos, ref_size = pre.refined_box_to_image(patch_box, sample_pos, scale, img_sample_sz)
        np.testing.assert_allclose(ref_pos - back_pos, [scale / 2, scale / 2], atol=1e-9)
        np.testing.assert_allclose(ref_size, back_size, atol=1e-9)


@pytest.mark.parametrize("mode", ["inside", "inside_major"])
def test_inside_modes_keep_the_window_in_the_image(mode):
    image = _index_image(90, 120)
    _, coords = pre.sample_patch(
        image,
        np.array([5.0, 110.0]),
        np.array([70.0, 70.0]),
        np.array([32, 32]),
        mode=mode,
        max_scale_change=1.5,
    )
    assert coords.tl.min() >= 0 and coords.br[0] <= 90 and coords.br[1] <= 120
    with pytest.raises(ValueError, match="border mode"):
        pre.sample_patch(image, np.zeros(2), np.full(2, 8.0), np.array([8, 8]), mode="wrap")


def test_augmentation_shifts_move_the_target_box_with_the_content():
    patch = torch.zeros(1, 3, 64, 64)
    patch[..., 30:34, 20:26] = 255.0  # a bright block
    for aug in (
        pre.Augmentation("identity"),
        pre.Augmentation("shift", (5, 3)),
        pre.Augmentation("blur", (-3, 2), blur_sigma=(1.0, 1.0)),
    ):
        out = pre.apply_augmentation(patch, aug, np.array([32, 32]))
        ys, xs = np.nonzero(out[0, 0].numpy() > 127)
        # The 64 -> 32 centre crop puts the block at rows 14..17, cols 4..9, plus the shift.
        assert (ys.min(), xs.min()) == (14 + aug.shift[0], 4 + aug.shift[1])
    flipped = pre.apply_augmentation(patch, pre.Augmentation("fliplr"), np.array([32, 32]))
    assert torch.equal(flipped, patch.flip(3)[..., 16:48, 16:48])


# --------------------------------------------------------------------------------------------
# DeT depth input


def _depth_with_median(median_mm: int, low: int, high: int, zeros: int) -> np.ndarray:
    """Depth (metres) of 111 pixels whose median (zeros included) is ``median_mm``."""
    rng = np.random.default_rng(median_mm)
    below = 55 - zeros
    values = np.concatenate(
        [
            np.zeros(zeros),
            rng.integers(low, median_mm, below),
            [median_mm],
            rng.integers(median_mm + 1, high, 55),
        ]
    )
    depth = (rng.permutation(values) / 1000.0).astype(np.float32).reshape(3, 37)
    if zeros:
        depth.reshape(-1)[np.flatnonzero(depth == 0)[0]] = np.nan  # no reading may also be NaN
    return depth


@pytest.mark.parametrize(
    ("median_mm", "low", "zeros"),
    # Clip limits 3 * 1105 = 3315 = 13 * 255 (zeros present, min 0) and 10000 (the 10 m cap;
    # min 55 so the range is 39 * 255): odd multiples of 255 keep the rounding away from ties.
    [(1105, 200, 20), (4000, 55, 0)],
)
def test_depth_colormap_is_clipped_minmax_jet_in_bgr(median_mm, low, zeros):
    depth = _depth_with_median(median_mm, low, 20000, zeros)
    if not zeros:
        depth.reshape(-1)[np.argmin(depth)] = low / 1000.0
    mm = np.rint(np.nan_to_num(depth.astype(np.float64)) * 1000.0)
    limit = min(3.0 * np.median(mm), 10000.0)
    clipped = np.where(mm > limit, math.floor(limit), mm)
    levels = np.rint((clipped - clipped.min()) * 255.0 / (clipped.max() - clipped.min()))
    expected = cv2.applyColorMap(levels.astype(np.uint8), cv2.COLORMAP_JET)

    colormap = pre.depth_colormap(depth, 3.0, 10000.0)
    assert np.array_equal(colormap, expected)
    # BGR order: the farthest (clipped) pixels are red, the nearest blue.
    far = colormap[clipped == clipped.max()][0]
    near = colormap[clipped == clipped.min()][0]
    assert far[2] > far[0] and near[0] > near[2]

    color = np.zeros((3, 37, 3), np.uint8)
    rgbd = pre.rgbd_image(color, depth, 3.0, 10000.0)
    assert rgbd.shape == (3, 37, 6) and np.array_equal(rgbd[..., 3:], expected)
    with pytest.raises(ValueError, match="does not match"):
        pre.rgbd_image(np.zeros((4, 37, 3), np.uint8), depth, 3.0, 10000.0)


def test_depth_in_millimetres_and_its_median_match_the_plain_numpy_forms():
    generator = np.random.default_rng(5)
    depth = generator.uniform(0.0, 70.0, (48, 64)).astype(np.float32)
    depth.reshape(-1)[:6] = [np.nan, np.inf, -np.inf, -1.0, 0.0005, 0.0015]  # hostile, ties
    depth.reshape(-1)[6:200] = 0.0
    expected = np.clip(
        np.rint(np.nan_to_num(depth.astype(np.float64) * 1000.0, posinf=0.0, neginf=0.0)),
        0,
        65535,
    ).astype(np.uint16)
    millimetres = pre.depth_to_millimetres(depth)
    assert millimetres.dtype == np.uint16 and np.array_equal(millimetres, expected)
    for values in (millimetres, millimetres[:, :-1], millimetres[:1, :1], expected[:3, :5]):
        assert pre.uint16_median(values) == float(np.median(values))


# --------------------------------------------------------------------------------------------
# Localisation

LOC_PARAMS = tracker_params("dimp").localization()
SUPPORT = np.array([288.0, 288.0])
CENTRE = np.array([[100.0, 200.0]])


def _localize(scores: np.ndarray, target_sz=(32.0, 32.0), window=None, unwindowed=False):
    return loc.localize_advanced(
        scores[None],
        CENTRE,
        np.array([1.0]),
        CENTRE[0],
        np.array(target_sz),
        SUPPORT,
        4,
        LOC_PARAMS,
        window,
        unwindowed,
    )


def _peaks(*peaks: tuple[int, int, float]) -> np.ndarray:
    scores = np.zeros((19, 19))
    for row, col, value in peaks:
        scores[row, col] = value
    return scores


def test_single_peak_is_normal_and_gives_the_cell_translation():
    found = _localize(_peaks((12, 5, 1.0)))
    # 19 scores for an even 4x4 filter: 18 cells over 288 px -> 16 px per cell from the centre 9.
    assert found.flag == loc.NORMAL and found.translation.tolist() == [48.0, -64.0]
    assert found.max_score == 1.0


def test_low_peak_is_not_found():
    assert _localize(_peaks((9, 9, 0.2))).flag == loc.NOT_FOUND


def test_second_peak_above_hard_negative_threshold_is_a_hard_negative():
    found = _localize(_peaks((9, 9, 1.0), (2, 16, 0.6)))
    assert found.flag == loc.HARD_NEGATIVE and found.translation.tolist() == [0.0, 0.0]
    # Inside the target neighbourhood the second peak is masked: normal.
    assert _localize(_peaks((9, 9, 1.0), (9, 11, 0.9))).flag == loc.NORMAL


def test_distractor_far_from_previous_position_keeps_the_near_peak():
    # Peak at the previous position, an almost equal one 9 cells away (threshold 7.6 cells).
    found = _localize(_peaks((9, 9, 1.0), (9, 18, 0.9)))
    assert found.flag == loc.HARD_NEGATIVE and found.translation.tolist() == [0.0, 0.0]
    # The strongest peak far away, the second near the previous position: take the second.
    found = _localize(_peaks((9, 18, 1.0), (9, 9, 0.9)))
    assert found.flag == loc.HARD_NEGATIVE and found.translation.tolist() == [0.0, 0.0]


def test_two_close_equal_peaks_are_uncertain():
    found = _localize(_peaks((9, 9, 1.0), (9, 14, 0.95)))
    assert found.flag == loc.UNCERTAIN and found.translation.tolist() == [0.0, 0.0]


def test_window_suppresses_peaks_far_from_the_centre():
    scores = _peaks((0, 0, 1.0), (9, 9, 0.6))
    assert _localize(scores).translation.tolist() == [-144.0, -144.0]
    window = loc.hann_window((19, 19))
    assert window[9, 9] == 1.0 and window[0, 0] < 0.01 and np.allclose(window, window.T)
    found = _localize(scores, window=window)
    assert found.translation.tolist() == [0.0, 0.0] and found.flag == loc.NORMAL


def test_max2d_breaks_ties_column_first():
    value, where = loc.max2d(_peaks((0, 5, 1.0), (3, 2, 1.0)))
    assert value == 1.0 and where.tolist() == [3.0, 2.0]


# --------------------------------------------------------------------------------------------
# Sample memory


def test_sample_memory_weights_follow_the_schedule():
    memory = SampleMemory(torch.zeros(15, 2, 3, 3), torch.zeros(15, 4), 20, 0.25)
    assert np.isclose(memory.weights.sum(), 1.0)
    # The training set is always the whole memory; empty slots weigh nothing.
    samples, boxes, weights = memory.training_set()
    assert samples.shape[0] == boxes.shape[0] == weights.shape[0] == 20
    assert weights[15:].eq(0).all() and samples[15:].eq(0).all()
    assert torch.allclose(weights[:15], torch.full((15,), 1 / 15))
    for step in range(40):
        before = memory.weights.copy()
        full = memory.num_stored == 20
        lr = 0.2 if step % 7 == 3 else 0.01
        memory.add(torch.full((1, 2, 3, 3), float(step)), torch.full((4,), float(step)), lr)
        slot = memory.previous_replace
        assert memory.samples[slot, 0, 0, 0] == step and memory.boxes[slot, 0] == step
        if full:  # the lowest-weight sample after the first-frame ones is replaced
            assert slot == 15 + int(np.argmin(before[15:]))
        assert memory.weights.min() >= 0 and memory.weights.sum() <= 1 + 1e-12
        assert memory.weights[:15].sum() >= 0.25 - 1e-12
        assert memory.weights[slot] == memory.weights[15:].max()
    assert memory.num_stored == 20
    samples, boxes, weights = memory.training_set()
    assert samples.shape[0] == boxes.shape[0] == weights.shape[0] == 20


# --------------------------------------------------------------------------------------------
# Whole runs from exported random-weight checkpoints


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sequence")
    config = SyntheticConfig(
        seed=3, num_frames=RUN_FRAMES + 1, width=160, height=120, photo_textures=False
    )
    return read_sequence(generate_sequence(config, folder / "seq"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Eager random-weight networks and their exported TorchScript files."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for arch, overrides in (("dimp50", {"search_area_scale": 4.5}), ("det_dimp50", None)):
        torch.manual_seed(0)
        spec = ckpt.architecture(arch)
        net = ckpt.build_network(spec, spec.default_kwds).eval()
        path = checkpoint_files.write_official_layout_checkpoint(
            folder / f"{arch}.pth", arch, network=net
        )
        out[arch] = (net, export_checkpoint(path, folder / f"{arch}.ts", None, overrides))
        path.unlink()
    return out


def _run(tracker, sequence):
    tracker.initialize(sequence.frame(0), tuple(sequence.groundtruth[0]))
    return [tracker.track(sequence.frame(i)) for i in range(1, RUN_FRAMES + 1)]


def _assert_runs_agree(eager, scripted):
    """The agreement every speed-up keeps: boxes within 1e-3 px, scores within 1e-4."""
    for a, b in zip(eager, scripted, strict=True):
        assert a.state == b.state
        assert np.abs(np.array(a.box_xywh) - np.array(b.box_xywh)).max() <= BOX_TOLERANCE_PX
        assert np.abs(a.score_map.scores - b.score_map.scores).max() <= SCORE_TOLERANCE
        assert abs(a.score - b.score) <= SCORE_TOLERANCE
        np.testing.assert_allclose(a.score_map.region_xywh, b.score_map.region_xywh, atol=1e-3)


@pytest.mark.parametrize(
    ("arch", "name", "tracker_class"),
    [("dimp50", "dimp", DiMPTracker), ("det_dimp50", "det", DeTTracker)],
)
def test_eager_and_torchscript_runs_agree(models, sequence, arch, name, tracker_class):
    net, path = models[arch]
    scripted = create_tracker(
        name, {"model_path": str(path), "device": "cpu", "image_sample_size": SAMPLE_SIZE}
    )
    assert isinstance(scripted, tracker_class)
    eager = tracker_class(net, scripted.params, torch.device("cpu"))
    results = _run(scripted, sequence)
    _assert_runs_agree(_run(eager, sequence), results)

    for result in results:
        assert result.score_map.scores.shape == (9, 9)
        assert set(result.timings) >= {"patch", "backbone", "classify", "localize", "total"}
        _, _, w, h = result.score_map.region_xywh
        assert w == h > 0  # the map covers a square region around the search centre
    # Re-initialising re-seeds the tracker: the same run again.
    _assert_runs_agree(results, _run(scripted, sequence))


def test_exported_parameters_apply_and_overrides_win(models):
    _, path = models["dimp50"]
    tracker = create_tracker("dimp", {"model_path": str(path), "device": "cpu"})
    assert tracker.params.search_area_scale == 4.5  # stored in the file at export
    tracker = create_tracker(
        "dimp", {"model_path": str(path), "device": "cpu", "search_area_scale": 4.0}
    )
    assert tracker.params.search_area_scale == 4.0


def test_odd_frames_never_raise(models, sequence, caplog):
    net, _ = models["det_dimp50"]
    params = tracker_params("det", {"image_sample_size": SAMPLE_SIZE})
    tracker = DeTTracker(net, params, torch.device("cpu"))
    assert tracker.track(sequence.frame(1)).state == TrackerState.IDLE
    first = sequence.frame(0)
    with pytest.raises(ValueError, match="needs depth"):
        tracker.initialize(Frame(first.color), tuple(sequence.groundtruth[0]))
    tracker.initialize(first, tuple(sequence.groundtruth[0]))

    def frame(height, width, value=0, depth=1.0):
        color = np.full((height, width, 3), value, np.uint8)
        return Frame(color, None if depth is None else np.full((height, width), depth, np.float32))

    odd = [
        frame(1, 1),
        frame(3, 500, 255),
        frame(120, 160, 0, depth=0.0),
        frame(120, 160, 255, depth=np.nan),
        frame(40, 30, 7, depth=70.0),
    ]
    with caplog.at_level(logging.ERROR):
        for case in odd:
            result = tracker.track(case)
            assert result.state in (
                TrackerState.TRACKING,
                TrackerState.UNCERTAIN,
                TrackerState.LOST,
            )
            assert np.all(np.isfinite(result.box_xywh))
    assert not caplog.records  # valid images: no internal failure either

    with caplog.at_level(logging.ERROR):
        lost = [tracker.track(frame(120, 160, depth=None)) for _ in range(3)]
        mismatched = Frame(first.color, np.ones((5, 5), np.float32))
        lost.append(tracker.track(mismatched))
    assert all(r.state == TrackerState.LOST for r in lost)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "needs depth" in errors[0].getMessage()  # throttled
    assert np.all(np.isfinite(tracker.track(sequence.frame(1)).box_xywh))

    with pytest.raises(ValueError, match="uint8"):
        tracker.track(Frame(first.color.astype(np.float32), first.depth))
    with pytest.raises(ValueError, match="box size must be positive"):
        tracker.initialize(first, (10.0, 10.0, 0.0, 5.0))
    with pytest.raises(ValueError, match="does not overlap"):
        tracker.initialize(first, (500.0, 10.0, 20.0, 20.0))


# --------------------------------------------------------------------------------------------
# Factories and parameters


def test_factories_refuse_missing_or_wrong_models(models, tmp_path):
    with pytest.raises(ValueError, match=r"needs a trained model.*export_model"):
        create_tracker("dimp", {})
    with pytest.raises(FileNotFoundError, match=r"missing\.ts"):
        create_tracker("det", {"model_path": str(tmp_path / "missing.ts")})
    _, det_file = models["det_dimp50"]
    with pytest.raises(ValueError, match=r"det_dimp50.*'dimp' needs dimp50"):
        create_tracker("dimp", {"model_path": str(det_file), "device": "cpu"})
    net, _ = models["dimp50"]
    params = tracker_params("dimp")
    with pytest.raises(ValueError, match="RGB-only"):
        DeTTracker(net, params, torch.device("cpu"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "params_class"), [("dimp", DiMPParams), ("det", DeTParams)])
def test_parameter_files_load_and_bad_values_are_named(name, params_class):
    params = tracker_params(name)
    assert type(params) is params_class
    assert params.model_path == "" and params.augmentation.dropout == (2, 0.2)
    assert params.augmentation.blur == ((3.0, 1.0), (1.0, 3.0), (2.0, 2.0))
    bad_values = [
        ({"no_such_parameter": 1}, "unknown parameter.*no_such_parameter"),
        ({"image_sample_size": "big"}, "image_sample_size: expected an integer"),
        ({"image_sample_size": 288.5}, "image_sample_size: expected an integer"),
        ({"search_area_scale": "4"}, "search_area_scale: expected a number"),
        ({"update_classifier": "yes"}, "update_classifier: expected true or false"),
        ({"augmentation": {"zoom": [2]}}, "unknown parameter.*augmentation.zoom"),
        ({"augmentation": {"dropout": [2]}}, "augmentation.dropout: expected 2 values"),
    ]
    for change, message in bad_values:
        with pytest.raises(ParameterError, match=f"^parameter overrides: {message}"):
            tracker_params(name, change)
    with pytest.raises(ValueError, match="border_mode must be one of"):
        tracker_params(name, {"border_mode": "wrap"})
    # A nested block merges key by key: the other augmentations keep their YAML values.
    merged = tracker_params(name, {"augmentation": {"fliplr": False}}).augmentation
    assert not merged.fliplr and merged.rotate == params.augmentation.rotate
