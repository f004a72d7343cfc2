"""Run trackers over sequences the way the benchmarks do, saving raw per-frame results.

Protocol: the tracker is built fresh for each sequence, initialised once on frame 1 with
the ground-truth box and never reset (VOT long-term "unsupervised" and OTB one-pass
evaluation alike); every later frame goes through ``track()``, timed with a monotonic clock.
Each frame's result then goes through the node's outcome stage (``outcome.py``) with the
node's parameters, so the boxes, states and 3D positions saved are what the node publishes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rgbd_tracker_ros.evaluation.metrics import visible_mask
from rgbd_tracker_ros.evaluation.results import (
    ResultsError,
    SequenceResults,
    read_results,
    results_path,
    write_results,
)
from rgbd_tracker_ros.outcome import Outcome, OutcomeParams, OutcomeStage
from rgbd_tracker_ros.sequences.depthtrack import RGBDSequence, read_sequence
from rgbd_tracker_ros.tracking.api import Tracker, TrackerState
from rgbd_tracker_ros.tracking.registry import create_tracker

LOG = logging.getLogger(__name__)


def track_sequence(
    tracker: Tracker,
    tracker_name: str,
    sequence: RGBDSequence,
    progress: bool = True,
    outcome_params: OutcomeParams | None = None,
) -> SequenceResults:
    """Initialise ``tracker`` on frame 1's ground truth and track every later frame."""
    count = len(sequence)
    where = f"tracker {tracker_name!r}, sequence {sequence.name!r}"
    if not visible_mask(sequence.groundtruth[:1])[0]:
        raise ResultsError(
            f"{where} frame 1: ground truth {sequence.groundtruth[0].tolist()} is absent or "
            "empty; the benchmark protocol initialises on frame 1's box"
        )
    boxes = np.zeros((count, 4))
    scores = np.zeros(count)
    states = np.zeros(count, dtype=np.int64)
    positions = np.full((count, 3), np.nan)
    times = np.full(count, np.nan)
    stages: dict[str, np.ndarray] = {}

    published = OutcomeStage(outcome_params)
    first = sequence.frame(0)
    init_box = tuple(float(v) for v in sequence.groundtruth[0])
    start = time.perf_counter()
    tracker.initialize(first, init_box)
    times[0] = time.perf_counter() - start
    boxes[0], scores[0], states[0] = init_box, 1.0, int(TrackerState.IDLE)
    positions[0] = _position(published.start(first, init_box))

    frames = range(1, count)
    bar = tqdm(frames, desc=f"{tracker_name} {sequence.name}", leave=False, disable=not progress)
    for index in bar:
        frame = sequence.frame(index)
        start = time.perf_counter()
        result = tracker.track(frame)
        times[index] = time.perf_counter() - start
        box = tuple(float(v) for v in result.box_xywh)
        score = float(result.score)
        if len(box) != 4 or not all(math.isfinite(v) for v in (*box, score)):
            raise ResultsError(
                f"{where} frame {index + 1}: tracker returned box {list(box)} score {score}; "
                "boxes and scores must be finite (report LOST instead)"
            )
        if TrackerState(result.state) == TrackerState.IDLE:
            raise ResultsError(f"{where} frame {index + 1}: track() returned IDLE after init")
        outcome = published.step(frame, result)
        boxes[index] = box if outcome.box_xywh is None else outcome.box_xywh
        scores[index], states[index] = outcome.score, int(outcome.state)
        positions[index] = _position(outcome)
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, np.full(count, np.nan))[index] = seconds
    return SequenceResults(
        tracker=tracker_name,
        sequence=sequence.name,
        boxes=boxes,
        scores=scores,
        states=states,
        positions=positions,
        times=times,
        stage_times=stages,
    )


def _position(outcome: Outcome) -> np.ndarray:
    """The published 3D position, NaN where the node publishes none."""
    return np.full(3, np.nan) if outcome.position is None else np.array(outcome.position)


def is_complete(path: Path, sequence: RGBDSequence) -> bool:
    """True when ``path`` holds a valid results file for every frame of ``sequence``.

    A damaged file (e.g. hand-edited) is logged and treated as missing, so a resumed run
    redoes that sequence instead of failing at scoring time.
    """
    if not path.is_file():
        return False
    try:
        read_results(path, sequence=sequence.name, num_frames=len(sequence))
    except ResultsError as exc:
        LOG.warning("re-running: %s", exc)
        return False
    return True


def run_tracker(
    tracker_name: str,
    params: Mapping[str, Any] | None,
    sequence_paths: list[Path],
    results_dir: Path,
    resume: bool = True,
    progress: bool = True,
    factory: Callable[[str, Mapping[str, Any] | None], Tracker] = create_tracker,
    outcome_params: OutcomeParams | None = None,
) -> list[Path]:
    """Track every sequence with a fresh ``tracker_name`` and write one results file each.

    With ``resume``, sequences whose results file is already complete are skipped, so an
    interrupted evaluation picks up where it stopped. Returns the results files in order.
    """
    written = []
    for path in sequence_paths:
        sequence = read_sequence(path)
        target = results_path(results_dir, tracker_name, sequence.name)
        if resume and is_complete(target, sequence):
            LOG.info("%s/%s: results complete, skipped", tracker_name, sequence.name)
        else:
            tracker = factory(tracker_name, params)
            results = track_sequence(tracker, tracker_name, sequence, progress, outcome_params)
            write_results(target, results)
        written.append(target)
    return written
