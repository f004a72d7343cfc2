"""Sequences: DepthTrack-layout IO, bad-input errors, the synthetic generator, demo and CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from rgbd_tracker_ros.geometry import Intrinsics, project
from rgbd_tracker_ros.sequences.depthtrack import (
    SequenceError,
    load_intrinsics,
    read_sequence,
    write_sequence,
)
from rgbd_tracker_ros.sequences.effects import DepthNoiseModel
from rgbd_tracker_ros.sequences.render import (
    Camera,
    Canvas,
    Layer,
    Quad,
    Texture,
    rectangle_corners,
    render_quad,
)
from rgbd_tracker_ros.sequences.synthetic import (
    HARD_OPTIONS,
    PLAIN_OPTIONS,
    SyntheticConfig,
    SyntheticSequence,
    benchmark_suite,
    box_from_polygon,
    generate_sequence,
    preset_config,
)

SMALL = {"width": 160, "height": 120}
INTRINSICS = Intrinsics(fx=150.0, fy=151.0, cx=80.5, cy=59.5, width=160, height=120)


def _smooth_colors(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Smooth RGB images (JPEG keeps them within a few levels)."""
    colors = []
    for _ in range(count):
        coarse = rng.integers(0, 256, (6, 8, 3)).astype(np.float32)
        colors.append(cv2.resize(coarse, (160, 120), interpolation=cv2.INTER_CUBIC).clip(0, 255))
    return [c.astype(np.uint8) for c in colors]


@pytest.fixture
def written(tmp_path: Path) -> dict:
    rng = np.random.default_rng(1)
    count = 6
    colors = _smooth_colors(count, rng)
    depths = [rng.integers(0, 9000, (120, 160)).astype(np.uint16) for _ in range(count)]
    groundtruth = rng.uniform(0, 100, (count, 4))
    groundtruth[2] = np.nan
    centres = rng.uniform(-1, 3, (count, 3))
    centres[2] = np.nan
    path = write_sequence(
        tmp_path / "seq", colors, iter(depths), groundtruth, INTRINSICS, 15.0, centres
    )
    return {"path": path, "colors": colors, "depths": depths, "gt": groundtruth, "gt3d": centres}


# ------------------------------------------------------------------------------------ IO


def test_round_trip_is_equal(written: dict) -> None:
    seq = read_sequence(written["path"])
    assert len(seq) == 6
    assert seq.name == "seq"
    assert seq.fps == 15.0
    assert seq.intrinsics == INTRINSICS
    np.testing.assert_allclose(seq.groundtruth, written["gt"], atol=1e-4)
    np.testing.assert_allclose(seq.groundtruth_3d, written["gt3d"], atol=1e-6)
    assert np.isnan(seq.groundtruth[2]).all() and np.isnan(seq.groundtruth_3d[2]).all()
    frames = list(seq)
    assert len(frames) == 6
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(seq.depth_mm(i), written["depths"][i])
        assert frame.depth.dtype == np.float32
        np.testing.assert_allclose(frame.depth, written["depths"][i] / 1000.0, rtol=1e-6)
        assert frame.color.dtype == np.uint8 and frame.color.shape == (120, 160, 3)
        # JPEG is lossy but must keep channel order (RGB in, RGB out) and values close.
        assert np.abs(frame.color.astype(int) - written["colors"][i]).mean() < 2.0
        assert frame.stamp == pytest.approx(i / 15.0)
        assert frame.intrinsics == INTRINSICS


