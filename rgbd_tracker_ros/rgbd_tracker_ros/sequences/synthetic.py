"""Synthetic RGB-D tracking sequences with exact 2D and 3D ground truth.

A textured rectangle (the target, 0.3-0.45 m wide, facing the camera) moves in 3D in front
of a textured room (back wall with posters, floor, a box at one side), seen by an
undistorted pinhole camera (RealSense D435-like by default). Every challenge is an option
of ``SyntheticConfig``, and everything random is drawn from the seed, one independent
stream per scene part, so switching one option on does not change the rest of the scene:

- ``scale_change``: the target approaches from ~3 m to ~1.2 m (or recedes).
- ``translation`` / ``rotation``: in-plane motion across the view / roll about the axis.
- ``partial_occlusion``: a narrow board passes in front of the target.
- ``full_occlusion``: a large board passes in front and stays over it for a while.
- ``out_of_view``: the target leaves the image sideways, then returns.
- ``distractor``: a look-alike (same texture, shifted hue) moves near the target at
  another depth.
- ``illumination``: colour, brightness (with one sudden switch) and a moving light ramp.
- ``motion_blur``: bursts of camera-shake blur.
- ``depth_noise``: RealSense-like depth errors (``effects.DepthNoiseModel``).

Harder options, for the hard suite (``hard_suite``), which the plain one leaves out:

- ``lookalike``: a twin of the target (same texture, a small hue shift) that wanders near
  it at another depth and crosses it twice, once in front of part of it and once behind;
  with ``out_of_view`` it waits where the target leaves the view, about 0.3 m from the
  target's depth there, and the target comes back nearer the camera.
- ``low_light``: a spell at about a third of the brightness, with the sensor noise of the
  gain a camera then applies.
- ``camera_shake``: bursts of small camera turns (the image jitters by a few pixels) with
  short, mostly horizontal motion blur.

Ground truth per frame: the projected target rectangle clipped to the image (its axis
aligned box, in the DepthTrack convention where pixel (i, j) covers [i, i+1) x [j, j+1))
and the target centre in the color optical frame (X right, Y down, Z forward, metres).
The target counts as absent (rows of nan) when less than ``min_visible_fraction`` of its
projected area is visible, i.e. when out of view or hidden by an occluder.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rgbd_tracker_ros.geometry import Intrinsics
from rgbd_tracker_ros.sequences import textures
from rgbd_tracker_ros.sequences.depthtrack import SequenceWriter
from rgbd_tracker_ros.sequences.effects import (
    DepthNoiseModel,
    dim,
    exact_depth_mm,
    illuminate,
    motion_blur,
)
from rgbd_tracker_ros.sequences.render import (
    Camera,
    Canvas,
    Layer,
    Quad,
    Texture,
    clip_polygon,
    polygon_area,
    projected_polygon,
    rectangle_corners,
    render_quad,
)

LOG = logging.getLogger(__name__)

# The options of the plain benchmark suite; ``OPTIONS`` adds the hard suite's.
PLAIN_OPTIONS = (
    "scale_change",
    "translation",
    "rotation",
    "partial_occlusion",
    "full_occlusion",
    "out_of_view",
    "distractor",
    "illumination",
    "motion_blur",
    "depth_noise",
)
HARD_OPTIONS = ("lookalike", "low_light", "camera_shake")
OPTIONS = PLAIN_OPTIONS + HARD_OPTIONS

# Pixel sizes below are for a 640-pixel-wide image and scale with the width.
_REFERENCE_WIDTH = 640.0


@dataclass(frozen=True)
class SyntheticConfig:
    """One synthetic sequence. Defaults: an easy sequence (gentle motion, real depth noise)."""

    seed: int = 0
    num_frames: int = 150
    width: int = 640
    height: int = 480
    # None: the D435 640x480 intrinsics scaled to width x height.
    intrinsics: Intrinsics | None = None
    fps: float = 30.0
    name: str = ""
    scale_change: bool = False
    translation: bool = True
    rotation: bool = False
    partial_occlusion: bool = False
    full_occlusion: bool = False
    out_of_view: bool = False
    distractor: bool = False
    illumination: bool = False
    motion_blur: bool = False
    depth_noise: bool = True
    lookalike: bool = False
    low_light: bool = False
    camera_shake: bool = False
    depth_noise_strength: float = 1.0
    # Scikit-image sample photos as textures where installed; False forces procedural ones.
    photo_textures: bool = True
    # Below this visible share of its projected area the target counts as absent.
    min_visible_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be at least 2, got {self.num_frames}")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"image size {self.width}x{self.height} is too small")
        if not self.fps > 0 or self.depth_noise_strength < 0:
            raise ValueError("fps must be positive and depth_noise_strength not negative")
        if not 0 < self.min_visible_fraction <= 1:
            raise ValueError(
                f"min_visible_fraction must be in (0, 1], got {self.min_visible_fraction}"
            )
        k = self.intrinsics
        if k is not None and (k.width, k.height) != (self.width, self.height):
            raise ValueError(
                f"intrinsics are for {k.width}x{k.height}, the config is {self.width}x{self.height}"
            )
        if k is not None and k.has_distortion:
            raise ValueError(
                "the synthetic camera is undistorted: give intrinsics without distortion"
            )

    @property
    def camera_intrinsics(self) -> Intrinsics:
        if self.intrinsics is not None:
            return self.intrinsics
        base = Intrinsics.d435_640x480()
        sx, sy = self.width / base.width, self.height / base.height
        return Intrinsics(
            fx=base.fx * sx,
            fy=base.fy * sy,
            cx=base.cx * sx,
            cy=base.cy * sy,
            width=self.width,
            height=self.height,
        )

    @property
    def sequence_name(self) -> str:
        return self.name or f"synthetic_{self.seed}"

    def enabled_options(self) -> list[str]:
        return [option for option in OPTIONS if getattr(self, option)]


# ---------------------------------------------------------------------------------- presets

PLAIN_PRESETS: dict[str, dict[str, object]] = {
    "easy": {},
    "scale": {"scale_change": True},
    "rotation": {"rotation": True},
    "occlusion": {"partial_occlusion": True, "full_occlusion": True},
    "out_of_view": {"out_of_view": True},
    "distractor": {"distractor": True},
    "illumination": {"illumination": True},
    "blur": {"motion_blur": True},
    "noise": {"depth_noise_strength": 2.5},
    "all": {option: True for option in PLAIN_OPTIONS},
}
# What defeats trackers that do well on the plain presets: look-alikes (crossing the target,
# waiting where it left the view, beside textured occluders), low light, camera shake.
HARD_PRESETS: dict[str, dict[str, object]] = {
    "lookalike": {"lookalike": True},
    "lookalike_exit": {"lookalike": True, "out_of_view": True},
    "lookalike_occlusion": {"lookalike": True, "partial_occlusion": True, "full_occlusion": True},
    "low_light": {"low_light": True},
    "shake": {"camera_shake": True},
    "hard_all": {
        "lookalike": True,
        "out_of_view": True,
        "partial_occlusion": True,
        "low_light": True,
        "camera_shake": True,
        "rotation": True,
    },
}
PRESETS: dict[str, dict[str, object]] = {**PLAIN_PRESETS, **HARD_PRESETS}
SUITE_PRESETS: dict[str, list[str]] = {
    "plain": [name for name in PLAIN_PRESETS if name != "easy"] + ["easy"],
    "hard": list(HARD_PRESETS),
}


def preset_config(preset: str, **overrides: object) -> SyntheticConfig:
    """The named difficulty preset (see ``PRESETS``) with field overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **overrides}
    return SyntheticConfig(**values)  # type: ignore[arg-type]


