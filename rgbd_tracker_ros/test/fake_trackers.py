"""Trackers for node tests, registered under test-only names (importable from test/)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.registry import register
from rgbd_tracker_ros.tracking.spec import TrackerSpec


@dataclass(frozen=True)
class NoParams:
    """A test tracker without parameters (no YAML needed)."""


@dataclass(frozen=True)
class SteadyParams:
    """``delay`` seconds per frame; raise on every ``fail_every``-th frame (0: never)."""

    delay: float = 0.0
    fail_every: int = 0


def fake_spec(name: str, factory: str, params: type = NoParams) -> TrackerSpec:
    """A spec for a tracker defined in a test module."""
    return TrackerSpec(name=name, summary="test tracker", factory=factory, params=params)


class SteadyTracker:
    """Keeps the init box; ``delay`` seconds per frame; LOST when the frame is all black.

    Predictable on purpose: node tests check the plumbing, not tracking quality.
    """

    name = "test_steady"

    def __init__(self, params: SteadyParams) -> None:
        self.delay = params.delay
        self.fail_every = params.fail_every
        self.box = (0.0, 0.0, 1.0, 1.0)
        self.frames = 0

    def initialize(self, frame: Frame, box_xywh) -> None:
        self.box = tuple(float(c) for c in box_xywh)

    def track(self, frame: Frame) -> TrackResult:
        self.frames += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_every and self.frames % self.fail_every == 0:
            raise RuntimeError("injected tracker failure")
        visible = frame.color.max() > 0
        scores = np.full((8, 8), 0.9 if visible else 0.0, np.float32)
        return TrackResult(
            box_xywh=self.box,
            score=0.9 if visible else 0.05,
            state=TrackerState.TRACKING if visible else TrackerState.LOST,
            score_map=ScoreMap(scores, self.box),
        )


@dataclass(frozen=True)
class SlowStartParams:
    """``load_s`` seconds to build, as a large model takes to load."""

    load_s: float = 10.0


def build_steady(params: SteadyParams, model: None) -> SteadyTracker:
    return SteadyTracker(params)


def build_slow_start(params: SlowStartParams, model: None) -> SteadyTracker:
    time.sleep(params.load_s)
    return SteadyTracker(SteadyParams())


register(fake_spec("test_steady", "fake_trackers:build_steady", SteadyParams))
register(fake_spec("test_slow_start", "fake_trackers:build_slow_start", SlowStartParams))
