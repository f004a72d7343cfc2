"""Camera geometry: CameraInfo parsing, (un)distortion, back-projection, robust depth, boxes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from rgbd_tracker_ros.geometry import (
    DepthParams,
    Intrinsics,
    back_project,
    box_from_click,
    clip_box,
    intrinsics_from_camera_info,
    metric_size,
    project,
    robust_target_depth,
    transform_point,
    undistort_point,
    validate_init_box,
)

K = [615.0, 0.0, 320.0, 0.0, 612.0, 240.0, 0.0, 0.0, 1.0]
PLUMB_BOB = (0.12, -0.25, 0.001, -0.0015, 0.08)
RATIONAL = (0.3, -0.1, 0.0008, 0.0012, 0.02, 0.25, -0.05, 0.01)
EQUIDISTANT = (0.05, -0.01, 0.003, -0.001)


def _intr(distortion: tuple[float, ...] = (), model: str = "plumb_bob") -> Intrinsics:
    return intrinsics_from_camera_info(K, distortion, model, 640, 480)


# --- CameraInfo -------------------------------------------------------------------------------


def test_camera_info_fields_map_to_intrinsics():
    intr = intrinsics_from_camera_info(K, [0.0] * 5, "plumb_bob", 640, 480)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (615.0, 612.0, 320.0, 240.0)
    assert (intr.width, intr.height) == (640, 480)
    assert not intr.has_distortion
    distorted = intrinsics_from_camera_info(K, PLUMB_BOB, "plumb_bob", 640, 480)
    assert distorted.distortion == PLUMB_BOB and distorted.has_distortion


def test_camera_info_accepts_zero_distortion_under_any_model_and_empty_d():
    assert not intrinsics_from_camera_info(K, [0.0] * 5, "unknown_model", 640, 480).has_distortion
    assert not intrinsics_from_camera_info(K, [], "", 640, 480).has_distortion
    assert _intr(RATIONAL, "rational_polynomial").distortion == RATIONAL
    assert _intr(EQUIDISTANT, "equidistant").distortion_model == "equidistant"


@pytest.mark.parametrize(
    ("k", "d", "model", "size", "message"),
    [
        (K[:8], [], "plumb_bob", (640, 480), "9 values"),
        (None, [], "plumb_bob", (640, 480), "9 values"),
        ([0.0] * 9, [], "plumb_bob", (640, 480), "all zeros"),
        ([-615.0, *K[1:]], [], "plumb_bob", (640, 480), "positive"),
        ([math.nan, *K[1:]], [], "plumb_bob", (640, 480), "non-finite"),
        (K, [math.inf, 0, 0, 0, 0], "plumb_bob", (640, 480), "non-finite"),
        (K, [0.1, 0, 0, 0, 0], "fisheye_foo", (640, 480), "unsupported distortion model"),
        (K, [0.1, 0.0, 0.0], "plumb_bob", (640, 480), "needs one of"),
        (K, [0.1, 0.0, 0.0, 0.0, 0.0], "equidistant", (640, 480), "needs 4"),
        (K, [], "plumb_bob", (0, 480), "size must be positive"),
    ],
)
def test_bad_camera_info_raises_clear_error(k, d, model, size, message):
    with pytest.raises(ValueError, match=message):
        intrinsics_from_camera_info(k, d, model, *size)


def _k(fx: float = 615.0, fy: float = 612.0, cx: float = 320.0, cy: float = 240.0) -> list[float]:
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("k", "d", "size", "message"),
    [
        (_k(fx=1e-300), [], (640, 480), "focal length fx=1e-300 is implausible"),
        (_k(fy=1e308), [], (640, 480), "focal length fy=1e\\+308 is implausible"),
        (_k(fx=3.0), [], (640, 480), "focal length fx=3.0 is implausible"),
        (_k(cx=1e300), [], (640, 480), "principal point"),
        (_k(cy=-10.0), [], (640, 480), "principal point"),
        (_k(), [1e30, 0.0, 0.0, 0.0, 0.0], (640, 480), "distortion coefficient"),
        (_k(), [0.1, -2e3, 0.0, 0.0, 0.0], (640, 480), "distortion coefficient"),
        ([*_k()[:6], 0.0, 0.0, 0.0], [], (640, 480), "last row"),
        ([*_k()[:3], 5.0, *_k()[4:]], [], (640, 480), "K\\[1, 0\\]"),
        (_k(), [], (100_000, 480), "image size"),
    ],
)
def test_implausible_camera_info_is_refused_with_the_reason(k, d, size, message):
    with pytest.raises(ValueError, match=message):
        intrinsics_from_camera_info(k, d, "plumb_bob", *size)


@pytest.mark.parametrize(
    ("r", "p", "message"),
    [
        ([1.0] * 8, None, "R must have 9 values"),
        (None, [0.0] * 11, "P must have 12 values"),
        ([math.nan, *[0.0] * 8], None, "R has non-finite values"),
        (None, [math.inf, *[0.0] * 11], "P has non-finite values"),
    ],
)
def test_camera_info_r_and_p_need_their_shapes(r, p, message):
    with pytest.raises(ValueError, match=message):
        intrinsics_from_camera_info(K, [], "plumb_bob", 640, 480, r=r, p=p)


def test_plausible_camera_infos_are_accepted():
    # Wide (fisheye) and narrow (tele) lenses, a principal point off centre, a calibration's
    # rational-polynomial coefficients, identity R and a P that matches K.
    for fx in (0.05 * 640, 50.0 * 640):
        assert intrinsics_from_camera_info(_k(fx=fx, fy=fx), [], "plumb_bob", 640, 480).fx == fx
    assert intrinsics_from_camera_info(_k(cx=600.0, cy=10.0), [], "", 640, 480).cx == 600.0
    big = (12.0, -40.0, 0.001, 0.002, 90.0, 11.5, -38.0, 85.0)
    identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    p = [615.0, 0.0, 320.0, 0.0, 0.0, 612.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    intr = intrinsics_from_camera_info(K, big, "rational_polynomial", 640, 480, r=identity, p=p)
    assert intr.distortion == big


# --- projection -------------------------------------------------------------------------------


def test_back_project_pinhole_values():
    intr = _intr()
    x, y, z = back_project(320.0 + 615.0 * 0.5, 240.0 - 612.0 * 0.25, 2.0, intr)
    assert (x, y, z) == pytest.approx((1.0, -0.5, 2.0))
    assert project(1.0, -0.5, 2.0, intr) == pytest.approx((627.5, 87.0))


def _grid() -> list[tuple[float, float]]:
    return [(u, v) for u in (3.0, 100.5, 320.0, 500.0, 636.0) for v in (2.0, 240.0, 477.0)]


@pytest.mark.parametrize(
    ("distortion", "model"),
    [((), "plumb_bob"), (PLUMB_BOB, "plumb_bob"), (RATIONAL, "rational_polynomial"),
     (EQUIDISTANT, "equidistant")],
)  # fmt: skip
def test_project_inverts_back_project(distortion, model):
    intr = _intr(distortion, model)
    for u, v in _grid():
        point = back_project(u, v, 1.7, intr)
        assert point[2] == 1.7
        assert project(*point, intr) == pytest.approx((u, v), abs=1e-3)


def test_distortion_changes_back_projection_where_it_should():
    plain, distorted = _intr(), _intr(PLUMB_BOB)
    assert back_project(320.0, 240.0, 2.0, distorted) == pytest.approx((0.0, 0.0, 2.0))
    corner_plain = back_project(5.0, 5.0, 2.0, plain)
    corner_distorted = back_project(5.0, 5.0, 2.0, distorted)
    assert abs(corner_plain[0] - corner_distorted[0]) > 0.01


@pytest.mark.parametrize(
    ("distortion", "model"), [(PLUMB_BOB, "plumb_bob"), (EQUIDISTANT, "equidistant")]
)
def test_undistort_point_matches_opencv_projection(distortion, model):
    """A 3D point projected by OpenCV with distortion undistorts to its pinhole projection."""
    intr = _intr(distortion, model)
    k_matrix = np.array(K, dtype=np.float64).reshape(3, 3)
    coeffs = np.array(distortion, dtype=np.float64)
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(-0.5, 0.5, 20), rng.uniform(-0.35, 0.35, 20),
                              rng.uniform(0.8, 3.0, 20)])  # fmt: skip
    zero = np.zeros(3)
    if model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(points[None], zero, zero, k_matrix, coeffs)
    else:
        pixels, _ = cv2.projectPoints(points, zero, zero, k_matrix, coeffs)
    for (x, y, z), (u, v) in zip(points, pixels.reshape(-1, 2), strict=True):
        ideal = (615.0 * x / z + 320.0, 612.0 * y / z + 240.0)
        assert undistort_point(u, v, intr) == pytest.approx(ideal, abs=1e-3)


def test_undistort_is_identity_without_distortion():
    assert undistort_point(12.25, 400.5, _intr()) == (12.25, 400.5)


def test_metric_size_and_invalid_depth():
    intr = _intr()
    assert metric_size(123.0, 61.2, 2.5, intr) == pytest.approx((0.5, 0.25))
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            back_project(10.0, 10.0, bad, intr)
    with pytest.raises(ValueError):
        project(0.0, 0.0, 0.0, intr)


# --- robust depth -----------------------------------------------------------------------------


def _target_scene(
    rng: np.random.Generator,
    target_z: float = 1.5,
    background_z: float = 4.0,
    hole_fraction: float = 0.2,
    noise: float = 0.004,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A 200x160 box whose middle ~60 % is a target plane, the rest background, with holes."""
    depth = np.full((240, 320), background_z, dtype=np.float32)
    box = (60.0, 40.0, 200.0, 160.0)
    # Target: 155x124 px centred in the box = 60 % of its area.
    depth[58:182, 82:237] = target_z
    depth += rng.normal(0.0, noise, depth.shape).astype(np.float32)
    holes = rng.random(depth.shape) < hole_fraction
    depth[holes] = 0.0
    return depth, box