def benchmark_suite(
    num_sequences: int = 24,
    seed: int = 0,
    num_frames: int = 200,
    width: int = 640,
    height: int = 480,
    suite: str = "plain",
) -> list[SyntheticConfig]:
    """A fixed benchmark set: the ``suite``'s presets in turn (``SUITE_PRESETS``: the plain
    one covers every plain option, the hard one every hard option), each with its own seed.

    The same arguments always give the same configs; names are ``<preset>_<index>``.
    """
    if suite not in SUITE_PRESETS:
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITE_PRESETS)}")
    order = SUITE_PRESETS[suite]
    # The plain suite keeps its original seeds; any other draws its own from the suite name.
    entropy = seed if suite == "plain" else [seed, zlib.crc32(suite.encode())]
    seeds = np.random.SeedSequence(entropy).generate_state(num_sequences)
    return [
        preset_config(
            order[i % len(order)],
            seed=int(seeds[i]),
            num_frames=num_frames,
            width=width,
            height=height,
            name=f"{order[i % len(order)]}_{i:03d}",
        )
        for i in range(num_sequences)
    ]


# ------------------------------------------------------------------------ scene description


@dataclass(frozen=True, eq=False)
class MovingRect:
    """A rectangle facing the camera, posed per frame (centre, roll), shown where ``active``."""

    layer: Layer
    texture: Texture
    width_m: float
    height_m: float
    centres: np.ndarray  # (N, 3) metres, camera frame
    rolls: np.ndarray  # (N,) radians
    active: np.ndarray  # (N,) bool

    def quad(self, index: int) -> Quad:
        corners = rectangle_corners(
            self.centres[index], self.width_m, self.height_m, float(self.rolls[index])
        )
        return Quad(corners, self.texture, self.layer)


@dataclass(frozen=True, eq=False)
class Lighting:
    """Per-frame colour gains (N, 3) and brightness ramp (N, 2) across the image."""

    gains: np.ndarray
    gradients: np.ndarray


@dataclass(frozen=True, eq=False)
class Shake:
    """Per-frame motion-blur length (pixels) and direction (radians)."""

    lengths: np.ndarray
    angles: np.ndarray


@dataclass(frozen=True, eq=False)
class LowLight:
    """Per-frame brightness factor (1 = normal) and sensor noise (grey levels, 1 sigma)."""

    levels: np.ndarray
    noise: np.ndarray