def test_reading_a_frame_decodes_only_that_frame(
    written: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    seq = read_sequence(written["path"])
    opened: list[str] = []
    real_imread = cv2.imread

    def spy(path: str, *args: object) -> np.ndarray | None:
        opened.append(Path(path).name)
        return real_imread(path, *args)

    monkeypatch.setattr(cv2, "imread", spy)
    seq.frame(4)
    assert sorted(opened) == ["00000005.jpg", "00000005.png"]


def test_camera_yaml_loads_into_intrinsics(written: dict) -> None:
    assert load_intrinsics(written["path"]) == INTRINSICS
    assert load_intrinsics(written["path"] / "camera.yaml") == INTRINSICS


def test_writer_refuses_a_non_empty_folder_unless_overwrite(written: dict) -> None:
    args = ([written["colors"][0]], [written["depths"][0]], np.zeros((1, 4)), INTRINSICS, 30.0)
    with pytest.raises(FileExistsError, match="not empty"):
        write_sequence(written["path"], *args)
    write_sequence(written["path"], *args, overwrite=True)
    assert len(read_sequence(written["path"])) == 1


# ------------------------------------------------------------------------------ bad input


def test_missing_depth_frames_are_reported(written: dict) -> None:
    (written["path"] / "depth" / "00000006.png").unlink()
    with pytest.raises(SequenceError, match=r"6 color frames but 5 depth frames"):
        read_sequence(written["path"])


def test_gap_in_frame_numbers_names_the_missing_file(written: dict) -> None:
    (written["path"] / "color" / "00000003.jpg").unlink()
    with pytest.raises(SequenceError, match=r"color: missing frame\(s\) 00000003\.jpg"):
        read_sequence(written["path"])


def test_8_bit_depth_is_refused_with_the_file_name(written: dict) -> None:
    bad = written["path"] / "depth" / "00000004.png"
    cv2.imwrite(str(bad), np.full((120, 160), 7, np.uint8))
    seq = read_sequence(written["path"])  # frame 1 is fine; the fault is found on decode
    with pytest.raises(SequenceError, match=r"00000004\.png: depth must be a 16-bit PNG"):
        seq.frame(3)
    cv2.imwrite(str(written["path"] / "depth" / "00000001.png"), np.zeros((120, 160), np.uint8))
    with pytest.raises(SequenceError, match=r"00000001\.png: depth must be a 16-bit PNG"):
        read_sequence(written["path"])


def test_unequal_color_and_depth_sizes_are_refused(written: dict) -> None:
    cv2.imwrite(str(written["path"] / "depth" / "00000001.png"), np.zeros((60, 80), np.uint16))
    with pytest.raises(
        SequenceError, match=r"00000001\.png: image is 80x60, the sequence is 160x120"
    ):
        read_sequence(written["path"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1,2,3\n", r"groundtruth\.txt:1: expected 4 values, found 3"),
        ("1,2,3,4,5\n", r"expected 4 values, found 5"),
        ("1,2,3,4\n", r"1 ground-truth lines for 6 frames"),
        ("a,b,c,d\n", r"not a number"),
        ("1,nan,3,4\n" * 6, r"all nan \(absent\) or none"),
        ("1,2,-3,4\n" * 6, r"negative box width or height"),
    ],
)
def test_bad_groundtruth_is_refused(written: dict, content: str, message: str) -> None:
    (written["path"] / "groundtruth.txt").write_text(content)
    with pytest.raises(SequenceError, match=message):
        read_sequence(written["path"])


def test_bad_groundtruth_3d_is_refused(written: dict) -> None:
    (written["path"] / "groundtruth_3d.txt").write_text("1,2\n" * 6)
    with pytest.raises(SequenceError, match=r"groundtruth_3d\.txt:1: expected 3 values"):
        read_sequence(written["path"])


def test_missing_camera_yaml_is_refused_unless_intrinsics_given(written: dict) -> None:
    (written["path"] / "camera.yaml").unlink()
    with pytest.raises(SequenceError, match=r"camera\.yaml: camera file missing"):
        read_sequence(written["path"])
    seq = read_sequence(written["path"], intrinsics=INTRINSICS)
    assert seq.intrinsics == INTRINSICS and seq.fps == 30.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("fx: 1\n", r"missing key\(s\) width, height, fy, cx, cy, fps"),
        ("[1, 2]\n", r"expected a mapping"),
    ],
)
def test_bad_camera_yaml_is_refused(written: dict, content: str, message: str) -> None:
    (written["path"] / "camera.yaml").write_text(content)
    with pytest.raises(SequenceError, match=message):
        read_sequence(written["path"])


