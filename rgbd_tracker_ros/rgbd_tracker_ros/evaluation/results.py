"""Raw per-frame tracking results: one text file per (tracker, sequence), re-scorable later.

Format (version 1), UTF-8 text, one file ``<results>/<tracker>/<sequence>.txt``::

    # rgbd_tracker_ros results 1
    # tracker: depth_dcf
    # sequence: synth_000
    # frames: 150
    frame,x,y,w,h,score,state,X,Y,Z,time_ms,stage_features_ms,stage_localize_ms
    1,101.0000,80.0000,40.0000,60.0000,1.000000,INIT,nan,nan,nan,3.2100,nan,nan
    2,102.5000,80.2500,40.0000,60.0000,0.731200,TRACKING,0.1200,-0.0400,1.5300,1.0400,0.4100,0.3000

- Lines starting with ``#`` are metadata (``key: value``); the first other line names the
  columns, comma-separated; then exactly one row per frame of the sequence, in order,
  ``frame`` counting from 1 like the DepthTrack file names.
- ``x,y,w,h``: the box in color pixels (top-left corner); always finite.
- ``score``: the tracker's confidence; always finite (the long-term analysis thresholds it).
- ``state``: TRACKING, UNCERTAIN or LOST (a TrackerState name); row 1 is ``INIT``, the
  initialisation frame, whose box is the given ground truth and which every metric skips.
- ``X,Y,Z``: the target centre in metres in the color optical frame, back-projected from
  the box and depth; ``nan`` when there was no depth estimate.
- ``time_ms``: wall time of ``track()`` (row 1: ``initialize()``); ``stage_<name>_ms``:
  the per-stage times the tracker reported in ``TrackResult.timings`` (``nan`` if absent).

Files are written whole to a temporary name and renamed, so a file that exists is a
finished run; ``read_results`` checks every row and names the file and frame of a fault.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rgbd_tracker_ros.tracking.api import TrackerState

FORMAT_VERSION = 1
MAGIC = f"# rgbd_tracker_ros results {FORMAT_VERSION}"
INIT_STATE = "INIT"
BASE_COLUMNS = ("frame", "x", "y", "w", "h", "score", "state", "X", "Y", "Z", "time_ms")
STAGE_PREFIX = "stage_"
STAGE_SUFFIX = "_ms"
SUFFIX = ".txt"


class ResultsError(ValueError):
    """A results file is missing, malformed, or does not fit its sequence."""


@dataclass
class SequenceResults:
    """One tracker's output on one sequence, one row per frame (row 0 = initialisation).

    ``states`` holds TrackerState values, with row 0 set to IDLE (it was not tracked);
    ``times`` and ``stage_times`` are seconds, NaN where not measured.
    """

    tracker: str
    sequence: str
    boxes: np.ndarray
    scores: np.ndarray
    states: np.ndarray
    positions: np.ndarray
    times: np.ndarray
    stage_times: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def lost(self) -> np.ndarray:
        return self.states == int(TrackerState.LOST)


def results_path(results_dir: Path, tracker: str, sequence: str) -> Path:
    return Path(results_dir) / tracker / f"{sequence}{SUFFIX}"


def _fmt(value: float, decimals: int) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{decimals}f}"


def write_results(path: Path, results: SequenceResults) -> None:
    """Write ``results`` atomically (temporary file + rename) in the format above."""
    _check_results(path, results)
    stages = sorted(results.stage_times)
    header = [*BASE_COLUMNS, *(f"{STAGE_PREFIX}{s}{STAGE_SUFFIX}" for s in stages)]
    lines = [
        MAGIC,
        f"# tracker: {results.tracker}",
        f"# sequence: {results.sequence}",
        f"# frames: {len(results)}",
        ",".join(header),
    ]
    for i in range(len(results)):
        state = INIT_STATE if i == 0 else TrackerState(int(results.states[i])).name
        fields = [str(i + 1)]
        fields += [_fmt(v, 4) for v in results.boxes[i]]
        fields += [_fmt(results.scores[i], 6), state]
        fields += [_fmt(v, 4) for v in results.positions[i]]
        fields.append(_fmt(results.times[i] * 1000.0, 4))
        fields += [_fmt(results.stage_times[s][i] * 1000.0, 4) for s in stages]
        lines.append(",".join(fields))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, path)


def _check_results(path: Path, results: SequenceResults) -> None:
    where = f"{path}: sequence {results.sequence!r}"
    count = len(results.boxes)
    shapes = {
        "boxes": (results.boxes.shape, (count, 4)),
        "scores": (results.scores.shape, (count,)),
        "states": (results.states.shape, (count,)),
        "positions": (results.positions.shape, (count, 3)),
        "times": (results.times.shape, (count,)),
    }
    shapes.update({f"stage {k}": (v.shape, (count,)) for k, v in results.stage_times.items()})
    for name, (shape, expected) in shapes.items():
        if shape != expected:
            raise ResultsError(f"{where}: {name} has shape {shape}, expected {expected}")
    for name in results.stage_times:
        if not name.replace("_", "").isalnum():
            raise ResultsError(f"{where}: stage name {name!r} must be letters, digits and _")
    _check_finite(where, results.boxes, results.scores)


def _check_finite(where: str, boxes: np.ndarray, scores: np.ndarray) -> None:
    bad_box = ~np.all(np.isfinite(boxes), axis=1)
    if bad_box.any():
        frame = int(np.flatnonzero(bad_box)[0]) + 1
        raise ResultsError(f"{where} frame {frame}: box {boxes[frame - 1].tolist()} is not finite")
    bad_score = ~np.isfinite(scores)
    if bad_score.any():
        frame = int(np.flatnonzero(bad_score)[0]) + 1
        raise ResultsError(f"{where} frame {frame}: score {scores[frame - 1]} is not finite")


def read_results(
    path: Path, sequence: str | None = None, num_frames: int | None = None
) -> SequenceResults:
    """Read and validate a results file.

    ``sequence`` and ``num_frames``, when given, must match the file (a results file of
    the wrong length would silently shift every frame's score). Errors name the file, the
    sequence and the frame.
    """
    path = Path(path)
    if not path.is_file():
        name = sequence or path.stem
        raise ResultsError(f"{path}: no results for sequence {name!r} (file missing)")
    lines = path.read_text().splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise ResultsError(f"{path}: not a results file (first line must be {MAGIC!r})")
    meta: dict[str, str] = {}
    body_start = 1
    while body_start < len(lines) and lines[body_start].startswith("#"):
        key, _, value = lines[body_start][1:].partition(":")
        meta[key.strip()] = value.strip()
        body_start += 1
    missing = [k for k in ("tracker", "sequence", "frames") if k not in meta]
    if missing or body_start >= len(lines):
        raise ResultsError(f"{path}: header incomplete (missing {', '.join(missing) or 'columns'})")
    name = meta["sequence"]
    where = f"{path}: sequence {name!r}"
    if sequence is not None and name != sequence:
        raise ResultsError(f"{where}: expected results for sequence {sequence!r}")
    columns = lines[body_start].strip().split(",")
    if tuple(columns[: len(BASE_COLUMNS)]) != BASE_COLUMNS:
        raise ResultsError(f"{where}: columns must start with {','.join(BASE_COLUMNS)}")
    stages = []
    for column in columns[len(BASE_COLUMNS) :]:
        if not (column.startswith(STAGE_PREFIX) and column.endswith(STAGE_SUFFIX)):
            raise ResultsError(f"{where}: unknown column {column!r}")
        stages.append(column[len(STAGE_PREFIX) : -len(STAGE_SUFFIX)])
    rows = [line for line in lines[body_start + 1 :] if line.strip()]
    declared = _int_field(where, "frames", meta["frames"])
    expected = declared if num_frames is None else num_frames
    if len(rows) != expected or declared != expected:
        raise ResultsError(
            f"{where}: {len(rows)} result rows (header says {declared}) but the sequence has "
            f"{expected} frames; re-run the tracker on it"
        )
    parsed = [_parse_row(where, i, row, len(columns)) for i, row in enumerate(rows)]
    boxes = np.array([p[0] for p in parsed], dtype=np.float64).reshape(-1, 4)
    scores = np.array([p[1] for p in parsed], dtype=np.float64)
    _check_finite(where, boxes, scores)
    times = np.array([p[4] for p in parsed], dtype=np.float64).reshape(len(rows), -1) / 1000.0
    return SequenceResults(
        tracker=meta["tracker"],
        sequence=name,
        boxes=boxes,
        scores=scores,
        states=np.array([p[2] for p in parsed], dtype=np.int64),
        positions=np.array([p[3] for p in parsed], dtype=np.float64).reshape(-1, 3),
        times=times[:, 0],
        stage_times={stage: times[:, 1 + k] for k, stage in enumerate(stages)},
    )


def _int_field(where: str, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ResultsError(f"{where}: header {key!r} is not an integer: {value!r}") from None


def _parse_row(
    where: str, index: int, row: str, num_columns: int
) -> tuple[list[float], float, int, list[float], list[float]]:
    frame = index + 1
    fields = row.split(",")
    if len(fields) != num_columns:
        raise ResultsError(f"{where} frame {frame}: {len(fields)} values, expected {num_columns}")
    if fields[0].strip() != str(frame):
        raise ResultsError(f"{where} frame {frame}: row is numbered {fields[0]!r}")
    try:
        numbers = [float(f) for f in fields[1:6]]
        position = [float(f) for f in fields[7:10]]
        times = [float(f) for f in fields[10:]]
    except ValueError as exc:
        raise ResultsError(f"{where} frame {frame}: {exc}") from None
    state_name = fields[6].strip()
    if index == 0:
        if state_name != INIT_STATE:
            raise ResultsError(f"{where} frame 1: state must be {INIT_STATE}, got {state_name!r}")
        state = int(TrackerState.IDLE)
    elif state_name in TrackerState.__members__ and state_name != TrackerState.IDLE.name:
        state = int(TrackerState[state_name])
    else:
        raise ResultsError(f"{where} frame {frame}: unknown state {state_name!r}")
    return numbers[:4], numbers[4], state, position, times