@dataclass(frozen=True, eq=False)
class CameraShake:
    """Per-frame camera turn (yaw and pitch, radians: the image jitters) and its blur."""

    yaws: np.ndarray
    pitches: np.ndarray
    blur: Shake

    def rotation(self, index: int) -> np.ndarray | None:
        """Rotation taking the still camera's frame to the shaken one's; None when still."""
        yaw, pitch = float(self.yaws[index]), float(self.pitches[index])
        if yaw == 0.0 and pitch == 0.0:
            return None
        cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
        turn = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        tilt = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])
        return tilt @ turn


@dataclass(frozen=True, eq=False)
class Scene:
    camera: Camera
    background: tuple[Quad, ...]
    target: MovingRect
    movers: tuple[MovingRect, ...]  # distractor, look-alike and occluders
    events: dict[str, tuple[int, int]]  # event name -> [start, end) frames
    lighting: Lighting | None = None
    shake: Shake | None = None
    depth_noise: DepthNoiseModel | None = None
    low_light: LowLight | None = None
    camera_shake: CameraShake | None = None


@dataclass
class RenderedFrame:
    """One synthetic frame with its ground truth and the label image (what each pixel shows)."""

    color: np.ndarray  # HxWx3 uint8 RGB
    depth_mm: np.ndarray  # HxW uint16 millimetres, 0 = no reading
    labels: np.ndarray  # HxW uint8 ``Layer`` values
    box_xywh: np.ndarray  # (4,), nan when absent
    centre_xyz: np.ndarray  # (3,), nan when absent
    visible_fraction: float


def _rng(seed: int, stream: str, *index: int) -> np.random.Generator:
    """An independent random stream per scene part (and frame), stable across runs."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode()), *index])


# ------------------------------------------------------------------------------ trajectories


def _ease(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def _keyframe_times(rng: np.random.Generator, num_frames: int, spacing: float) -> np.ndarray:
    times = [0.0]
    while times[-1] < num_frames - 1:
        times.append(times[-1] + spacing * rng.uniform(0.7, 1.3))
    return np.asarray(times)


def _interpolate(times: np.ndarray, values: np.ndarray, num_frames: int) -> np.ndarray:
    """Eased (zero speed at keys) interpolation of keyframe ``values`` (K, D) at every frame."""
    t = np.arange(num_frames, dtype=np.float64)
    index = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    s = _ease((t - times[index]) / (times[index + 1] - times[index]))[:, None]
    return values[index] + s * (values[index + 1] - values[index])


def _random_path(
    rng: np.random.Generator,
    num_frames: int,
    spacing: float,
    low: np.ndarray,
    high: np.ndarray,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """(N, D) smooth random path through uniform keyframes in [low, high]."""
    times = _keyframe_times(rng, num_frames, spacing)
    values = rng.uniform(low, high, (len(times), len(low)))
    if first is not None:
        values[0] = first
    return _interpolate(times, values, num_frames)


def _window_ramp(num_frames: int, start: int, end: int, ramp: int) -> np.ndarray:
    """0 outside [start, end), easing to 1 over ``ramp`` frames at both ends."""
    t = np.arange(num_frames, dtype=np.float64)
    rise = _ease((t - start + 1) / ramp)
    fall = _ease((end - t) / ramp)
    return np.where((t >= start) & (t < end), np.minimum(rise, fall), 0.0)


def _pass_profile(num_frames: int, start: int, end: int, dwell: float) -> np.ndarray:
    """-1 -> 0 -> +1 across [start, end), holding 0 for a ``dwell`` share of the window."""
    t = np.arange(num_frames, dtype=np.float64)
    length = end - 1 - start
    hold = dwell * length / 2
    mid = start + length / 2
    before = -_ease((mid - hold - t) / max(mid - hold - start, 1e-9))
    after = _ease((t - mid - hold) / max(end - 1 - mid - hold, 1e-9))
    return np.where(t < mid, before, after)


def _schedule_events(
    rng: np.random.Generator, num_frames: int, names: list[str]
) -> dict[str, tuple[int, int]]:
    """Non-overlapping [start, end) windows, after a clean lead-in (trackers start on frame 0)."""
    if not names:
        return {}
    lead_in, tail = max(3, num_frames // 8), max(2, num_frames // 12)
    slot = (num_frames - lead_in - tail) // len(names)
    min_length = 6
    if slot < min_length:
        raise ValueError(f"num_frames={num_frames} is too short for the events {', '.join(names)}")
    order = [names[i] for i in rng.permutation(len(names))]
    windows = {}
    for i, name in enumerate(order):
        length = int(np.clip(round(rng.uniform(0.13, 0.2) * num_frames), min_length, slot))
        start = lead_in + i * slot + int(rng.integers(0, slot - length + 1))
        windows[name] = (start, start + length)
    return windows


@dataclass(frozen=True, eq=False)
class _TargetPlan:
    """The target's image-space plan: centre pixel, depth, roll, and its size."""

    u: np.ndarray
    v: np.ndarray
    z: np.ndarray
    roll: np.ndarray
    width_m: float
    height_m: float

    @property
    def half_diagonal_m(self) -> float:
        return float(np.hypot(self.width_m, self.height_m) / 2)