def test_camera_yaml_unknown_key_and_size_mismatch(written: dict) -> None:
    camera = written["path"] / "camera.yaml"
    camera.write_text(camera.read_text() + "fxx: 3\n")
    with pytest.raises(SequenceError, match=r"unknown key\(s\) fxx"):
        read_sequence(written["path"])
    camera.write_text(
        camera.read_text().replace("fxx: 3\n", "").replace("width: 160", "width: 320")
    )
    with pytest.raises(
        SequenceError, match=r"00000001\.jpg: image is 160x120, the sequence is 320x120"
    ):
        read_sequence(written["path"])


# ------------------------------------------------------------------------------- renderer


def test_z_buffer_keeps_the_nearer_quad_whatever_the_order() -> None:
    camera = Camera(INTRINSICS)
    red = Texture.from_image(np.full((8, 8, 3), (255, 0, 0), np.uint8))
    blue = Texture.from_image(np.full((8, 8, 3), (0, 0, 255), np.uint8))
    near = Quad(rectangle_corners(np.array([0.0, 0.0, 1.0]), 0.4, 0.4), red, Layer.OCCLUDER)
    far = Quad(rectangle_corners(np.array([0.05, 0.0, 2.0]), 1.6, 1.0), blue, Layer.TARGET)
    results = []
    for order in ((near, far), (far, near)):
        canvas = Canvas.empty(160, 120)
        for quad in order:
            render_quad(camera, quad, canvas)
        results.append(canvas)
    np.testing.assert_array_equal(results[0].color, results[1].color)
    centre = results[0]
    assert tuple(centre.color[60, 80]) == (255, 0, 0)
    assert centre.depth[60, 80] == pytest.approx(1.0, abs=1e-5)
    assert centre.labels[60, 80] == Layer.OCCLUDER
    # Left of the near quad, the far one shows, at its own depth.
    assert centre.labels[60, 30] == Layer.TARGET and centre.depth[60, 30] == pytest.approx(2.0)


def test_box_of_a_polygon_is_clipped_to_the_image() -> None:
    square = np.array([[-20.5, 10.5], [29.5, 10.5], [29.5, 40.5], [-20.5, 40.5]])
    np.testing.assert_allclose(box_from_polygon(square, 160, 120), [0, 11, 30, 30])
    assert np.isnan(box_from_polygon(square - [100, 0], 160, 120)).all()


# ------------------------------------------------------------------------------ generator


def _frames(config: SyntheticConfig) -> tuple[SyntheticSequence, list]:
    seq = SyntheticSequence(config)
    return seq, [seq.render(i) for i in range(len(seq))]


def test_boxes_match_the_projected_3d_centres() -> None:
    config = SyntheticConfig(seed=3, num_frames=24, rotation=True, depth_noise=False, **SMALL)
    seq, frames = _frames(config)
    k = seq.intrinsics
    checked = 0
    for frame in frames:
        x, y, w, h = frame.box_xywh
        inside = x > 1 and y > 1 and x + w < k.width - 1 and y + h < k.height - 1
        if not inside or frame.visible_fraction < 0.95:
            continue
        cz = frame.centre_xyz[2]
        u, v = project(*frame.centre_xyz, k)
        # Boxes use pixel-edge coordinates, projections pixel centres: half a pixel apart.
        assert abs(x + w / 2 - (u + 0.5)) < 0.01 and abs(y + h / 2 - (v + 0.5)) < 0.01
        # The depth image agrees: the target plane is at Z at the box centre.
        assert frame.depth_mm[int(y + h / 2), int(x + w / 2)] == pytest.approx(cz * 1000, abs=1)
        assert frame.labels[int(y + h / 2), int(x + w / 2)] == Layer.TARGET
        checked += 1
    assert checked >= 20


def test_out_of_view_frames_are_absent_and_the_target_returns(tmp_path: Path) -> None:
    config = preset_config("out_of_view", seed=4, num_frames=30, **SMALL)
    path = generate_sequence(config, tmp_path / "oov")
    seq = read_sequence(path)
    absent = np.isnan(seq.groundtruth).all(axis=1)
    assert absent.any() and not absent[0] and not absent[-1]
    np.testing.assert_array_equal(np.isnan(seq.groundtruth_3d).all(axis=1), absent)
    start, end = SyntheticSequence(config).scene.events["out_of_view"]
    assert np.flatnonzero(absent).min() >= start and np.flatnonzero(absent).max() < end
    assert not np.isnan(seq.groundtruth).any(axis=1)[~absent].any()


