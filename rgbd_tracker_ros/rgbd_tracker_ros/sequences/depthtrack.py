"""RGB-D sequences in the DepthTrack folder layout: lazy reading, streaming writing.

A sequence is a folder::

    color/00000001.jpg ...   color frames, 1-based, 8 digits (any size, RGB JPEG)
    depth/00000001.png ...   depth aligned to color: single-channel 16-bit PNG, millimetres,
                             0 = no reading
    groundtruth.txt          one line per frame: ``x,y,w,h`` (color pixels, top-left corner,
                             pixel (i, j) covers [i, i+1) x [j, j+1)); ``nan,nan,nan,nan`` when
                             the target is absent (fully occluded or out of view)
    camera.yaml              the color camera (depth shares it, being aligned to color)
    groundtruth_3d.txt       optional (synthetic sequences): one line per frame ``X,Y,Z``,
                             metres, the target centre in the color optical frame (X right,
                             Y down, Z forward); ``nan,nan,nan`` when the target is absent

``camera.yaml`` is a flat YAML mapping (our own format; DepthTrack ships no intrinsics)::

    width: 640                  # image size in pixels, must match the frames
    height: 480
    fx: 615.0                   # pinhole focal lengths and principal point, pixels
    fy: 615.0
    cx: 320.0
    cy: 240.0
    distortion_model: plumb_bob # optional, ROS CameraInfo naming (default plumb_bob)
    distortion: [0.0, 0.0, 0.0, 0.0, 0.0]  # optional, ROS CameraInfo D (default: none)
    fps: 30.0                   # frame rate the sequence was recorded / is played at

Ground-truth files accept commas or whitespace between values. Reading validates the
whole folder up front (frame numbering, counts, ground-truth shape, camera file) and every
frame as it is decoded (image size, depth bit depth), so a broken sequence fails with a
``SequenceError`` naming the file instead of yielding wrong frames.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
import yaml

from rgbd_tracker_ros.geometry import Intrinsics
from rgbd_tracker_ros.tracking.api import Frame

COLOR_DIR = "color"
DEPTH_DIR = "depth"
GROUNDTRUTH_FILE = "groundtruth.txt"
GROUNDTRUTH_3D_FILE = "groundtruth_3d.txt"
CAMERA_FILE = "camera.yaml"
COLOR_SUFFIX = ".jpg"
DEPTH_SUFFIX = ".png"

# Quality 95 keeps JPEG artefacts well below what trackers notice. Noisy depth barely
# compresses whatever the effort, so PNG uses the fastest setting (level 1, run-length).
JPEG_QUALITY = 95
PNG_COMPRESSION = 1
MM_PER_M = 1000.0

_FRAME_NAME = re.compile(r"^(\d{8})$")
_REQUIRED_CAMERA_KEYS = ("width", "height", "fx", "fy", "cx", "cy", "fps")
_OPTIONAL_CAMERA_KEYS = ("distortion_model", "distortion")
# DepthTrack and VOT-RGBD sequences are recorded at 30 Hz.
_DEFAULT_FPS = 30.0


class SequenceError(ValueError):
    """A sequence folder or one of its files is malformed; the message names the file."""


def frame_filename(index: int, suffix: str) -> str:
    """File name of 0-based frame ``index`` (DepthTrack numbers frames from 1)."""
    return f"{index + 1:08d}{suffix}"


# ---------------------------------------------------------------------------- camera.yaml


def load_camera(path: str | Path) -> tuple[Intrinsics, float]:
    """Intrinsics and fps from a ``camera.yaml`` (or from the sequence folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CAMERA_FILE
    if not path.is_file():
        raise SequenceError(f"{path}: camera file missing")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SequenceError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SequenceError(f"{path}: expected a mapping of camera parameters")
    missing = [key for key in _REQUIRED_CAMERA_KEYS if key not in data]
    if missing:
        raise SequenceError(f"{path}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(_REQUIRED_CAMERA_KEYS) - set(_OPTIONAL_CAMERA_KEYS))
    if unknown:
        raise SequenceError(f"{path}: unknown key(s) {', '.join(unknown)}")
    try:
        width, height = int(data["width"]), int(data["height"])
        fx, fy, cx, cy, fps = (float(data[k]) for k in ("fx", "fy", "cx", "cy", "fps"))
        distortion = tuple(float(c) for c in data.get("distortion") or ())
    except (TypeError, ValueError) as exc:
        raise SequenceError(f"{path}: non-numeric camera parameter: {exc}") from exc
    if width <= 0 or height <= 0 or fx <= 0 or fy <= 0 or not fps > 0:
        raise SequenceError(f"{path}: width, height, fx, fy and fps must be positive")
    intrinsics = Intrinsics(
        fx=fx,
        fy=fy,
        cx=cx,
        cy=cy,
        width=width,
        height=height,
        distortion=distortion,
        distortion_model=str(data.get("distortion_model", "plumb_bob")),
    )
    return intrinsics, fps


def load_intrinsics(path: str | Path) -> Intrinsics:
    """Intrinsics from a ``camera.yaml`` (or from the sequence folder holding one)."""
    return load_camera(path)[0]


def save_camera(path: str | Path, intrinsics: Intrinsics, fps: float) -> None:
    """Write ``camera.yaml`` (``path`` is the file or the sequence folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CAMERA_FILE
    data = {
        "width": int(intrinsics.width),
        "height": int(intrinsics.height),
        "fx": float(intrinsics.fx),
        "fy": float(intrinsics.fy),
        "cx": float(intrinsics.cx),
        "cy": float(intrinsics.cy),
        "distortion_model": intrinsics.distortion_model,
        "distortion": [float(c) for c in intrinsics.distortion],
        "fps": float(fps),
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# ----------------------------------------------------------------------------- groundtruth


def load_groundtruth(path: str | Path, columns: int, num_frames: int | None = None) -> np.ndarray:
    """(N, columns) float array from a ground-truth text file; ``nan`` marks absent frames."""
    path = Path(path)
    if not path.is_file():
        raise SequenceError(f"{path}: ground-truth file missing")
    rows, line_numbers = [], []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        if len(fields) != columns:
            raise SequenceError(
                f"{path}:{line_no}: expected {columns} values, found {len(fields)}: {line!r}"
            )
        try:
            rows.append([float(f) for f in fields])
            line_numbers.append(line_no)
        except ValueError as exc:
            raise SequenceError(f"{path}:{line_no}: not a number: {line!r}") from exc
    values = np.asarray(rows, dtype=np.float64).reshape(-1, columns)
    partial = np.isnan(values).any(axis=1) & ~np.isnan(values).all(axis=1)
    if partial.any():
        line = line_numbers[int(np.flatnonzero(partial)[0])]
        raise SequenceError(f"{path}:{line}: values are either all nan (absent) or none")
    if num_frames is not None and len(values) != num_frames:
        raise SequenceError(f"{path}: {len(values)} ground-truth lines for {num_frames} frames")
    return values


def save_groundtruth(path: str | Path, values: np.ndarray, decimals: int) -> None:
    """Write one comma-separated line per row; non-finite rows become all ``nan``."""
    lines = []
    for row in np.asarray(values, dtype=np.float64):
        if np.all(np.isfinite(row)):
            lines.append(",".join(f"{v:.{decimals}f}" for v in row))
        else:
            lines.append(",".join(["nan"] * len(row)))
    Path(path).write_text("".join(line + "\n" for line in lines))


# ------------------------------------------------------------------------------- reading


def _frame_files(folder: Path, suffix: str) -> list[Path]:
    """Frame files 1..N of ``folder`` in order; a gap is an error, other files are ignored."""
    if not folder.is_dir():
        raise SequenceError(f"{folder}: frame folder missing")
    numbered: dict[int, Path] = {}
    for entry in folder.iterdir():
        match = _FRAME_NAME.match(entry.stem)
        if entry.suffix.lower() != suffix or match is None:
            continue
        numbered[int(match.group(1))] = entry
    if not numbered:
        raise SequenceError(f"{folder}: no frames named like {frame_filename(0, suffix)}")
    count = max(numbered)
    missing = [n for n in range(1, count + 1) if n not in numbered]
    if missing:
        shown = ", ".join(frame_filename(n - 1, suffix) for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise SequenceError(f"{folder}: missing frame(s) {shown}{more} (numbering ends at {count})")
    return [numbered[n] for n in range(1, count + 1)]


def _read_color(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SequenceError(f"{path}: cannot decode color image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_depth_mm(path: Path) -> np.ndarray:
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise SequenceError(f"{path}: cannot decode depth image")
    if depth.dtype != np.uint16:
        raise SequenceError(
            f"{path}: depth must be a 16-bit PNG (millimetres), found {depth.dtype}"
        )
    if depth.ndim != 2:
        raise SequenceError(
            f"{path}: depth must be single-channel, found {depth.shape[2]} channels"
        )
    return depth


class RGBDSequence:
    """A DepthTrack-layout sequence; frames are decoded only when asked for.

    Ground truth and the file list are held (small); images are read per call, so a long
    sequence never sits in memory.
    """

    def __init__(
        self,
        path: Path,
        color_files: list[Path],
        depth_files: list[Path],
        groundtruth: np.ndarray,
        groundtruth_3d: np.ndarray | None,
        intrinsics: Intrinsics,
        fps: float,
    ) -> None:
        self.path = path
        self.name = path.name
        self.intrinsics = intrinsics
        self.fps = fps
        self.groundtruth = groundtruth
        self.groundtruth_3d = groundtruth_3d
        self._color_files = color_files
        self._depth_files = depth_files

    def __len__(self) -> int:
        return len(self._color_files)

    def __iter__(self) -> Iterator[Frame]:
        for index in range(len(self)):
            yield self.frame(index)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path}: frame {index} out of range 0..{len(self) - 1}")

    def color_path(self, index: int) -> Path:
        self._check_index(index)
        return self._color_files[index]

    def depth_path(self, index: int) -> Path:
        self._check_index(index)
        return self._depth_files[index]

    def color(self, index: int) -> np.ndarray:
        """HxWx3 uint8 RGB of frame ``index`` (0-based)."""
        color = _read_color(self.color_path(index))
        self._check_size(self._color_files[index], color.shape[:2])
        return color

    def depth_mm(self, index: int) -> np.ndarray:
        """HxW uint16 millimetres of frame ``index`` as stored (0 = no reading)."""
        depth = _read_depth_mm(self.depth_path(index))
        self._check_size(self._depth_files[index], depth.shape[:2])
        return depth

    def frame(self, index: int) -> Frame:
        """Frame ``index`` (0-based): RGB color, depth in metres (float32), stamp index/fps."""
        depth = self.depth_mm(index).astype(np.float32) / np.float32(MM_PER_M)
        return Frame(
            color=self.color(index),
            depth=depth,
            stamp=index / self.fps,
            intrinsics=self.intrinsics,
        )

    def _check_size(self, path: Path, height_width: tuple[int, ...]) -> None:
        expected = (self.intrinsics.height, self.intrinsics.width)
        if tuple(height_width) != expected:
            raise SequenceError(
                f"{path}: image is {height_width[1]}x{height_width[0]}, the sequence is "
                f"{expected[1]}x{expected[0]} (camera.yaml width/height and color/depth sizes "
                "must all agree)"
            )


def read_sequence(path: str | Path, intrinsics: Intrinsics | None = None) -> RGBDSequence:
    """Open a sequence folder, validating its structure; frames load lazily.

    ``intrinsics`` replaces ``camera.yaml`` (then it may be absent, e.g. an original
    DepthTrack sequence; fps then comes from camera.yaml if present, else 30).
    """
    path = Path(path)
    if not path.is_dir():
        raise SequenceError(f"{path}: sequence folder missing")
    color_files = _frame_files(path / COLOR_DIR, COLOR_SUFFIX)
    depth_files = _frame_files(path / DEPTH_DIR, DEPTH_SUFFIX)
    if len(color_files) != len(depth_files):
        raise SequenceError(
            f"{path}: {len(color_files)} color frames but {len(depth_files)} depth frames "
            f"(last color {color_files[-1].name}, last depth {depth_files[-1].name})"
        )
    camera_path = path / CAMERA_FILE
    if intrinsics is None:
        if not camera_path.is_file():
            raise SequenceError(
                f"{camera_path}: camera file missing (write one, or pass intrinsics=...)"
            )
        intrinsics, fps = load_camera(camera_path)
    else:
        fps = load_camera(camera_path)[1] if camera_path.is_file() else _DEFAULT_FPS
    groundtruth = load_groundtruth(path / GROUNDTRUTH_FILE, 4, len(color_files))
    _check_box_sizes(path / GROUNDTRUTH_FILE, groundtruth)
    gt3d_path = path / GROUNDTRUTH_3D_FILE
    groundtruth_3d = None
    if gt3d_path.exists():
        groundtruth_3d = load_groundtruth(gt3d_path, 3, len(color_files))
    sequence = RGBDSequence(
        path, color_files, depth_files, groundtruth, groundtruth_3d, intrinsics, fps
    )
    # Decoding the first pair catches the common whole-sequence faults (8-bit depth, wrong
    # size, color/depth mismatch) at open time; every later frame is checked as it loads.
    sequence.color(0)
    sequence.depth_mm(0)
    return sequence


def _check_box_sizes(path: Path, groundtruth: np.ndarray) -> None:
    negative = (groundtruth[:, 2:] < 0).any(axis=1)
    if negative.any():
        line = int(np.flatnonzero(negative)[0]) + 1
        raise SequenceError(f"{path}:{line}: negative box width or height")


# ------------------------------------------------------------------------------- writing


def _encode(path: Path, image: np.ndarray, params: list[int]) -> None:
    ok, data = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise SequenceError(f"{path}: encoding failed")
    path.write_bytes(data.tobytes())


@dataclass
class SequenceWriter:
    """Writes a sequence frame by frame (so a generator never holds all frames).

    Use as a context manager; ground truth and ``camera.yaml`` are written on a clean exit.
    A non-empty target folder is refused unless ``overwrite``; overwriting removes only
    files of this layout.
    """

    path: Path
    intrinsics: Intrinsics
    fps: float
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._boxes: list[np.ndarray] = []
        self._centres: list[np.ndarray] = []
        if self.path.exists() and any(self.path.iterdir()):
            if not self.overwrite:
                raise FileExistsError(f"{self.path}: folder is not empty (use overwrite)")
            _remove_sequence_files(self.path)
        (self.path / COLOR_DIR).mkdir(parents=True, exist_ok=True)
        (self.path / DEPTH_DIR).mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._boxes)

    def add(
        self,
        color: np.ndarray,
        depth_mm: np.ndarray,
        box_xywh: Iterable[float],
        centre_xyz: Iterable[float] | None = None,
    ) -> None:
        """Append one frame: RGB uint8 color, uint16 millimetre depth, its ground truth."""
        index = len(self._boxes)
        expected = (self.intrinsics.height, self.intrinsics.width)
        color_path = self.path / COLOR_DIR / frame_filename(index, COLOR_SUFFIX)
        depth_path = self.path / DEPTH_DIR / frame_filename(index, DEPTH_SUFFIX)
        if color.dtype != np.uint8 or color.shape != (*expected, 3):
            raise SequenceError(
                f"{color_path}: color must be {expected[1]}x{expected[0]}x3 uint8, "
                f"got {color.shape} {color.dtype}"
            )
        if depth_mm.dtype != np.uint16 or depth_mm.shape != expected:
            raise SequenceError(
                f"{depth_path}: depth must be {expected[1]}x{expected[0]} uint16 millimetres, "
                f"got {depth_mm.shape} {depth_mm.dtype}"
            )
        box = np.asarray(list(box_xywh), dtype=np.float64)
        if box.shape != (4,):
            raise SequenceError(f"frame {index}: box must have 4 values, got {box.shape}")
        if index > 0 and (centre_xyz is not None) != bool(self._centres):
            raise SequenceError(f"frame {index}: give a 3D centre for every frame or none")
        if centre_xyz is not None:
            centre = np.asarray(list(centre_xyz), dtype=np.float64)
            if centre.shape != (3,):
                raise SequenceError(f"frame {index}: 3D centre must have 3 values")
            self._centres.append(centre)
        _encode(
            color_path,
            cv2.cvtColor(color, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
        )
        _encode(
            depth_path,
            depth_mm,
            [
                cv2.IMWRITE_PNG_COMPRESSION,
                PNG_COMPRESSION,
                cv2.IMWRITE_PNG_STRATEGY,
                cv2.IMWRITE_PNG_STRATEGY_RLE,
            ],
        )
        self._boxes.append(box)

    def close(self) -> None:
        if not self._boxes:
            raise SequenceError(f"{self.path}: no frames written")
        save_groundtruth(self.path / GROUNDTRUTH_FILE, np.stack(self._boxes), decimals=4)
        if self._centres:
            save_groundtruth(self.path / GROUNDTRUTH_3D_FILE, np.stack(self._centres), decimals=6)
        save_camera(self.path / CAMERA_FILE, self.intrinsics, self.fps)

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()


def _remove_sequence_files(path: Path) -> None:
    for folder, suffix in ((COLOR_DIR, COLOR_SUFFIX), (DEPTH_DIR, DEPTH_SUFFIX)):
        for file in (path / folder).glob(f"*{suffix}") if (path / folder).is_dir() else ():
            if _FRAME_NAME.match(file.stem):
                file.unlink()
    for name in (GROUNDTRUTH_FILE, GROUNDTRUTH_3D_FILE, CAMERA_FILE):
        (path / name).unlink(missing_ok=True)


def write_sequence(
    path: str | Path,
    colors: Iterable[np.ndarray],
    depths_mm: Iterable[np.ndarray],
    groundtruth: np.ndarray,
    intrinsics: Intrinsics,
    fps: float,
    groundtruth_3d: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a whole sequence; ``colors``/``depths_mm`` may be generators (streamed)."""
    groundtruth = np.asarray(groundtruth, dtype=np.float64)
    if groundtruth.ndim != 2 or groundtruth.shape[1] != 4:
        raise SequenceError(f"{path}: groundtruth must be (N, 4), got {groundtruth.shape}")
    if groundtruth_3d is not None:
        groundtruth_3d = np.asarray(groundtruth_3d, dtype=np.float64)
        if groundtruth_3d.shape != (len(groundtruth), 3):
            raise SequenceError(
                f"{path}: groundtruth_3d must be ({len(groundtruth)}, 3), "
                f"got {groundtruth_3d.shape}"
            )
    count = 0
    with SequenceWriter(Path(path), intrinsics, fps, overwrite=overwrite) as writer:
        for color, depth in zip(colors, depths_mm, strict=True):
            if count >= len(groundtruth):
                raise SequenceError(f"{path}: more frames than groundtruth rows")
            centre = None if groundtruth_3d is None else groundtruth_3d[count]
            writer.add(color, depth, groundtruth[count], centre)
            count += 1
        if count != len(groundtruth):
            raise SequenceError(f"{path}: {count} frames for {len(groundtruth)} groundtruth rows")
    return Path(path)
