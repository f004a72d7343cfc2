"""What a tracked frame says to the outside world, ROS-free: state, 3D position, occlusion.

The node's worker and the evaluation both turn a tracker's ``TrackResult`` into an ``Outcome``
here, with the same parameters (the node's defaults are ``OutcomeParams``'s), so every number
the evaluation reports is the number the node publishes on that frame.

Occlusion has one owner per tracker: a tracker that judges it (``TrackResult.occluded`` not
None, e.g. ``depth_dcf`` from the depth in front of its target) is followed; for the others the
depth cue below decides. Either way an occluded frame gives no 3D position, because the depth
read in the box is the occluder's.

No pose jump without a plausible cause: when a box slips partly off its target (the target
leaving the view, an occluder or a look-alike taking over part of it) the depth read in it
can jump to the background or to the other object, and the 3D position with it; a robot
following the target would lurch metres in one frame. A depth further from the last one given
out than the target can have moved since (``max_target_speed`` plus the sensor's noise) is not
the target's: UNCERTAIN, no position. The last depth stays the reference, so a jump that was
real is taken once enough time has passed for the target to have made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rgbd_tracker_ros.geometry import (
    BoxXYWH,
    DepthEstimate,
    DepthParams,
    box_position,
    clip_box,
    metric_size,
    robust_target_depth,
)
from rgbd_tracker_ros.tracking.api import Frame, ScoreMap, TrackerState, TrackResult

# No target is farther than this from the camera: a 3D result beyond it can only come from
# broken intrinsics, so it is not given (the messages' float32 fields could not even hold it).
MAX_METRES = 1e4

# What the depth given out may move between two frames besides the target's own motion: the
# sensor's noise and the robust box depth's wobble (a few cm at 1-4 m on a RealSense).
DEPTH_NOISE_M = 0.1
DEPTH_NOISE_SHARE = 0.05


@dataclass(frozen=True)
class OutcomeParams:
    """The node's run-time parameters (``thresholds.*``, ``depth.*``): their one set of defaults.

    Scores below ``lost_score`` make the result LOST, below ``uncertain_score`` UNCERTAIN (they
    only ever lower the tracker's own state; 0 leaves it alone).

    Depth cue, for trackers that do not judge occlusion: the box's depth falls below
    ``(1 - occlusion_depth_drop)`` x the tracked depth while the score falls below
    ``(1 - occlusion_score_drop)`` x its running level: something came between camera and
    target, so the state becomes UNCERTAIN. ``smoothing`` is the weight of the newest value in
    the running depth and score levels.

    The box's depth is read from readings in ``[min_depth_m, max_depth_m]``; with fewer than
    ``min_valid_pixels`` of them there is no depth and no 3D position. ``max_target_speed``
    (m/s, target and camera together) bounds how fast that depth may change.
    """

    uncertain_score: float = 0.0
    lost_score: float = 0.0
    occlusion_depth_drop: float = 0.25
    occlusion_score_drop: float = 0.3
    smoothing: float = 0.5
    min_valid_pixels: int = 20
    min_depth_m: float = 0.1
    max_depth_m: float = 10.0
    max_target_speed: float = 3.0

    def __post_init__(self) -> None:
        if not 0.0 < self.occlusion_depth_drop < 1.0:
            raise ValueError("occlusion_depth_drop must be in (0, 1)")
        if not 0.0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError("the depth range must have 0 <= min < max")
        if self.min_valid_pixels < 1:
            raise ValueError("min_valid_pixels must be >= 1")
        if not 0.0 <= self.max_target_speed < math.inf:
            raise ValueError("max_target_speed must be finite and not negative")

    @property
    def depth(self) -> DepthParams:
        return DepthParams(
            min_depth_m=self.min_depth_m,
            max_depth_m=self.max_depth_m,
            min_valid_pixels=self.min_valid_pixels,
        )


@dataclass
class Outcome:
    """One frame as published.

    ``box_xywh`` is the tracker's box clipped to the image (None when nothing of it is left);
    ``position`` the target centre (metres, color optical frame) and ``metric_size`` its
    width/height (metres), both None without usable depth, without intrinsics, while occluded,
    LOST, when the depth jumped (``depth_jumped``: further from the last one given out than
    the target can have moved), or when they would be non-finite or beyond ``MAX_METRES``.
    ``depth`` is what the box's pixels say: the occluder's depth when ``occluded``. Every
    number here is finite.
    """

    state: TrackerState
    box_xywh: BoxXYWH | None = None
    score: float = 0.0
    score_map: ScoreMap | None = None
    depth: DepthEstimate | None = None
    position: tuple[float, float, float] | None = None
    metric_size: tuple[float, float] | None = None
    occluded: bool = False
    depth_jumped: bool = False


class OutcomeStage:
    """The outcome of each frame of one target; ``start`` on a new target, then ``step``.

    Holds the running depth and score levels the depth cue compares with, and the last depth
    given out with its stamp. ``params`` may be replaced at any time (the node's
    ``ros2 param set``).
    """

    def __init__(self, params: OutcomeParams | None = None) -> None:
        self.params = params or OutcomeParams()
        self._depth_level: float | None = None
        self._score_level: float | None = None
        self._given_depth: float | None = None
        self._given_stamp = 0.0

    def start(self, frame: Frame, box_xywh: BoxXYWH) -> Outcome:
        """The outcome of the frame a tracker was just initialised on with ``box_xywh``."""
        self._depth_level = self._score_level = self._given_depth = None
        outcome = Outcome(TrackerState.TRACKING, clip_box(box_xywh, *frame.size_wh), score=1.0)
        if outcome.box_xywh is None:
            raise ValueError(f"init box {list(box_xywh)} is outside the frame")
        self._measure(frame, outcome, None, tracking=False)
        return outcome

    def step(self, frame: Frame, result: TrackResult) -> Outcome:
        """The outcome of a tracked frame."""
        params = self.params
        box = clip_box(result.box_xywh, *frame.size_wh)
        state = result.state if result.state != TrackerState.IDLE else TrackerState.LOST
        if box is None:
            state = TrackerState.LOST
        score = float(result.score) if math.isfinite(result.score) else 0.0
        if score < params.lost_score:
            state = TrackerState.LOST
        elif score < params.uncertain_score and state == TrackerState.TRACKING:
            state = TrackerState.UNCERTAIN
        outcome = Outcome(state, box, score, _finite(result.score_map))
        if state != TrackerState.LOST:
            self._measure(frame, outcome, result.occluded, tracking=True)
        return outcome

    def _measure(self, frame: Frame, outcome: Outcome, judged: bool | None, tracking: bool) -> None:
        """Depth, occlusion, position and size of ``outcome``."""
        box, params = outcome.box_xywh, self.params
        if frame.depth is None or box is None:
            return
        estimate = robust_target_depth(frame.depth, box, params.depth)
        outcome.depth = estimate
        if judged is None:
            occluded = tracking and estimate is not None and self._depth_cue(estimate, outcome)
        else:
            occluded = judged
        if occluded:
            outcome.occluded = True
            if outcome.state == TrackerState.TRACKING:
                outcome.state = TrackerState.UNCERTAIN
            return
        if estimate is None:
            return
        if not self._plausible(estimate.depth, frame.stamp):
            outcome.depth_jumped = True
            if outcome.state == TrackerState.TRACKING:
                outcome.state = TrackerState.UNCERTAIN
            return
        if outcome.state == TrackerState.TRACKING:
            self._depth_level = _blend(self._depth_level, estimate.depth, params.smoothing)
            if tracking:
                self._score_level = _blend(self._score_level, outcome.score, params.smoothing)
        if frame.intrinsics is None:
            return
        position = box_position(box, estimate.depth, frame.intrinsics)
        size = metric_size(box[2], box[3], estimate.depth, frame.intrinsics)
        if all(math.isfinite(c) and abs(c) <= MAX_METRES for c in (*position, *size)):
            outcome.position, outcome.metric_size = position, size

    def _plausible(self, depth: float, stamp: float) -> bool:
        """``depth`` at ``stamp`` is within the target's reach of the last depth given out (and
        becomes it); the first depth of a target always is. Stamps that went backwards (a
        replayed recording restarting) count as no time."""
        given = self._given_depth
        if given is not None:
            elapsed = max(stamp - self._given_stamp, 0.0)
            reach = (
                DEPTH_NOISE_M + DEPTH_NOISE_SHARE * given + self.params.max_target_speed * elapsed
            )
            if abs(depth - given) > reach:
                return False
        self._given_depth, self._given_stamp = depth, stamp
        return True

    def _depth_cue(self, estimate: DepthEstimate, outcome: Outcome) -> bool:
        params = self.params
        depth_fell = (
            self._depth_level is not None
            and estimate.depth < (1.0 - params.occlusion_depth_drop) * self._depth_level
        )
        score_fell = (
            self._score_level is not None
            and outcome.score < (1.0 - params.occlusion_score_drop) * self._score_level
        )
        return depth_fell and score_fell


def _finite(score_map: ScoreMap | None) -> ScoreMap | None:
    """``score_map`` with non-finite scores (a diverged network) replaced by 0."""
    if score_map is None or np.isfinite(score_map.scores).all():
        return score_map
    scores = np.nan_to_num(score_map.scores, nan=0.0, posinf=0.0, neginf=0.0)
    return ScoreMap(scores, score_map.region_xywh)


def _blend(level: float | None, value: float, weight: float) -> float:
    return value if level is None else (1.0 - weight) * level + weight * value
