"""Build trackers by name.

Factories are named as ``module:function`` strings and imported on first use, so asking
for the light default tracker never imports the network code (and vice versa).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from rgbd_tracker_ros.tracking.api import Tracker

TrackerFactory = Callable[[Mapping[str, Any]], Tracker]

DEFAULT_TRACKER = "depth_dcf"

_FACTORIES: dict[str, str] = {}


def register_tracker(name: str, factory: str) -> None:
    """Register ``factory`` (``"package.module:function"``) under ``name``."""
    if ":" not in factory:
        raise ValueError(f"tracker factory must be 'module:function', got {factory!r}")
    _FACTORIES[name] = factory


def available_trackers() -> list[str]:
    return sorted(_FACTORIES)


def create_tracker(name: str, params: Mapping[str, Any] | None = None) -> Tracker:
    """Build the tracker ``name`` with ``params`` layered over its defaults from ``config/``."""
    try:
        target = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"unknown tracker {name!r}; available: {', '.join(available_trackers())}"
        ) from None
    module_name, function_name = target.split(":")
    factory: TrackerFactory = getattr(importlib.import_module(module_name), function_name)
    return factory(dict(params or {}))


for _name, _factory in {
    "depth_dcf": "rgbd_tracker_ros.tracking.depth_dcf.tracker:build",
    "dimp": "rgbd_tracker_ros.tracking.dimp.tracker:build_dimp",
    "det": "rgbd_tracker_ros.tracking.dimp.tracker:build_det",
    "trdimp": "rgbd_tracker_ros.tracking.trdimp.tracker:build_trdimp",
    "trsiam": "rgbd_tracker_ros.tracking.trdimp.tracker:build_trsiam",
    "siamrpn": "rgbd_tracker_ros.tracking.siamrpn.tracker:build_siamrpn",
    "siamrpn_lt": "rgbd_tracker_ros.tracking.siamrpn.tracker:build_siamrpn_lt",
    "opencv_mil": "rgbd_tracker_ros.tracking.opencv.tracker:build_mil",
    "opencv_csrt": "rgbd_tracker_ros.tracking.opencv.tracker:build_csrt",
    "opencv_kcf": "rgbd_tracker_ros.tracking.opencv.tracker:build_kcf",
}.items():
    register_tracker(_name, _factory)