def test_occluder_is_in_front_of_the_target_where_it_covers_it() -> None:
    config = preset_config("occlusion", seed=5, num_frames=30, depth_noise=False, **SMALL)
    seq, frames = _frames(config)
    camera = seq.scene.camera
    covered_frames = 0
    for i, frame in enumerate(frames):
        polygon = camera.project(seq.scene.target.quad(i).corners)
        footprint = np.zeros(frame.labels.shape, np.uint8)
        cv2.fillConvexPoly(footprint, np.round(polygon).astype(np.int32), 1)
        covered = (footprint > 0) & (frame.labels == Layer.OCCLUDER)
        if not covered.any():
            continue
        covered_frames += 1
        target_z_mm = seq.scene.target.centres[i, 2] * 1000
        assert (frame.depth_mm[covered] < target_z_mm - 100).all()
    assert covered_frames >= 5
    # The full occlusion hides the target completely for a while: absent frames.
    assert any(np.isnan(f.box_xywh).all() for f in frames)
    assert not np.isnan(frames[0].box_xywh).any()


def test_same_seed_same_sequence_other_seed_other_sequence() -> None:
    config = preset_config("all", seed=8, num_frames=24, **SMALL)
    a, b = SyntheticSequence(config), SyntheticSequence(config)
    other = SyntheticSequence(dataclasses.replace(config, seed=9))
    for index in (0, 13):  # random access: frame 13 without rendering 0..12 first
        fa, fb, fo = a.render(index), b.render(index), other.render(index)
        np.testing.assert_array_equal(fa.color, fb.color)
        np.testing.assert_array_equal(fa.depth_mm, fb.depth_mm)
        np.testing.assert_array_equal(fa.box_xywh, fb.box_xywh)
        assert not np.array_equal(fa.color, fo.color)
        assert not np.array_equal(fa.depth_mm, fo.depth_mm)


def test_box_grows_as_the_target_approaches() -> None:
    config = preset_config("scale", seed=2, num_frames=24, depth_noise=False, **SMALL)
    _, frames = _frames(config)
    z = np.array([f.centre_xyz[2] for f in frames])
    area = np.array([f.box_xywh[2] * f.box_xywh[3] for f in frames])
    near, far = int(np.argmin(z)), int(np.argmax(z))
    assert z[far] / z[near] > 1.8
    # A fronto-parallel target's image area goes as 1/Z^2.
    assert area[near] / area[far] == pytest.approx((z[far] / z[near]) ** 2, rel=0.1)


def test_depth_noise_grows_with_distance_and_leaves_holes() -> None:
    model = DepthNoiseModel(edge_drop_prob=0.0, speckle_prob=0.0, blob_fraction=0.0)
    rng = np.random.default_rng(0)
    stds = []
    for z in (1.0, 3.0):
        noisy = model.apply(np.full((120, 160), z, np.float32), 150.0, rng).astype(float)
        stds.append(np.std(noisy - z * 1000))
    assert stds[1] / stds[0] == pytest.approx(9.0, rel=0.35)
    # A near square in front of a far wall: an invalid (0) shadow band on its left only.
    depth = np.full((120, 160), 4.0, np.float32)
    depth[40:80, 60:100] = 1.0
    noisy = DepthNoiseModel().apply(depth, 150.0, np.random.default_rng(1))
    expected_band = round(150.0 * 0.05 * (1 / 1.0 - 1 / 4.0))
    assert (noisy[45:75, 60 - expected_band : 58] == 0).mean() > 0.95
    assert (noisy[45:75, 104:110] == 0).mean() < 0.5
    assert 0 < (noisy == 0).mean() < 0.2


def test_procedural_textures_work_without_photos() -> None:
    config = SyntheticConfig(seed=1, num_frames=4, photo_textures=False, **SMALL)
    frame = SyntheticSequence(config).render(0)
    assert frame.color.std() > 10  # textured, not blank
    assert not np.isnan(frame.box_xywh).any()


