"""OpenCV's weight-free trackers behind the Tracker protocol, as evaluation baselines.

MIL ships with every OpenCV build (opencv-python-headless); CSRT and KCF need the contrib
build (opencv-contrib-python-headless, an optional benchmark dependency that *replaces*
opencv-python-headless: both install the same ``cv2`` package). A missing tracker raises
``ImportError`` from its factory, which the evaluation reports as "unavailable".

OpenCV's trackers give no confidence, only success or failure of ``update``: the score is
1 while it succeeds and 0 (state LOST, last good box kept) when it fails. They use colour
only; depth is ignored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rgbd_tracker_ros.geometry import BoxXYWH, validate_init_box
from rgbd_tracker_ros.tracking.api import Frame, TrackerState, TrackResult

FOUND_SCORE = 1.0
FAILED_SCORE = 0.0
# OpenCV needs a box of at least a couple of pixels to build its first model.
MIN_INIT_SIZE = 2.0


def opencv_tracker_factory(kind: str) -> tuple[Any, Any]:
    """``(create, Params)`` of OpenCV tracker ``kind`` (``"MIL"``, ``"CSRT"``, ``"KCF"``).

    Raises ImportError naming the package to install when this OpenCV build lacks it.
    """
    create = getattr(cv2, f"Tracker{kind}_create", None)
    params = getattr(cv2, f"Tracker{kind}_Params", None)
    if create is None or params is None:
        raise ImportError(
            f"OpenCV {cv2.__version__} here has no Tracker{kind}: install "
            "opencv-contrib-python-headless (same version) in place of opencv-python-headless"
        )
    return create, params


class OpenCVTracker:
    """One OpenCV tracker (MIL, CSRT or KCF) with the Tracker protocol's contract.

    ``opencv_params`` sets fields of OpenCV's ``Tracker<kind>_Params``; unknown field names
    are refused so a typo does not silently run the defaults.
    """

    def __init__(self, name: str, kind: str, opencv_params: Mapping[str, Any] | None = None):
        self.name = name
        self._create, params_type = opencv_tracker_factory(kind)
        self._params = params_type()
        for key, value in (opencv_params or {}).items():
            if key.startswith("_") or not hasattr(self._params, key):
                known = ", ".join(k for k in dir(self._params) if not k.startswith("_"))
                raise ValueError(f"{name}: unknown OpenCV parameter {key!r}; known: {known}")
            setattr(self._params, key, value)
        self._tracker: Any = None
        self._box: BoxXYWH = (0.0, 0.0, 0.0, 0.0)

    def initialize(self, frame: Frame, box_xywh: BoxXYWH) -> None:
        height, width = frame.color.shape[:2]
        box, reason = validate_init_box(box_xywh, width, height, MIN_INIT_SIZE)
        if box is None:
            raise ValueError(f"{self.name}: cannot initialise: {reason}")
        self._tracker = self._create(self._params)
        self._tracker.init(_bgr(frame.color), _int_rect(box))
        self._box = box

    def track(self, frame: Frame) -> TrackResult:
        if self._tracker is None:
            return TrackResult(self._box, FAILED_SCORE, TrackerState.IDLE)
        start = time.perf_counter()
        image = _bgr(frame.color)
        converted = time.perf_counter()
        try:
            ok, rect = self._tracker.update(image)
        except cv2.error:
            # The contract says track() never raises on a valid image: a failure is LOST.
            ok, rect = False, None
        done = time.perf_counter()
        timings = {"convert": converted - start, "update": done - converted}
        if ok and rect is not None and rect[2] > 0 and rect[3] > 0:
            self._box = tuple(float(v) for v in rect)
            return TrackResult(self._box, FOUND_SCORE, TrackerState.TRACKING, timings=timings)
        return TrackResult(self._box, FAILED_SCORE, TrackerState.LOST, timings=timings)


def _bgr(color: np.ndarray) -> np.ndarray:
    """OpenCV's colour features (CSRT colour names, HOG on gray) assume BGR order."""
    if color.ndim == 2:
        return cv2.cvtColor(color, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(color, cv2.COLOR_RGB2BGR)


def _int_rect(box: BoxXYWH) -> tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = round(x), round(y)
    return x0, y0, max(1, round(x + w) - x0), max(1, round(y + h) - y0)


@dataclass(frozen=True)
class OpenCVParams:
    """``config/trackers/opencv_<kind>.yaml``: fields of OpenCV's ``Tracker<kind>_Params``."""

    opencv_params: dict[str, Any]


def build_mil(params: OpenCVParams, model: None) -> OpenCVTracker:
    """Spec factory of ``opencv_mil`` (TrackerMIL, in every OpenCV build)."""
    return OpenCVTracker("opencv_mil", "MIL", params.opencv_params)


def build_csrt(params: OpenCVParams, model: None) -> OpenCVTracker:
    """Spec factory of ``opencv_csrt`` (TrackerCSRT, OpenCV contrib only)."""
    return OpenCVTracker("opencv_csrt", "CSRT", params.opencv_params)


def build_kcf(params: OpenCVParams, model: None) -> OpenCVTracker:
    """Spec factory of ``opencv_kcf`` (TrackerKCF, OpenCV contrib only)."""
    return OpenCVTracker("opencv_kcf", "KCF", params.opencv_params)
