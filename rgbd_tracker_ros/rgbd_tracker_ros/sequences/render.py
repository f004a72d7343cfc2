"""A tiny z-buffered renderer of textured planar quads through a pinhole camera.

Enough for synthetic RGB-D tracking scenes: every surface is a planar rectangle, so its
image is a homography of its texture (``cv2.warpPerspective``) and its depth at a pixel is
the ray/plane intersection, computed in closed form over the quad's bounding box. Colour
and depth come from the same z-buffer test, so they always agree.

Pixel coordinates follow OpenCV: pixel (i, j) is centred at (i, j).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from rgbd_tracker_ros.geometry import Intrinsics

# Surfaces closer than this are not rendered (the camera's near plane, metres).
NEAR_PLANE_M = 0.05
# Sub-pixel precision bits for polygon rasterisation.
_SHIFT = 4


class Layer(enum.IntEnum):
    """What each pixel shows (the label image)."""

    BACKGROUND = 0
    TARGET = 1
    DISTRACTOR = 2
    OCCLUDER = 3


@dataclass(frozen=True)
class Camera:
    """Pinhole projection with the given (undistorted) intrinsics."""

    intrinsics: Intrinsics

    @property
    def size_wh(self) -> tuple[int, int]:
        return self.intrinsics.width, self.intrinsics.height

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points (Z > 0) -> (N, 2) pixel coordinates."""
        k = self.intrinsics
        z = points[:, 2]
        return np.stack([k.fx * points[:, 0] / z + k.cx, k.fy * points[:, 1] / z + k.cy], axis=1)

    def unproject(self, uv: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) at depths (N,) -> (N, 3) camera-frame points."""
        k = self.intrinsics
        x = (uv[:, 0] - k.cx) / k.fx * z
        y = (uv[:, 1] - k.cy) / k.fy * z
        return np.stack([x, y, z], axis=1)


@dataclass(frozen=True, eq=False)
class Texture:
    """An RGB image with a mip pyramid, so far-away quads are not aliased."""

    levels: tuple[np.ndarray, ...]

    @classmethod
    def from_image(cls, image: np.ndarray, min_size: int = 8) -> Texture:
        levels = [np.ascontiguousarray(image)]
        while min(levels[-1].shape[:2]) >= 2 * min_size:
            levels.append(cv2.pyrDown(levels[-1]))
        return cls(tuple(levels))

    def for_width(self, width_px: float) -> np.ndarray:
        """The smallest level still at least ``width_px`` wide."""
        chosen = self.levels[0]
        for level in self.levels[1:]:
            if level.shape[1] < width_px:
                break
            chosen = level
        return chosen


@dataclass(frozen=True, eq=False)
class Quad:
    """A textured planar rectangle.

    ``corners`` (4, 3) in the camera frame, in texture order: top-left, top-right,
    bottom-right, bottom-left of the texture image.
    """

    corners: np.ndarray
    texture: Texture
    layer: Layer = Layer.BACKGROUND

    @property
    def centre(self) -> np.ndarray:
        return self.corners.mean(axis=0)

    def plane(self) -> tuple[np.ndarray, float]:
        """Unit normal n and offset d with n . P = d for points P of the quad."""
        normal = np.cross(self.corners[1] - self.corners[0], self.corners[3] - self.corners[0])
        normal = normal / np.linalg.norm(normal)
        return normal, float(normal @ self.corners[0])


def rectangle_corners(
    centre: np.ndarray, width: float, height: float, roll: float = 0.0
) -> np.ndarray:
    """Corners of a rectangle facing the camera (normal -Z), rotated by ``roll`` radians
    about the optical axis (positive = clockwise in the image)."""
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * [width / 2, height / 2]
    c, s = np.cos(roll), np.sin(roll)
    rotated = half @ np.array([[c, s], [-s, c]])
    return np.column_stack([rotated + centre[:2], np.full(4, centre[2])])


@dataclass
class Canvas:
    """Color, depth (metres, inf = nothing) and label buffers of one rendered image."""

    color: np.ndarray
    depth: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls, width: int, height: int) -> Canvas:
        return cls(
            color=np.zeros((height, width, 3), np.uint8),
            depth=np.full((height, width), np.inf, np.float32),
            labels=np.zeros((height, width), np.uint8),
        )

    def copy(self) -> Canvas:
        return Canvas(self.color.copy(), self.depth.copy(), self.labels.copy())


def projected_polygon(camera: Camera, corners: np.ndarray) -> np.ndarray:
    """(4, 2) pixel corners; every corner must lie in front of the near plane."""
    if np.any(corners[:, 2] < NEAR_PLANE_M):
        raise ValueError(f"quad crosses the near plane ({NEAR_PLANE_M} m): {corners.tolist()}")
    return camera.project(corners)


def render_quad(camera: Camera, quad: Quad, canvas: Canvas) -> int:
    """Draw ``quad`` into ``canvas`` where it is nearer than what is there already.

    Returns the number of pixels it won (0 when off-screen or hidden).
    """
    width, height = camera.size_wh
    polygon = projected_polygon(camera, quad.corners)
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return 0
    roi_w, roi_h = x1 - x0, y1 - y0
    local = polygon - [x0, y0]

    mask = np.zeros((roi_h, roi_w), np.uint8)
    cv2.fillConvexPoly(
        mask, np.round(local * (1 << _SHIFT)).astype(np.int32), 1, lineType=cv2.LINE_8, shift=_SHIFT
    )
    depth = _plane_depth(camera, quad, x0, y0, roi_w, roi_h)
    won = (mask > 0) & (depth < canvas.depth[y0:y1, x0:x1])
    count = int(np.count_nonzero(won))
    if count == 0:
        return 0

    edge_px = max(np.linalg.norm(polygon[1] - polygon[0]), np.linalg.norm(polygon[2] - polygon[1]))
    texture = quad.texture.for_width(edge_px)
    tex_h, tex_w = texture.shape[:2]
    source = np.array(
        [[-0.5, -0.5], [tex_w - 0.5, -0.5], [tex_w - 0.5, tex_h - 0.5], [-0.5, tex_h - 0.5]],
        np.float32,
    )
    homography = cv2.getPerspectiveTransform(source, local.astype(np.float32))
    warped = cv2.warpPerspective(
        texture, homography, (roi_w, roi_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )

    np.copyto(canvas.color[y0:y1, x0:x1], warped, where=won[..., None])
    np.copyto(canvas.depth[y0:y1, x0:x1], depth, where=won)
    canvas.labels[y0:y1, x0:x1][won] = int(quad.layer)
    return count


def _plane_depth(camera: Camera, quad: Quad, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Z of the quad's plane along each pixel ray of a box: Z = d / (n . ray)."""
    k = camera.intrinsics
    normal, offset = quad.plane()
    ray_x = ((np.arange(x0, x0 + w, dtype=np.float32) - k.cx) / k.fx)[None, :]
    ray_y = ((np.arange(y0, y0 + h, dtype=np.float32) - k.cy) / k.fy)[:, None]
    denominator = normal[0] * ray_x + normal[1] * ray_y + normal[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = (np.float32(offset) / denominator).astype(np.float32)
    # Rays parallel to or behind the plane never hit it.
    depth[~(depth > NEAR_PLANE_M)] = np.inf
    return depth


def polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon (shoelace formula), pixels squared."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def clip_polygon(
    polygon: np.ndarray, x_min: float, y_min: float, x_max: float, y_max: float
) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex polygon to an axis-aligned box; (M, 2), maybe empty."""
    points = [tuple(p) for p in polygon]
    for axis, bound, keep_greater in (
        (0, x_min, True),
        (0, x_max, False),
        (1, y_min, True),
        (1, y_max, False),
    ):
        if not points:
            break
        inside = [(p[axis] >= bound) if keep_greater else (p[axis] <= bound) for p in points]
        clipped = []
        for i, point in enumerate(points):
            prev, prev_inside = points[i - 1], inside[i - 1]
            if inside[i] != prev_inside:
                t = (bound - prev[axis]) / (point[axis] - prev[axis])
                clipped.append(tuple(prev[j] + t * (point[j] - prev[j]) for j in range(2)))
            if inside[i]:
                clipped.append(point)
        points = clipped
    return np.asarray(points, np.float64).reshape(-1, 2)