def test_benchmark_suites_are_fixed_and_cover_their_options() -> None:
    suite = benchmark_suite(num_sequences=24, seed=0, num_frames=50)
    assert suite == benchmark_suite(num_sequences=24, seed=0, num_frames=50)
    assert suite != benchmark_suite(num_sequences=24, seed=1, num_frames=50)
    assert len({c.name for c in suite}) == 24 and len({c.seed for c in suite}) == 24
    for option in PLAIN_OPTIONS:
        assert any(getattr(c, option) for c in suite), option
    # The plain suite is what it was before the hard options existed.
    assert not any(getattr(c, option) for c in suite for option in HARD_OPTIONS)
    assert suite[0].name == "scale_000" and suite[8].name == "all_008"
    hard = benchmark_suite(num_sequences=18, seed=0, num_frames=50, suite="hard")
    assert hard == benchmark_suite(num_sequences=18, seed=0, num_frames=50, suite="hard")
    for option in HARD_OPTIONS:
        assert any(getattr(c, option) for c in hard), option
    assert not {c.seed for c in hard} & {c.seed for c in suite}
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("nope")
    with pytest.raises(ValueError, match="unknown suite"):
        benchmark_suite(suite="nope")


def _footprint(seq: SyntheticSequence, quad: Quad, shape: tuple[int, ...]) -> np.ndarray:
    polygon = seq.scene.camera.project(quad.corners)
    footprint = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(footprint, np.round(polygon).astype(np.int32), 1)
    return footprint > 0


def test_lookalike_crosses_in_front_and_behind_the_target() -> None:
    config = preset_config("lookalike", seed=3, num_frames=120, depth_noise=False, **SMALL)
    seq, frames = _frames(config)
    events = seq.scene.events
    lookalike = seq.scene.movers[0]
    assert lookalike.layer == Layer.DISTRACTOR
    for name, in_front in (("lookalike_front", True), ("lookalike_behind", False)):
        start, end = events[name]
        overlapping = 0
        for i in range(start, end):
            shape = frames[i].labels.shape
            target = _footprint(seq, seq.scene.target.quad(i), shape)
            if not (target & _footprint(seq, lookalike.quad(i), shape)).any():
                continue
            overlapping += 1
            nearer = lookalike.centres[i, 2] < seq.scene.target.centres[i, 2]
            assert nearer == in_front, (name, i)
        assert overlapping >= 3, name
        # In front it hides part of the target, never all of it.
        if in_front:
            middle = (start + end) // 2
            assert 0.1 < frames[middle].visible_fraction < 0.95
    # Same texture, hue turned a little: the look-alike's colours are near the target's.
    target_colour = frames[0].color[frames[0].labels == Layer.TARGET].mean(axis=0)
    twin_colour = frames[0].color[frames[0].labels == Layer.DISTRACTOR].mean(axis=0)
    assert np.abs(target_colour - twin_colour).max() < 40


