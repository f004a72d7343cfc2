"""Camera geometry, ROS-free: intrinsics, back-projection, robust target depth.

Coordinates follow the ROS optical-frame convention (X right, Y down, Z forward, metres) and
boxes are ``(x, y, w, h)`` in color-image pixels with ``(x, y)`` the top-left corner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

BoxXYWH = tuple[float, float, float, float]

# Distortion models of ROS CameraInfo that OpenCV can invert, with the coefficient counts each
# accepts: plumb_bob / rational_polynomial go to cv2.undistortPoints (k1 k2 p1 p2 [k3 [k4 k5
# k6 [s1..s4 [tx ty]]]]), equidistant to cv2.fisheye (k1..k4).
_STANDARD_MODELS = ("plumb_bob", "rational_polynomial")
_STANDARD_LENGTHS = (4, 5, 8, 12, 14)
_FISHEYE_MODEL = "equidistant"

# 1.4826 * MAD estimates the standard deviation of normally distributed data.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the color camera (aligned depth shares them).

    ``distortion`` follows ROS CameraInfo ``D`` for ``distortion_model`` (``plumb_bob`` /
    ``rational_polynomial``: k1 k2 p1 p2 k3 [k4 k5 k6]); empty or all-zero means none.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0
    distortion: tuple[float, ...] = field(default_factory=tuple)
    distortion_model: str = "plumb_bob"

    @property
    def has_distortion(self) -> bool:
        return any(abs(c) > 0.0 for c in self.distortion)

    @classmethod
    def d435_640x480(cls) -> Intrinsics:
        """Typical RealSense D435 color intrinsics at 640x480 (the synthetic camera's default)."""
        return cls(fx=615.0, fy=615.0, cx=320.0, cy=240.0, width=640, height=480)


# What a real camera's calibration can look like, so that a corrupt or hostile camera_info is
# refused before it turns into absurd 3D positions. Focal lengths in pixels relative to the image's
# longer side: 0.02 is a 175-degree pinhole field of view (fisheye lenses have larger f for the
# same view), 100 a 0.6-degree telephoto. Calibrated distortion coefficients stay within tens
# (rational-polynomial fits reach ~100); 1e3 leaves room and still bounds the (un)distortion.
# The principal point lies inside the image; images larger than 16384 px a side are no camera's.
FOCAL_RANGE_PER_PIXEL = (0.02, 100.0)
MAX_DISTORTION_COEFFICIENT = 1e3
MAX_IMAGE_SIDE = 16384


def _finite_values(name: str, values: Sequence[float] | None, size: int | None) -> np.ndarray:
    array = np.asarray(list(values) if values is not None else [], dtype=np.float64).reshape(-1)
    if size is not None and array.size != size:
        raise ValueError(f"camera_info {name} must have {size} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"camera_info {name} has non-finite values: {array.tolist()}")
    return array


def intrinsics_from_camera_info(
    k: Sequence[float] | None,
    d: Sequence[float] | None,
    distortion_model: str,
    width: int,
    height: int,
    r: Sequence[float] | None = None,
    p: Sequence[float] | None = None,
) -> Intrinsics:
    """Intrinsics from the fields of a ROS ``sensor_msgs/CameraInfo`` (K row-major, D, model).

    Raises ``ValueError`` naming the problem, because an uncalibrated, corrupt or hostile
    camera_info would otherwise turn into silently wrong (or non-finite) 3D positions: K must be
    a pinhole matrix whose focal lengths and principal point are plausible for the image size
    (``FOCAL_RANGE_PER_PIXEL``, inside the image), distortion coefficients finite and at most
    ``MAX_DISTORTION_COEFFICIENT`` in magnitude, R and P (when given) 9 and 12 finite values.
    An all-zero ``D`` is accepted whatever the model says (no distortion to undo); non-zero
    coefficients need a model listed in the module's supported set.
    """
    if not (0 < int(width) <= MAX_IMAGE_SIDE and 0 < int(height) <= MAX_IMAGE_SIDE):
        raise ValueError(
            f"camera_info image size must be positive and at most {MAX_IMAGE_SIDE} px a side, "
            f"got {width}x{height}"
        )
    k_values = _finite_values("K", k, 9)
    if not np.any(k_values):
        raise ValueError("camera_info K is all zeros (camera not calibrated or info not filled)")
    if k_values[3] != 0.0 or tuple(k_values[6:]) != (0.0, 0.0, 1.0):
        raise ValueError(
            f"camera_info K is not a pinhole matrix: K[1, 0] must be 0 and its last row 0 0 1, "
            f"got {k_values.reshape(3, 3).tolist()}"
        )
    fx, cx, fy, cy = (float(k_values[i]) for i in (0, 2, 4, 5))
    if fx <= 0.0 or fy <= 0.0:
        raise ValueError(f"camera_info focal lengths must be positive, got fx={fx}, fy={fy}")
    side = float(max(width, height))
    low, high = (side * limit for limit in FOCAL_RANGE_PER_PIXEL)
    for name, focal in (("fx", fx), ("fy", fy)):
        if not low <= focal <= high:
            raise ValueError(
                f"camera_info focal length {name}={focal} is implausible for a {width}x{height} "
                f"image (expected {low:g} to {high:g} px)"
            )
    if not (0.0 <= cx <= width and 0.0 <= cy <= height):
        raise ValueError(
            f"camera_info principal point ({cx}, {cy}) lies outside the {width}x{height} image"
        )
    for name, values, size in (("R", r, 9), ("P", p, 12)):
        if values is not None:
            _finite_values(name, values, size)

    d_values = _finite_values("D", d, None)
    largest = float(np.max(np.abs(d_values))) if d_values.size else 0.0
    if largest > MAX_DISTORTION_COEFFICIENT:
        raise ValueError(
            f"camera_info distortion coefficient of magnitude {largest:g} is implausible "
            f"(at most {MAX_DISTORTION_COEFFICIENT:g})"
        )
    model = (distortion_model or "").strip()
    if np.any(d_values):
        if model in _STANDARD_MODELS:
            if d_values.size not in _STANDARD_LENGTHS:
                raise ValueError(
                    f"camera_info D has {d_values.size} values; distortion model {model!r} "
                    f"needs one of {_STANDARD_LENGTHS}"
                )
        elif model == _FISHEYE_MODEL:
            if d_values.size != 4:
                raise ValueError(
                    f"camera_info D has {d_values.size} values; 'equidistant' needs 4 (k1..k4)"
                )
        else:
            raise ValueError(
                f"unsupported distortion model {model!r} with non-zero D; supported: "
                f"{', '.join((*_STANDARD_MODELS, _FISHEYE_MODEL))}"
            )
        distortion = tuple(float(c) for c in d_values)
    else:
        distortion = ()
    return Intrinsics(
        fx=fx,
        fy=fy,
        cx=cx,
        cy=cy,
        width=int(width),
        height=int(height),
        distortion=distortion,
        distortion_model=model or "plumb_bob",
    )


def _camera_matrix(intr: Intrinsics) -> np.ndarray:
    return np.array(
        [[intr.fx, 0.0, intr.cx], [0.0, intr.fy, intr.cy], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def _is_fisheye(intr: Intrinsics) -> bool:
    return intr.distortion_model == _FISHEYE_MODEL


def undistort_point(u: float, v: float, intr: Intrinsics) -> tuple[float, float]:
    """Where pixel ``(u, v)`` of the distorted image lands in the ideal pinhole image (same K)."""
    if not intr.has_distortion:
        return float(u), float(v)
    points = np.array([[[u, v]]], dtype=np.float64)
    k_matrix = _camera_matrix(intr)
    coeffs = np.asarray(intr.distortion, dtype=np.float64)
    if _is_fisheye(intr):
        ideal = cv2.fisheye.undistortPoints(points, k_matrix, coeffs, P=k_matrix)
    else:
        ideal = cv2.undistortPoints(points, k_matrix, coeffs, P=k_matrix)
    return float(ideal[0, 0, 0]), float(ideal[0, 0, 1])


def back_project(u: float, v: float, z: float, intr: Intrinsics) -> tuple[float, float, float]:
    """The 3D point (color optical frame, metres) seen at pixel ``(u, v)`` at depth ``z``.

    ``z`` is the depth along the optical axis, as depth cameras report it (not the ray length).
    """
    if not (math.isfinite(z) and z > 0.0):
        raise ValueError(f"depth must be finite and positive to back-project, got {z}")
    ux, vy = undistort_point(u, v, intr)
    return (ux - intr.cx) * z / intr.fx, (vy - intr.cy) * z / intr.fy, float(z)


def box_position(
    box_xywh: Sequence[float], z: float, intr: Intrinsics
) -> tuple[float, float, float]:
    """The target's 3D centre: the box centre back-projected at the target depth ``z``.

    The one definition of "where the target is" shared by the node and the evaluation.
    """
    x, y, w, h = box_xywh
    return back_project(x + 0.5 * w, y + 0.5 * h, z, intr)


def project(x: float, y: float, z: float, intr: Intrinsics) -> tuple[float, float]:
    """The pixel (distorted image) where the optical-frame point ``(x, y, z)`` is seen."""
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z) and z > 0.0):
        raise ValueError(f"point must be finite and in front of the camera, got {(x, y, z)}")
    if not intr.has_distortion:
        return intr.fx * x / z + intr.cx, intr.fy * y / z + intr.cy
    point = np.array([[[x, y, z]]], dtype=np.float64)
    zero = np.zeros(3, dtype=np.float64)
    k_matrix = _camera_matrix(intr)
    coeffs = np.asarray(intr.distortion, dtype=np.float64)
    if _is_fisheye(intr):
        pixels, _ = cv2.fisheye.projectPoints(point, zero, zero, k_matrix, coeffs)
    else:
        pixels, _ = cv2.projectPoints(point, zero, zero, k_matrix, coeffs)
    return float(pixels.reshape(-1)[0]), float(pixels.reshape(-1)[1])


def transform_point(
    point: Sequence[float], translation: Sequence[float], rotation_xyzw: Sequence[float]
) -> tuple[float, float, float]:
    """``point`` expressed in the frame a transform maps into: ``R(q) @ p + t``.

    ``rotation_xyzw`` is a (not necessarily normalised) quaternion in ROS order, as in
    ``geometry_msgs/Transform``; tf2's ``lookup_transform(target, source)`` gives the one
    that takes source-frame points to the target frame.
    """
    q = np.asarray(rotation_xyzw, dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not (math.isfinite(norm) and norm > 0.0):
        raise ValueError(f"rotation quaternion must be finite and non-zero, got {tuple(q)}")
    x, y, z, w = q / norm
    rotation = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    moved = rotation @ np.asarray(point, dtype=np.float64) + np.asarray(translation, np.float64)
    return float(moved[0]), float(moved[1]), float(moved[2])


def metric_size(box_w: float, box_h: float, z: float, intr: Intrinsics) -> tuple[float, float]:
    """Width and height in metres of a box of ``box_w`` x ``box_h`` pixels at depth ``z``.

    Pinhole scaling only: lens distortion changes this by well under a percent near the image
    centre, far below the error of the box itself.
    """
    if not (math.isfinite(z) and z > 0.0):
        raise ValueError(f"depth must be finite and positive, got {z}")
    return abs(box_w) * z / intr.fx, abs(box_h) * z / intr.fy


# --- boxes ------------------------------------------------------------------------------------


def _finite_box(box: Sequence[float]) -> BoxXYWH | None:
    if len(box) != 4:
        return None
    x, y, w, h = (float(c) for c in box)
    if not all(math.isfinite(c) for c in (x, y, w, h)):
        return None
    return x, y, w, h


def clip_box(box: Sequence[float], width: int, height: int) -> BoxXYWH | None:
    """``box`` intersected with the image, or None when nothing of it lies inside (or NaN)."""
    values = _finite_box(box)
    if values is None:
        return None
    x, y, w, h = values
    if x >= 0.0 and y >= 0.0 and x + w <= width and y + h <= height and w > 0.0 and h > 0.0:
        return values  # already inside: no x1 - x0 round trip, so "clipped" stays exact
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def validate_init_box(
    box: Sequence[float], width: int, height: int, min_size: float = 2.0
) -> tuple[BoxXYWH | None, str]:
    """Check a requested init box: ``(clipped box, "")`` or ``(None, reason)``.

    ``reason`` is also set (with the box returned) when the box had to be clipped, so a
    service can tell the caller what it did with the request.
    """
    if len(box) != 4:
        return None, f"box must have 4 values (x, y, w, h), got {len(box)}"
    values = _finite_box(box)
    if values is None:
        return None, f"box has non-finite values: {list(box)}"
    if values[2] <= 0.0 or values[3] <= 0.0:
        return None, f"box size must be positive, got w={values[2]}, h={values[3]}"
    clipped = clip_box(values, width, height)
    if clipped is None:
        return None, f"box {list(values)} does not overlap the {width}x{height} image"
    if clipped[2] < min_size or clipped[3] < min_size:
        return None, (
            f"box inside the image is {clipped[2]:.1f}x{clipped[3]:.1f} px, "
            f"smaller than {min_size} px"
        )
    if clipped != values:
        return clipped, f"box clipped to the {width}x{height} image"
    return clipped, ""


# --- depth ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthParams:
    """How ``robust_target_depth`` reads the depth inside a box.

    ``central_fraction``: share of the box width/height (centred) that is read, because box
    corners are mostly background. ``min_depth_m``/``max_depth_m``: the camera's trusted range in
    metres. ``min_valid_pixels``/``min_valid_fraction``: below these no estimate is given.
    ``cluster_width``: relative half-width of the depth window in which a surface's pixels
    are gathered (0.05 = +-5 % of the depth, a few cm at 1-2 m, wider than sensor noise,
    narrower than the usual gap to the background). ``min_cluster_share``: the nearest
    cluster holding at least this share of the valid pixels is the target (smaller clusters in
    front, such as flying pixels at edges, are ignored). ``mad_gate``: inliers lie within this
    many robust sigmas of the cluster median. ``bin_width``: relative histogram bin size.
    """

    central_fraction: float = 0.6
    min_depth_m: float = 0.1
    max_depth_m: float = 10.0
    min_valid_pixels: int = 16
    min_valid_fraction: float = 0.05
    cluster_width: float = 0.05
    min_cluster_share: float = 0.2
    mad_gate: float = 3.0
    bin_width: float = 0.01


@dataclass(frozen=True)
class DepthEstimate:
    """The target's depth (metres) from the pixels of its box.

    ``num_valid``/``valid_fraction``: valid depth pixels in the region read and their share of
    it; ``num_inliers``: pixels that formed the estimate; ``spread``: their robust standard
    deviation (metres), a noise/confidence cue.
    """

    depth: float
    num_valid: int
    valid_fraction: float
    num_inliers: int
    spread: float


def _central_region(box: BoxXYWH, fraction: float, width: int, height: int) -> tuple[int, ...]:
    x, y, w, h = box
    cx, cy = x + 0.5 * w, y + 0.5 * h
    half_w, half_h = 0.5 * w * fraction, 0.5 * h * fraction
    x0 = max(math.floor(cx - half_w), 0)
    y0 = max(math.floor(cy - half_h), 0)
    x1 = min(math.ceil(cx + half_w), width)
    y1 = min(math.ceil(cy + half_h), height)
    return x0, y0, x1, y1


def valid_depth_mask(depth_m: np.ndarray, min_depth_m: float, max_depth_m: float) -> np.ndarray:
    """True where ``depth_m`` holds a usable reading (finite and inside the trusted range)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth_m) & (depth_m > min_depth_m) & (depth_m < max_depth_m)


def robust_target_depth(
    depth_m: np.ndarray,
    box_xywh: Sequence[float],
    params: DepthParams | None = None,
    expected_m: float | None = None,
) -> DepthEstimate | None:
    """Depth of the target in ``box_xywh``, or None when the box holds too little valid depth.

    Method: read the central part of the box; keep valid readings; histogram them in
    log-depth (so a bin is a fixed share of the depth, matching how stereo noise grows); slide
    a window of +-``cluster_width`` over it and take the nearest window position whose
    pixels reach ``min_cluster_share`` of the valid ones: it holds the front surface that
    fills a fair part of the box and nothing far behind it. That surface's mode (the densest
    bin there) centres a +-``cluster_width`` cluster whose median, refined by a MAD gate, is
    the depth. Background behind the target and small foreground specks therefore do not pull
    the estimate, and holes are simply absent; a plain mean over the box would land between
    target and wall. Surfaces less than about ``1.5 * cluster_width`` apart in depth are not
    told apart. With ``expected_m`` (where the target should be), the sizeable surface nearest
    that depth is taken instead of the nearest one: an occluder still in front of part of a
    target found again is not taken for it.
    """
    p = params or DepthParams()
    if depth_m.ndim != 2:
        raise ValueError(f"depth image must be HxW, got shape {depth_m.shape}")
    box = _finite_box(box_xywh)
    if box is None:
        raise ValueError(f"box must be 4 finite values, got {list(box_xywh)}")
    height, width = depth_m.shape
    x0, y0, x1, y1 = _central_region(box, p.central_fraction, width, height)
    if x1 <= x0 or y1 <= y0:
        return None
    region = depth_m[y0:y1, x0:x1]
    values = region[valid_depth_mask(region, p.min_depth_m, p.max_depth_m)].astype(np.float64)
    num_valid = int(values.size)
    valid_fraction = num_valid / float(region.size)
    if num_valid < p.min_valid_pixels or valid_fraction < p.min_valid_fraction:
        return None

    logs = np.log(values)
    bin_size = math.log1p(p.bin_width)
    lo = float(logs.min())
    num_bins = int((float(logs.max()) - lo) / bin_size) + 1
    counts = np.bincount(((logs - lo) / bin_size).astype(np.int64), minlength=num_bins)
    half = max(round(math.log1p(p.cluster_width) / bin_size), 1)
    window = np.ones(2 * half + 1, dtype=np.int64)
    mass = np.convolve(counts, window, mode="full")[half : half + num_bins]  # centred sums
    threshold = min(p.min_cluster_share * num_valid, float(mass.max()))
    # The first window holding enough pixels covers the nearest sizeable surface and nothing
    # behind it; that surface's mode is the densest bin (lightly smoothed) in the window.
    sizeable = mass >= threshold
    first = int(np.argmax(sizeable))
    if expected_m is not None and math.isfinite(expected_m) and expected_m > 0.0:
        offsets = np.abs(lo + (np.arange(num_bins) + 0.5) * bin_size - math.log(expected_m))
        first = int(np.argmin(np.where(sizeable, offsets, np.inf)))
    smooth = np.convolve(counts, np.ones(3, dtype=np.int64), mode="full")[1 : 1 + num_bins]
    lo_bin, hi_bin = max(first - half, 0), min(first + half + 1, num_bins)
    mode = lo_bin + int(np.argmax(smooth[lo_bin:hi_bin]))
    centre = lo + (mode + 0.5) * bin_size
    cluster = values[np.abs(logs - centre) <= (half + 0.5) * bin_size]

    median = float(np.median(cluster))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(cluster - median)))
    gate = max(p.mad_gate * sigma, p.bin_width * median)
    inliers = cluster[np.abs(cluster - median) <= gate]
    depth = float(np.median(inliers))
    spread = _MAD_TO_SIGMA * float(np.median(np.abs(inliers - depth)))
    return DepthEstimate(
        depth=depth,
        num_valid=num_valid,
        valid_fraction=valid_fraction,
        num_inliers=int(inliers.size),
        spread=spread,
    )


def box_from_click(
    depth_m: np.ndarray | None,
    u: float,
    v: float,
    intr: Intrinsics,
    *,
    default_size: float = 80.0,
    depth_tolerance: float = 0.08,
    max_extent_m: float = 1.0,
    min_size: float = 8.0,
    seed_radius: int = 3,
    min_depth_m: float = 0.1,
    max_depth_m: float = 10.0,
) -> BoxXYWH:
    """A box around the object under pixel ``(u, v)``: the connected region of similar depth.

    The region is flood-filled from the click over pixels within ``depth_tolerance`` metres
    of the seed depth (not of each neighbour, so the fill cannot creep along a floor), and
    confined to a window ``max_extent_m`` wide at that depth so that a click on a wall
    cannot claim the whole image. The seed depth is the median of the valid readings within
    ``seed_radius`` pixels, so a click on a hole still works. Without depth there (or with a
    region smaller than ``min_size``) the box is ``default_size`` pixels square, centred on
    the click. The result lies inside the image, whatever the intrinsics; arguments that make
    no sense (a negative tolerance, an empty depth range...) raise ``ValueError``.
    """
    width, height = (
        (int(depth_m.shape[1]), int(depth_m.shape[0]))
        if depth_m is not None
        else (intr.width, intr.height)
    )
    if not (math.isfinite(u) and math.isfinite(v) and 0 <= u < width and 0 <= v < height):
        raise ValueError(f"click ({u}, {v}) is outside the {width}x{height} image")
    if not (math.isfinite(default_size) and default_size > 0.0):
        raise ValueError(f"default box size must be positive and finite, got {default_size}")
    for name, value in (("depth_tolerance", depth_tolerance), ("max_extent_m", max_extent_m)):
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{name} must be positive and finite, got {value}")
    if seed_radius < 0:
        raise ValueError(f"seed_radius must not be negative, got {seed_radius}")
    if not 0.0 <= min_depth_m < max_depth_m:
        raise ValueError(
            f"min_depth_m must be >= 0 and below max_depth_m: {min_depth_m}, {max_depth_m}"
        )
    half = 0.5 * default_size
    fx0, fy0 = max(u - half, 0.0), max(v - half, 0.0)
    fallback = (fx0, fy0, min(u + half, float(width)) - fx0, min(v + half, float(height)) - fy0)
    if depth_m is None:
        return fallback
    col, row = int(u), int(v)
    r0, r1 = max(row - seed_radius, 0), min(row + seed_radius + 1, height)
    c0, c1 = max(col - seed_radius, 0), min(col + seed_radius + 1, width)
    patch = depth_m[r0:r1, c0:c1]
    patch_valid = valid_depth_mask(patch, min_depth_m, max_depth_m)
    if not patch_valid.any():
        return fallback
    seed_depth = float(np.median(patch[patch_valid]))
    # Seed at the valid pixel nearest the click whose depth is closest to the patch median.
    rows, cols = np.nonzero(patch_valid)
    closeness = np.abs(patch[rows, cols] - seed_depth) + 1e-6 * (
        (rows + r0 - row) ** 2 + (cols + c0 - col) ** 2
    )
    best = int(np.argmin(closeness))
    seed_row, seed_col = int(rows[best] + r0), int(cols[best] + c0)
    seed_value = float(depth_m[seed_row, seed_col])

    # The window never needs to exceed the image (and must not overflow for a huge focal length).
    half_w = min(0.5 * max_extent_m * intr.fx / seed_value, float(width))
    half_h = min(0.5 * max_extent_m * intr.fy / seed_value, float(height))
    wx0 = max(int(seed_col - half_w), 0)
    wx1 = min(math.ceil(seed_col + half_w) + 1, width)
    wy0 = max(int(seed_row - half_h), 0)
    wy1 = min(math.ceil(seed_row + half_h) + 1, height)
    raw = depth_m[wy0:wy1, wx0:wx1]
    blocked = ~valid_depth_mask(raw, min_depth_m, max_depth_m)
    window = np.where(blocked, 0.0, raw).astype(np.float32)
    mask = np.ones((window.shape[0] + 2, window.shape[1] + 2), dtype=np.uint8)
    mask[1:-1, 1:-1] = blocked.astype(np.uint8)
    filled_value = 255
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (filled_value << 8)
    cv2.floodFill(
        window,
        mask,
        (seed_col - wx0, seed_row - wy0),
        0.0,
        loDiff=depth_tolerance,
        upDiff=depth_tolerance,
        flags=flags,
    )
    ys, xs = np.nonzero(mask[1:-1, 1:-1] == filled_value)
    if xs.size == 0:
        return fallback
    x0, x1 = float(xs.min() + wx0), float(xs.max() + wx0 + 1)
    y0, y1 = float(ys.min() + wy0), float(ys.max() + wy0 + 1)
    if x1 - x0 < min_size or y1 - y0 < min_size:
        return fallback
    return x0, y0, x1 - x0, y1 - y0