def _plan_target(
    config: SyntheticConfig, camera: Camera, events: dict[str, tuple[int, int]], aspect: float
) -> _TargetPlan:
    n, k = config.num_frames, camera.intrinsics
    rng = _rng(config.seed, "target")
    width_m = rng.uniform(0.3, 0.45)
    height_m = width_m / aspect

    depth_rng = _rng(config.seed, "scale")
    if config.scale_change:
        far, near = depth_rng.uniform(2.6, 3.4), depth_rng.uniform(1.1, 1.4)
        start, end = (far, near) if depth_rng.random() < 0.65 else (near, far)
        s = _ease((np.arange(n) - 0.1 * n) / (0.8 * n))
        z = start + (end - start) * s
    else:
        base = depth_rng.uniform(1.5, 2.6)
        z = base + _random_path(depth_rng, n, 50, np.array([-0.08]), np.array([0.08]))[:, 0]

    # Image-space path in [-1, 1] of the room left for the target's centre.
    move_rng = _rng(config.seed, "translation")
    if config.translation:
        path = _random_path(
            move_rng,
            n,
            35,
            np.array([-0.7, -0.6]),
            np.array([0.7, 0.6]),
            first=move_rng.uniform(-0.3, 0.3, 2),
        )
    else:
        path = _random_path(move_rng, n, 60, np.array([-0.08, -0.08]), np.array([0.08, 0.08]))
    half_diag_px = k.fx * np.hypot(width_m, height_m) / 2 / z
    room_u = np.maximum(k.width / 2 - half_diag_px, 0)
    room_v = np.maximum(k.height / 2 - half_diag_px * k.fy / k.fx, 0)
    u = k.cx + path[:, 0] * room_u
    v = k.cy + path[:, 1] * room_v

    if "out_of_view" in events:
        start, end = events["out_of_view"]
        view_rng = _rng(config.seed, "out_of_view")
        margin = 4.0 * config.width / _REFERENCE_WIDTH
        right = view_rng.random() < 0.5
        outside = k.width + half_diag_px + margin if right else -half_diag_px - margin
        share = _window_ramp(n, start, end, ramp=max(2, (end - start) // 4))
        u = (1 - share) * u + share * outside
        if config.lookalike:
            # Back nearer than it left, while its look-alike waits at the exit (``_lookalike``).
            nearer = _rng(config.seed, "lookalike_return").uniform(0.3, 0.5)
            z = z - nearer * _ease((np.arange(n) - start) / (end - start))

    roll_rng = _rng(config.seed, "rotation")
    if config.rotation:
        amplitude = roll_rng.uniform(0.4, 0.9)
        roll = _random_path(
            roll_rng, n, 40, np.array([-amplitude]), np.array([amplitude]), first=np.zeros(1)
        )[:, 0]
    else:
        roll = np.zeros(n)
    return _TargetPlan(u, v, z, roll, width_m, height_m)


def _to_3d(camera: Camera, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
    return camera.unproject(np.column_stack([u, v]), np.asarray(z, np.float64))


# ------------------------------------------------------------------------------ scene parts


def _target_texture(config: SyntheticConfig) -> tuple[np.ndarray, str]:
    rng = _rng(config.seed, "target_texture")
    aspect = rng.uniform(0.75, 1.33)
    name = textures.TARGET_PHOTOS[int(rng.integers(len(textures.TARGET_PHOTOS)))]
    photo = textures.load_photo(name) if config.photo_textures else None
    if photo is None:
        return textures.procedural_texture(rng, 256, int(256 * aspect)), ""
    return textures.random_crop(rng, photo, aspect, min_fraction=0.55), name


def _room(config: SyntheticConfig, camera: Camera, avoid_photo: str) -> tuple[Quad, ...]:
    """Back wall with two posters, floor, and a box at one side; all static."""
    rng = _rng(config.seed, "room")
    k = camera.intrinsics
    use = config.photo_textures
    wall_z = rng.uniform(4.5, 6.5)
    floor_y = rng.uniform(0.9, 1.4)  # camera height above the floor
    # Wall spans the view at its depth with 30% margin.
    left, right = (-k.cx / k.fx * wall_z * 1.3, (k.width - k.cx) / k.fx * wall_z * 1.3)
    top = -k.cy / k.fy * wall_z * 1.3
    bottom = max(floor_y, (k.height - k.cy) / k.fy * wall_z * 1.3)

    def surface(names: tuple[str, ...], reps: tuple[int, int]) -> Texture:
        image = textures.pick_photo(rng, names, use, (256, 256))
        tinted = textures.tint(image, rng.uniform(0.55, 1.1, 3))
        return Texture.from_image(textures.tile(tinted, *reps))

    def plane(corners: list[tuple[float, float, float]], texture: Texture) -> Quad:
        return Quad(np.asarray(corners, np.float64), texture, Layer.BACKGROUND)

    quads = [
        plane(
            [
                (left, top, wall_z),
                (right, top, wall_z),
                (right, bottom, wall_z),
                (left, bottom, wall_z),
            ],
            surface(textures.WALL_PHOTOS, (2, 4)),
        ),
        plane(
            [
                (left, floor_y, wall_z),
                (right, floor_y, wall_z),
                (right, floor_y, 0.3),
                (left, floor_y, 0.3),
            ],
            surface(textures.SURFACE_PHOTOS, (4, 4)),
        ),
    ]
    posters = [p for p in textures.POSTER_PHOTOS + textures.TARGET_PHOTOS if p != avoid_photo]
    for _ in range(2):
        width = rng.uniform(0.6, 1.2)
        height = width * rng.uniform(0.6, 1.2)
        u, v = rng.uniform(0.1, 0.9) * k.width, rng.uniform(0.1, 0.45) * k.height
        centre = _to_3d(camera, np.array([u]), np.array([v]), np.array([wall_z - 0.01]))[0]
        image = textures.pick_photo(rng, tuple(posters), use, (192, 256))
        quads.append(Quad(rectangle_corners(centre, width, height), Texture.from_image(image)))

    # The box: front, inner side and top faces, standing on the floor at one side.
    box_z = rng.uniform(2.5, wall_z - 1.0)
    depth, height = rng.uniform(0.5, 0.9), rng.uniform(0.7, min(1.4, floor_y + 0.3))
    side = 1 if rng.random() < 0.5 else -1
    inner_u = k.width * (0.5 + side * rng.uniform(0.2, 0.35))
    inner_x = (inner_u - k.cx) / k.fx * box_z
    outer_x = inner_x + side * rng.uniform(1.0, 1.6)
    top_y = floor_y - height
    box_texture = Texture.from_image(
        textures.pick_photo(rng, textures.POSTER_PHOTOS, use, (256, 256))
    )
    near_face, far_z = box_z, box_z + depth
    quads += [
        plane(
            [
                (inner_x, top_y, near_face),
                (outer_x, top_y, near_face),
                (outer_x, floor_y, near_face),
                (inner_x, floor_y, near_face),
            ],
            box_texture,
        ),
        plane(
            [
                (inner_x, top_y, far_z),
                (inner_x, top_y, near_face),
                (inner_x, floor_y, near_face),
                (inner_x, floor_y, far_z),
            ],
            box_texture,
        ),
        plane(
            [
                (inner_x, top_y, far_z),
                (outer_x, top_y, far_z),
                (outer_x, top_y, near_face),
                (inner_x, top_y, near_face),
            ],
            box_texture,
        ),
    ]
    return tuple(quads)


def _distractor(
    config: SyntheticConfig, camera: Camera, plan: _TargetPlan, target_image: np.ndarray
) -> MovingRect:
    """A hue-shifted twin of the target, farther away, often passing close to it."""
    n, k = config.num_frames, camera.intrinsics
    rng = _rng(config.seed, "distractor")
    image = textures.hue_shift(target_image, rng.uniform(25, 60) * rng.choice([-1, 1]))
    size = rng.uniform(0.9, 1.1)
    # Always behind the target, so it never hides it (occlusion is its own option).
    z = plan.z + rng.uniform(0.3, 0.8)
    times = _keyframe_times(rng, n, 30)
    keys = np.zeros((len(times), 2))
    for i, t in enumerate(times):
        frame = min(int(t), n - 1)
        width_px = k.fx * plan.width_m / plan.z[frame]
        if i == 0 or rng.random() < 0.6:
            # Beside the target; at frame 0 far enough not to overlap the initial box.
            gap = rng.uniform(1.4, 1.7) if i == 0 else rng.uniform(1.1, 1.6)
            toward_centre = 1 if plan.u[frame] < k.cx else -1
            side = toward_centre if i == 0 else rng.choice([-1, 1])
            keys[i] = (
                plan.u[frame] + side * gap * width_px,
                plan.v[frame] + rng.uniform(-0.3, 0.3) * width_px,
            )
        else:
            keys[i] = (rng.uniform(0.15, 0.85) * k.width, rng.uniform(0.2, 0.8) * k.height)
    # It stays in view, also while the target is out of it.
    keys[:, 0] = np.clip(keys[:, 0], 0.1 * k.width, 0.9 * k.width)
    keys[:, 1] = np.clip(keys[:, 1], 0.15 * k.height, 0.85 * k.height)
    uv = _interpolate(times, keys, n)
    roll = plan.roll[::-1].copy() if config.rotation else np.zeros(n)
    return MovingRect(
        Layer.DISTRACTOR,
        Texture.from_image(image),
        plan.width_m * size,
        plan.height_m * size,
        _to_3d(camera, uv[:, 0], uv[:, 1], z),
        roll,
        np.ones(n, bool),
    )


def _lookalike(
    config: SyntheticConfig,
    camera: Camera,
    plan: _TargetPlan,
    target_image: np.ndarray,
    events: dict[str, tuple[int, int]],
) -> MovingRect:
    """A twin of the target (same texture, hue turned by 8-16 degrees) at another depth.

    It wanders beside the target, on one side, 0.3-0.5 m nearer or 0.3-0.7 m farther. During the
    ``lookalike_front`` / ``lookalike_behind`` windows it crosses the target to the other
    side: in front, 0.3-0.5 m nearer and offset up or down so it hides part of the target;
    behind, 0.3-0.6 m farther, straight behind it. During ``out_of_view`` it waits near the
    image edge where the target left, 0.25-0.35 m nearer or farther than the target was.
    """
    n, k = config.num_frames, camera.intrinsics
    rng = _rng(config.seed, "lookalike")
    image = textures.hue_shift(target_image, rng.uniform(8, 16) * rng.choice([-1, 1]))
    width_px = k.fx * plan.width_m / plan.z
    height_px = k.fy * plan.height_m / plan.z

    # Wandering, relative to the target: gap (target widths), rise (heights), depth offset.
    times = _keyframe_times(rng, n, 30)
    keys = np.column_stack(
        [
            rng.uniform(1.5, 2.2, len(times)),
            rng.uniform(-0.5, 0.5, len(times)),
            np.where(
                rng.random(len(times)) < 0.5,
                -rng.uniform(0.3, 0.5, len(times)),
                rng.uniform(0.3, 0.7, len(times)),
            ),
        ]
    )
    gap, rise, offset = _interpolate(times, keys, n).T
    # Each crossing flips the side: the product of the passes' profiles (-1 before, +1
    # after) is zero while one crosses. The first side faces the image centre.
    side = np.full(n, 1.0 if plan.u[0] < k.cx else -1.0)
    for name, front in (("lookalike_front", True), ("lookalike_behind", False)):
        if name not in events:
            continue
        start, end = events[name]
        profile = _pass_profile(n, start, end, dwell=0.2)
        crossing = 1.0 - np.abs(profile)
        side = -side * profile
        if front:
            pass_rise = rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 0.55)
            pass_offset = -rng.uniform(0.3, 0.5)
        else:
            pass_rise, pass_offset = rng.uniform(-0.2, 0.2), rng.uniform(0.3, 0.6)
        rise = (1.0 - crossing) * rise + crossing * pass_rise
        # The depth settles before the two overlap in the image.
        settled = np.clip(3.0 * crossing, 0.0, 1.0)
        offset = (1.0 - settled) * offset + settled * pass_offset
    u = plan.u + side * gap * width_px
    v = plan.v + rise * height_px
    z = plan.z + offset

    if "out_of_view" in events:
        start, end = events["out_of_view"]
        right = plan.u[(start + end) // 2] > k.cx
        depth = float(plan.z[start]) + rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.35)
        inset = rng.uniform(0.5, 0.9) * k.fx * plan.width_m / depth
        spot = (k.width - inset if right else inset, float(plan.v[start]), depth)
        # It goes there once a crossing just before is over (no passing through the target).
        arrive = max(
            [start - 20] + [finish + 2 for _, finish in events.values() if finish <= start]
        )
        waits = _window_ramp(n, arrive, end + 15, ramp=min(12, max(2, start - arrive)))
        u = (1.0 - waits) * u + waits * spot[0]
        v = (1.0 - waits) * v + waits * spot[1]
        z = (1.0 - waits) * z + waits * spot[2]
    return MovingRect(
        Layer.DISTRACTOR,
        Texture.from_image(image),
        plan.width_m * rng.uniform(0.95, 1.05),
        plan.height_m * rng.uniform(0.95, 1.05),
        _to_3d(camera, u, v, z),
        plan.roll.copy(),
        np.ones(n, bool),
    )


def _occluder(
    config: SyntheticConfig,
    camera: Camera,
    plan: _TargetPlan,
    window: tuple[int, int],
    full: bool,
) -> MovingRect:
    """A board sweeping across the view in front of the target during ``window``.

    Full: larger than the target's projection (and its vertical wander), holding over it
    mid-window. Partial: a narrow tall board covering at most about half of the target.
    """
    n, k = config.num_frames, camera.intrinsics
    rng = _rng(config.seed, "full_occluder" if full else "partial_occluder")
    start, end = window
    span = slice(start, end)
    z = max(0.4, float(plan.z[span].min()) - rng.uniform(0.35, 0.7))
    diag_px = float((2 * k.fx * plan.half_diagonal_m / plan.z[span]).max())
    v_low, v_high = float(plan.v[span].min()), float(plan.v[span].max())
    if full:
        width_px = 1.3 * diag_px
        height_px = 1.3 * diag_px + (v_high - v_low) * k.fx / k.fy
        dwell = 0.4
    else:
        width_px = rng.uniform(0.3, 0.45) * float((k.fx * plan.width_m / plan.z[span]).min())
        height_px = 1.5 * diag_px + (v_high - v_low)
        dwell = 0.15
    margin = width_px / 2 + 2
    direction = 1 if rng.random() < 0.5 else -1  # 1: sweeps left to right
    enter = -margin if direction > 0 else k.width + margin
    leave = k.width + margin if direction > 0 else -margin
    profile = _pass_profile(n, start, end, dwell)
    u = np.where(
        profile < 0,
        plan.u + (-profile) * (enter - plan.u[start]),
        plan.u + profile * (leave - plan.u[end - 1]),
    )
    v = np.full(n, (v_low + v_high) / 2)
    image = textures.pick_photo(
        rng, textures.POSTER_PHOTOS + textures.SURFACE_PHOTOS, config.photo_textures, (256, 256)
    )
    image = textures.tint(image, rng.uniform(0.6, 1.1, 3))
    active = np.zeros(n, bool)
    active[span] = True
    return MovingRect(
        Layer.OCCLUDER,
        Texture.from_image(image),
        width_px * z / k.fx,
        height_px * z / k.fy,
        _to_3d(camera, u, v, np.full(n, z)),
        np.zeros(n),
        active,
    )


def _lighting(config: SyntheticConfig) -> Lighting:
    n = config.num_frames
    rng = _rng(config.seed, "illumination")
    brightness = _random_path(rng, n, 45, np.array([0.45]), np.array([1.35]), first=np.ones(1))
    switch = int(rng.integers(max(1, n // 8), n))
    brightness[switch:] *= rng.choice([rng.uniform(0.5, 0.7), rng.uniform(1.3, 1.5)])
    tint = _random_path(rng, n, 60, np.full(3, 0.85), np.full(3, 1.15), first=np.ones(3))
    gradients = _random_path(rng, n, 50, np.full(2, -0.8), np.full(2, 0.8), first=np.zeros(2))
    return Lighting(np.clip(brightness, 0.3, 1.6) * tint, gradients)


def _shake(config: SyntheticConfig) -> Shake:
    n = config.num_frames
    rng = _rng(config.seed, "motion_blur")
    lengths, angles = np.zeros(n), np.zeros(n)
    t = np.arange(n)
    for _ in range(max(1, n // 75)):
        centre = rng.integers(max(1, n // 8), n)
        half = rng.uniform(3, 8)
        peak = rng.uniform(8, 20) * config.width / _REFERENCE_WIDTH
        burst = peak * np.clip(1 - np.abs(t - centre) / half, 0, None)
        angles = np.where(burst > lengths, rng.uniform(0, np.pi), angles)
        lengths = np.maximum(lengths, burst)
    return Shake(lengths, angles)


def _low_light(config: SyntheticConfig) -> LowLight:
    """One spell at 28-38 % brightness for 15-25 % of the sequence, dimming in a few frames,
    with the noise of the gain a camera applies in the dark."""
    n = config.num_frames
    rng = _rng(config.seed, "low_light")
    length = max(6, int(rng.uniform(0.15, 0.25) * n))
    start = int(rng.integers(n // 6, max(n // 6 + 1, n - length - n // 12)))
    dark = _window_ramp(n, start, start + length, ramp=max(2, length // 8))
    level = rng.uniform(0.28, 0.38)
    return LowLight(1.0 - dark * (1.0 - level), dark * rng.uniform(4.0, 8.0))


def _camera_shake(config: SyntheticConfig, camera: Camera) -> CameraShake:
    """Bursts of a shaking camera: the view jitters by a few pixels, mostly sideways, and
    the image is blurred along a short, nearly horizontal stroke."""
    n, k = config.num_frames, camera.intrinsics
    rng = _rng(config.seed, "camera_shake")
    pixel = config.width / _REFERENCE_WIDTH
    t = np.arange(n, dtype=np.float64)
    shift_x, shift_y, lengths, angles = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for _ in range(max(1, n // 60)):
        centre = rng.uniform(n / 8, n - n / 12)
        envelope = np.clip(1.0 - np.abs(t - centre) / rng.uniform(5, 10), 0.0, None)
        period, phase = rng.uniform(3, 6), rng.uniform(0, 2 * np.pi)
        amplitude = rng.uniform(4, 10) * pixel
        shift_x += amplitude * envelope * np.sin(2 * np.pi * t / period + phase)
        shift_y += 0.3 * amplitude * envelope * np.sin(2 * np.pi * t / (1.3 * period) + phase)
        burst = rng.uniform(8, 20) * pixel * envelope
        angles = np.where(burst > lengths, rng.uniform(-0.15, 0.15), angles)
        lengths = np.maximum(lengths, burst)
    return CameraShake(np.arctan(shift_x / k.fx), np.arctan(shift_y / k.fy), Shake(lengths, angles))


def build_scene(config: SyntheticConfig) -> Scene:
    """The full description of a sequence: static room, per-frame poses and effects."""
    camera = Camera(config.camera_intrinsics)
    event_names = [
        e for e in ("partial_occlusion", "full_occlusion", "out_of_view") if getattr(config, e)
    ]
    if config.lookalike:
        event_names += ["lookalike_front", "lookalike_behind"]
    events = _schedule_events(_rng(config.seed, "events"), config.num_frames, event_names)
    target_image, photo_name = _target_texture(config)
    aspect = target_image.shape[1] / target_image.shape[0]
    plan = _plan_target(config, camera, events, aspect)
    n = config.num_frames
    target = MovingRect(
        Layer.TARGET,
        Texture.from_image(target_image),
        plan.width_m,
        plan.height_m,
        _to_3d(camera, plan.u, plan.v, plan.z),
        plan.roll,
        np.ones(n, bool),
    )
    movers = []
    if config.distractor:
        movers.append(_distractor(config, camera, plan, target_image))
    if config.lookalike:
        movers.append(_lookalike(config, camera, plan, target_image, events))
    for name, full in (("partial_occlusion", False), ("full_occlusion", True)):
        if name in events:
            movers.append(_occluder(config, camera, plan, events[name], full))
    return Scene(
        camera=camera,
        background=_room(config, camera, photo_name),
        target=target,
        movers=tuple(movers),
        events=events,
        lighting=_lighting(config) if config.illumination else None,
        shake=_shake(config) if config.motion_blur else None,
        depth_noise=DepthNoiseModel(config.depth_noise_strength) if config.depth_noise else None,
        low_light=_low_light(config) if config.low_light else None,
        camera_shake=_camera_shake(config, camera) if config.camera_shake else None,
    )


# ---------------------------------------------------------------------------------- frames


def box_from_polygon(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    """Axis-aligned box (x, y, w, h) of the polygon's part inside the image, nan if none.

    ``polygon`` is in pixel-centre coordinates; the box uses pixel-edge coordinates
    (the whole image is (0, 0, width, height)).
    """
    inside = clip_polygon(polygon + 0.5, 0.0, 0.0, float(width), float(height))
    if len(inside) < 3 or polygon_area(inside) <= 0:
        return np.full(4, np.nan)
    (x0, y0), (x1, y1) = inside.min(axis=0), inside.max(axis=0)
    return np.array([x0, y0, x1 - x0, y1 - y0])


def _turned(quad: Quad, rotation: np.ndarray | None) -> Quad:
    """``quad`` seen from a camera turned by ``rotation`` (unchanged for None)."""
    if rotation is None:
        return quad
    return Quad(quad.corners @ rotation.T, quad.texture, quad.layer)


class SyntheticSequence:
    """Renders the frames of a ``SyntheticConfig`` on demand (any order, deterministic)."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.scene = build_scene(config)
        width, height = self.scene.camera.size_wh
        self._background = Canvas.empty(width, height)
        for quad in self.scene.background:
            render_quad(self.scene.camera, quad, self._background)

    def __len__(self) -> int:
        return self.config.num_frames

    def __iter__(self) -> Iterator[RenderedFrame]:
        for index in range(len(self)):
            yield self.render(index)

    @property
    def intrinsics(self) -> Intrinsics:
        return self.scene.camera.intrinsics

    def render(self, index: int) -> RenderedFrame:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range 0..{len(self) - 1}")
        scene, camera = self.scene, self.scene.camera
        turn = scene.camera_shake.rotation(index) if scene.camera_shake is not None else None
        if turn is None:
            canvas = self._background.copy()
        else:
            canvas = Canvas.empty(*camera.size_wh)
            for quad in scene.background:
                render_quad(camera, _turned(quad, turn), canvas)
        target_quad = _turned(scene.target.quad(index), turn)
        render_quad(camera, target_quad, canvas)
        for mover in scene.movers:
            if mover.active[index]:
                render_quad(camera, _turned(mover.quad(index), turn), canvas)

        width, height = camera.size_wh
        polygon = projected_polygon(camera, target_quad.corners)
        visible = np.count_nonzero(canvas.labels == Layer.TARGET) / max(polygon_area(polygon), 1.0)
        box = box_from_polygon(polygon, width, height)
        centre = target_quad.centre.copy()
        if visible < self.config.min_visible_fraction or np.isnan(box).any():
            box, centre = np.full(4, np.nan), np.full(3, np.nan)

        rng = _rng(self.config.seed, "frame", index)
        color = canvas.color
        if scene.lighting is not None:
            color = illuminate(color, scene.lighting.gains[index], scene.lighting.gradients[index])
        if scene.low_light is not None:
            noise_rng = _rng(self.config.seed, "low_light_noise", index)
            color = dim(
                color, scene.low_light.levels[index], scene.low_light.noise[index], noise_rng
            )
        for shake in (scene.shake, None if scene.camera_shake is None else scene.camera_shake.blur):
            if shake is not None:
                color = motion_blur(color, shake.lengths[index], shake.angles[index])
        if scene.depth_noise is not None:
            depth_mm = scene.depth_noise.apply(canvas.depth, camera.intrinsics.fx, rng)
        else:
            depth_mm = exact_depth_mm(canvas.depth)
        return RenderedFrame(color, depth_mm, canvas.labels, box, centre, float(visible))


def generate_sequence(
    config: SyntheticConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Render ``config`` into the DepthTrack-layout folder ``out_dir`` (streamed to disk)."""
    sequence = SyntheticSequence(config)
    out_dir = Path(out_dir)
    LOG.info(
        "generating %s (%d frames, options: %s) into %s",
        config.sequence_name,
        len(sequence),
        ", ".join(config.enabled_options()) or "none",
        out_dir,
    )
    with SequenceWriter(out_dir, sequence.intrinsics, config.fps, overwrite=overwrite) as writer:
        frames = tqdm(
            sequence,
            total=len(sequence),
            desc=config.sequence_name,
            unit="frame",
            disable=not progress,
        )
        for frame in frames:
            writer.add(frame.color, frame.depth_mm, frame.box_xywh, frame.centre_xyz)
    return out_dir