def test_lookalike_waits_where_the_target_left_and_the_target_returns_nearer() -> None:
    config = preset_config("lookalike_exit", seed=7, num_frames=150, depth_noise=False, **SMALL)
    seq = SyntheticSequence(config)
    start, end = seq.scene.events["out_of_view"]
    target, lookalike = seq.scene.target.centres, seq.scene.movers[0].centres
    camera = seq.scene.camera
    # While the target is away, the look-alike stands still near the edge it left by,
    # about 0.3 m from the target's depth there.
    away = slice(start + 5, end - 5)
    assert np.ptp(lookalike[away], axis=0).max() < 0.01
    assert 0.2 < abs(lookalike[start, 2] - target[start, 2]) < 0.4
    exit_u = camera.project(target[(start + end) // 2 : (start + end) // 2 + 1])[0, 0]
    wait_u = camera.project(lookalike[away][:1])[0, 0]
    left = exit_u < 0
    assert (wait_u < 0.3 * config.width) if left else (wait_u > 0.7 * config.width)
    assert target[end + 5, 2] < target[start, 2] - 0.25


def test_low_light_dims_to_about_a_third_with_noise() -> None:
    dark = preset_config("low_light", seed=2, num_frames=60, **SMALL)
    seq = SyntheticSequence(dark)
    plain = SyntheticSequence(dataclasses.replace(dark, low_light=False))
    levels = seq.scene.low_light.levels
    spell = int(np.argmin(levels))
    assert 0.28 <= levels[spell] <= 0.38 and levels[0] == 1.0
    lit, dimmed = plain.render(spell).color.astype(float), seq.render(spell).color.astype(float)
    assert dimmed.mean() / lit.mean() == pytest.approx(levels[spell], abs=0.03)
    residual = dimmed - lit * levels[spell]
    assert 3.0 < residual.std() < 9.0  # the camera's gain noise
    np.testing.assert_array_equal(seq.render(0).color, plain.render(0).color)


def test_camera_shake_jitters_the_view_and_its_ground_truth() -> None:
    config = preset_config("shake", seed=1, num_frames=80, depth_noise=False, **SMALL)
    seq = SyntheticSequence(config)
    still = SyntheticSequence(dataclasses.replace(config, camera_shake=False))
    shake = seq.scene.camera_shake
    index = int(np.argmax(np.abs(shake.yaws)))
    shift = config.camera_intrinsics.fx * np.tan(shake.yaws[index])
    assert abs(shift) > 1.0
    shaken, calm = seq.render(index), still.render(index)
    # The ground truth moves with the view (the target stays where it is in the room).
    assert shaken.box_xywh[0] - calm.box_xywh[0] == pytest.approx(shift, abs=1.0)
    assert shaken.centre_xyz[0] != pytest.approx(calm.centre_xyz[0], abs=1e-4)
    assert np.linalg.norm(shaken.centre_xyz) == pytest.approx(np.linalg.norm(calm.centre_xyz))
    # Blurred along a nearly horizontal stroke: vertical edges soften more than horizontal.
    assert shake.blur.lengths[index] > 0 and abs(shake.blur.angles[index]) <= 0.15
    quiet = int(np.flatnonzero((shake.yaws == 0) & (shake.blur.lengths == 0))[0])
    np.testing.assert_array_equal(seq.render(quiet).color, still.render(quiet).color)


def test_too_short_for_the_events_is_an_error() -> None:
    with pytest.raises(ValueError, match="too short"):
        SyntheticSequence(preset_config("all", num_frames=12, **SMALL))


# ------------------------------------------------------------------------------ demo, CLI


def test_demo_sequence_is_generated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rgbd_tracker_ros.sequences import demo

    monkeypatch.setenv("RGBD_TRACKER_DATA", str(tmp_path))
    small = dataclasses.replace(demo.demo_config(), **SMALL)
    monkeypatch.setattr(demo, "demo_config", lambda: small)
    path = demo.demo_sequence()
    assert path == tmp_path / demo.DEMO_NAME
    seq = read_sequence(path)
    assert len(seq) == 150
    absent = np.isnan(seq.groundtruth).all(axis=1)
    # Out of view for a stretch (trackers must say LOST), then back.
    assert absent.sum() >= 8 and not absent[:40].any() and not absent[-20:].any()
    stamp = (path / "camera.yaml").stat().st_mtime_ns
    assert demo.demo_sequence() == path
    assert (path / "camera.yaml").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [demo.DEMO_NAME]  # no temp left behind


def test_make_sequence_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rgbd_tracker_ros.tools.make_sequence import main

    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    assert help_exit.value.code == 0
    assert "--preset" in capsys.readouterr().out
    out = tmp_path / "cli"
    argv = [
        str(out),
        "--preset",
        "scale",
        "--frames",
        "8",
        "--width",
        "160",
        "--height",
        "120",
        "--with",
        "distractor",
        "--without",
        "depth_noise",
        "--seed",
        "3",
        "--quiet",
    ]
    assert main(argv) == 0
    seq = read_sequence(out)
    assert len(seq) == 8 and seq.intrinsics.width == 160
    with pytest.raises(SystemExit) as exists_exit:
        main(argv)
    assert exists_exit.value.code == 2
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_exit:
        main([str(tmp_path / "x"), "--preset", "nope"])
    assert bad_exit.value.code == 2