def test_robust_depth_ignores_background_and_holes():
    rng = np.random.default_rng(0)
    depth, box = _target_scene(rng)
    estimate = robust_target_depth(depth, box)
    assert estimate is not None
    assert abs(estimate.depth - 1.5) < 0.02
    assert 0.7 < estimate.valid_fraction < 0.9
    assert estimate.spread < 0.02
    x, y, w, h = (int(c) for c in box)
    region = depth[y : y + h, x : x + w]
    plain_mean = float(region[region > 0].mean())
    assert abs(plain_mean - 1.5) > 0.5  # what a naive estimator would report


def test_robust_depth_when_background_is_close_and_larger():
    """A target 15 cm in front of a wall that fills 3/4 of the region read: still the target."""
    rng = np.random.default_rng(1)
    depth = np.full((100, 100), 1.65, dtype=np.float32)
    depth[42:58, 40:60] = 1.5
    depth *= 1.0 + rng.normal(0.0, 0.004, depth.shape).astype(np.float32)
    estimate = robust_target_depth(depth, (20.0, 20.0, 60.0, 60.0))
    assert estimate is not None
    assert estimate.num_valid == 36 * 36
    assert abs(estimate.depth - 1.5) < 0.01
    assert estimate.num_inliers < 0.3 * estimate.num_valid  # the wall was left out


def test_robust_depth_ignores_small_foreground_specks_and_invalid_values():
    rng = np.random.default_rng(2)
    depth, box = _target_scene(rng, hole_fraction=0.1)
    specks = rng.random(depth.shape) < 0.05
    depth[specks] = 0.6  # flying pixels / a thin wire in front
    depth[rng.random(depth.shape) < 0.05] = np.nan
    depth[rng.random(depth.shape) < 0.02] = np.inf
    depth[rng.random(depth.shape) < 0.02] = 50.0  # beyond max range
    estimate = robust_target_depth(depth, box)
    assert estimate is not None
    assert abs(estimate.depth - 1.5) < 0.02


def test_robust_depth_of_a_slanted_target_is_its_centre_depth():
    depth = np.zeros((240, 320), dtype=np.float32)
    columns = np.arange(320, dtype=np.float32)
    depth[:, :] = 2.0 + (columns - 160.0) * 0.002  # 1.68 m .. 2.32 m across the image
    estimate = robust_target_depth(depth, (110.0, 70.0, 100.0, 100.0))
    assert estimate is not None
    assert abs(estimate.depth - 2.0) < 0.02


def test_robust_depth_none_without_enough_valid_pixels():
    rng = np.random.default_rng(4)
    depth, box = _target_scene(rng, hole_fraction=0.995)
    assert robust_target_depth(depth, box) is None
    assert robust_target_depth(np.zeros((50, 50), np.float32), (10, 10, 20, 20)) is None
    assert robust_target_depth(np.full((50, 50), np.nan, np.float32), (10, 10, 20, 20)) is None
    assert robust_target_depth(np.full((50, 50), 2.0, np.float32), (100, 100, 20, 20)) is None
    few = np.zeros((50, 50), np.float32)
    few[25, 25] = 2.0
    assert robust_target_depth(few, (10, 10, 30, 30), DepthParams(min_valid_pixels=2)) is None
    with pytest.raises(ValueError, match="finite"):
        robust_target_depth(few, (math.nan, 0, 10, 10))


@pytest.mark.parametrize("scale_change", [False, True])
def test_robust_depth_matches_synthetic_ground_truth(scale_change):
    """On the synthetic generator's frames (RealSense-like depth noise, the target between
    ~1.2 and 3 m in front of a textured room), the ground-truth box's robust depth
    back-projects to the ground-truth 3D centre within 3 cm."""
    from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, SyntheticSequence

    config = SyntheticConfig(
        seed=5, num_frames=16, width=320, height=240, photo_textures=False,
        scale_change=scale_change, depth_noise=True,
    )  # fmt: skip
    sequence = SyntheticSequence(config)
    errors = []
    for frame in sequence:
        if np.isnan(frame.box_xywh).any() or frame.visible_fraction < 0.95:
            continue  # clipped or hidden: the box centre is not the target centre
        depth = frame.depth_mm.astype(np.float32) * 0.001
        estimate = robust_target_depth(depth, frame.box_xywh)
        assert estimate is not None
        x, y, w, h = frame.box_xywh
        position = back_project(x + w / 2, y + h / 2, estimate.depth, sequence.intrinsics)
        errors.append(float(np.linalg.norm(np.subtract(position, frame.centre_xyz))))
    assert len(errors) >= 12
    assert max(errors) < 0.03


# --- boxes ------------------------------------------------------------------------------------


def test_clip_box():
    assert clip_box((-10, -5, 30, 20), 100, 50) == (0.0, 0.0, 20.0, 15.0)
    assert clip_box((90, 40, 30, 20), 100, 50) == (90.0, 40.0, 10.0, 10.0)
    assert clip_box((10, 10, 5, 5), 100, 50) == (10.0, 10.0, 5.0, 5.0)
    assert clip_box((100, 10, 5, 5), 100, 50) is None
    assert clip_box((10, math.nan, 5, 5), 100, 50) is None


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((1, 2, 3), "4 values"),
        ((math.nan, 2, 30, 30), "non-finite"),
        ((10, 10, math.inf, 30), "non-finite"),
        ((10, 10, 0, 30), "positive"),
        ((10, 10, 30, -3), "positive"),
        ((700, 10, 30, 30), "does not overlap"),
        ((-40, -40, 30, 30), "does not overlap"),
        ((639, 10, 30, 30), "smaller than"),
    ],
)
def test_validate_init_box_rejects(box, message):
    clipped, reason = validate_init_box(box, 640, 480)
    assert clipped is None
    assert message in reason


def test_validate_init_box_accepts_and_clips():
    assert validate_init_box((10, 20, 30, 40), 640, 480) == ((10.0, 20.0, 30.0, 40.0), "")
    clipped, reason = validate_init_box((600, 450, 100, 100), 640, 480)
    assert clipped == (600.0, 450.0, 40.0, 30.0)
    assert "clipped" in reason


def _object_scene() -> tuple[np.ndarray, Intrinsics]:
    intr = Intrinsics(fx=300.0, fy=300.0, cx=160.0, cy=120.0, width=320, height=240)
    depth = np.full((240, 320), 3.0, dtype=np.float32)
    depth[200:, :] = 0.0  # no reading near the bottom
    depth[60:140, 100:180] = 1.0  # the object: 80x80 px
    depth[95:105, 135:145] = 0.0  # a hole in it
    return depth, intr


def test_box_from_click_finds_the_object():
    depth, intr = _object_scene()
    assert box_from_click(depth, 120.0, 80.0, intr) == (100.0, 60.0, 80.0, 80.0)
    # A click in the hole inside the object still finds it.
    assert box_from_click(depth, 139.0, 99.0, intr, seed_radius=6) == (100.0, 60.0, 80.0, 80.0)


def test_box_from_click_falls_back_to_default_size_without_depth():
    depth, intr = _object_scene()
    assert box_from_click(depth, 50.0, 220.0, intr, default_size=40.0) == (30.0, 200.0, 40.0, 40.0)
    box = box_from_click(depth, 5.0, 235.0, intr, default_size=40.0)
    assert box == (0.0, 215.0, 25.0, 25.0)  # clipped to the image
    assert box_from_click(None, 50.0, 50.0, intr, default_size=20.0) == (40.0, 40.0, 20.0, 20.0)


def test_box_from_click_on_a_wall_is_limited_in_size():
    depth, intr = _object_scene()
    x, y, w, h = box_from_click(depth, 260.0, 100.0, intr, max_extent_m=0.5)
    # 0.5 m at 3 m with f=300 px is 50 px.
    assert w <= 52 and h <= 52
    assert x <= 260.0 <= x + w and y <= 100.0 <= y + h


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"depth_tolerance": -0.1}, "depth_tolerance"),
        ({"depth_tolerance": math.nan}, "depth_tolerance"),
        ({"max_extent_m": 0.0}, "max_extent_m"),
        ({"seed_radius": -1}, "seed_radius"),
        ({"default_size": math.inf}, "default box size"),
        ({"min_depth_m": 5.0, "max_depth_m": 1.0}, "min_depth_m"),
    ],
)
def test_box_from_click_refuses_bad_arguments_with_a_value_error(arguments, message):
    depth, intr = _object_scene()
    with pytest.raises(ValueError, match=message):
        box_from_click(depth, 120.0, 80.0, intr, **arguments)


@pytest.mark.parametrize("focal", [1e308, 1e-300, 1e-3])
def test_box_from_click_with_an_extreme_focal_length_stays_in_the_image(focal):
    depth, _ = _object_scene()
    depth[depth == 1.0] = 0.2  # a near object: the window in pixels overflows a float
    intr = Intrinsics(fx=focal, fy=focal, cx=160.0, cy=120.0, width=320, height=240)
    x, y, w, h = box_from_click(depth, 120.0, 80.0, intr)
    assert 0.0 <= x < x + w <= 320.0 and 0.0 <= y < y + h <= 240.0
    assert x <= 120.0 <= x + w and y <= 80.0 <= y + h


def test_box_from_click_outside_image_raises():
    depth, intr = _object_scene()
    with pytest.raises(ValueError, match="outside"):
        box_from_click(depth, 320.0, 10.0, intr)


def test_a_box_inside_the_image_is_not_reported_as_clipped():
    from rgbd_tracker_ros.geometry import validate_init_box

    box = (60.3, 40.7, 40.1, 30.9)
    assert validate_init_box(box, 160, 120) == (box, "")


def test_transform_point_rotates_then_translates():
    assert transform_point((1.0, 2.0, 3.0), (0.0, 0.0, 0.0), (0, 0, 0, 1)) == (1.0, 2.0, 3.0)
    half = math.sqrt(0.5)
    # 90 degrees about z: x -> y, then shifted.
    moved = transform_point((1.0, 0.0, 0.0), (0.5, 0.0, -1.0), (0, 0, half, half))
    assert moved == pytest.approx((0.5, 1.0, -1.0))
    # An unnormalised quaternion is the same rotation.
    assert transform_point((1.0, 0.0, 0.0), (0, 0, 0), (0, 0, 3.0, 3.0)) == pytest.approx(
        (0.0, 1.0, 0.0)
    )


def test_transform_point_camera_link_to_optical_frame():
    """RealSense's camera_link (x forward, z up) to the optical frame (z forward, y down)."""
    link_to_optical = (0.5, -0.5, 0.5, 0.5)  # the inverse of the optical frame's pose
    forward_up_left = (2.0, 0.3, 0.1)  # 2 m ahead, 0.3 m left, 0.1 m up
    assert transform_point(forward_up_left, (0, 0, 0), link_to_optical) == pytest.approx(
        (-0.3, -0.1, 2.0)
    )


def test_transform_point_rejects_a_zero_quaternion():
    with pytest.raises(ValueError, match="quaternion"):
        transform_point((1.0, 0.0, 0.0), (0, 0, 0), (0, 0, 0, 0))


def test_robust_depth_takes_the_surface_nearest_the_expected_depth_when_asked() -> None:
    # A board at 1.5 m still covers the left 40 % of a target at 2.2 m (a wall behind at 4 m):
    # the nearest sizeable surface is the board's, the one nearest 2.1 m the target's.
    depth = np.full((100, 100), 4.0, np.float32)
    depth[20:80, 20:80] = 2.2
    depth[20:80, 20:44] = 1.5
    box = (20.0, 20.0, 60.0, 60.0)
    assert robust_target_depth(depth, box).depth == pytest.approx(1.5)
    assert robust_target_depth(depth, box, expected_m=2.1).depth == pytest.approx(2.2)
    assert robust_target_depth(depth, box, expected_m=1.3).depth == pytest.approx(1.5)
