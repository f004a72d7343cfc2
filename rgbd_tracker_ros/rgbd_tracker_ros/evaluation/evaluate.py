"""Evaluation over RGB-D sequences: the synthetic suite, sequence folders, parameter records.

The ``evaluate`` command (``tools/evaluate.py``) runs ``runner.run_tracker`` per tracker and
scores the saved results with ``scoring``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rgbd_tracker_ros.evaluation.results import ResultsError
from rgbd_tracker_ros.sequences.depthtrack import GROUNDTRUTH_FILE, SequenceError

LOG = logging.getLogger(__name__)

# The built-in suites: sequences.synthetic.benchmark_suite(size, SUITE_SEED, suite=...) with
# its default frame count and image size (200 frames, 640x480). "synthetic" cycles through
# every plain difficulty preset (each option, plus "all" and "easy"); "hard" through the
# hard presets (look-alikes crossing the target and waiting where it left the view, low
# light, camera shake). One seed per sequence, so a suite is the same on every machine.
SUITES: dict[str, tuple[str, int]] = {"synthetic": ("plain", 24), "hard": ("hard", 18)}
SUITE_SEQUENCES = SUITES["synthetic"][1]
SUITE_SEED = 0
LIST_FILE = "list.txt"
PARAMS_FILE = "params.json"
SUITE_COMPLETE_MARKER = ".complete"
SIDE_BY_SIDE_FILE = "suites.md"


def synthetic_suite(
    root: Path, num_sequences: int, seed: int, progress: bool, suite: str = "synthetic"
) -> list[Path]:
    """Generate (once) the built-in ``suite`` (a key of ``SUITES``) under ``root``; returns
    its folders.

    The folder name carries a hash of the configs, so a change of recipe or generator
    options regenerates instead of silently reusing stale sequences.
    """
    from rgbd_tracker_ros.sequences.synthetic import benchmark_suite, generate_sequence

    configs = benchmark_suite(num_sequences, seed, suite=SUITES[suite][0])
    digest = hashlib.sha256(repr(configs).encode()).hexdigest()[:10]
    suite_dir = root / f"{suite}_suite_n{num_sequences}_s{seed}_{digest}"
    paths = []
    for config in configs:
        path = suite_dir / config.sequence_name
        if not (path / SUITE_COMPLETE_MARKER).is_file():
            LOG.info("generating %s", path)
            generate_sequence(config, path, overwrite=True, progress=progress)
            (path / SUITE_COMPLETE_MARKER).write_text(repr(config) + "\n")
        paths.append(path)
    return paths


def list_sequences(root: Path) -> list[Path]:
    """Sequence folders under ``root``: those named in ``list.txt`` (VOT workspace
    convention), else every sub-folder holding a ground-truth file, sorted; ``root`` itself
    if it is one sequence."""
    root = Path(root)
    if not root.is_dir():
        raise SequenceError(f"{root}: sequence folder missing")
    if (root / GROUNDTRUTH_FILE).is_file():
        return [root]
    listing = root / LIST_FILE
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        missing = [n for n in names if not (root / n).is_dir()]
        if missing:
            raise SequenceError(f"{listing}: listed sequence(s) missing: {', '.join(missing)}")
        return [root / n for n in names]
    found = sorted(p for p in root.iterdir() if (p / GROUNDTRUTH_FILE).is_file())
    if not found:
        raise SequenceError(f"{root}: no sequence folders (with {GROUNDTRUTH_FILE}) inside")
    return found


def check_params_record(
    folder: Path, tracker: str, params: Mapping[str, Any], overwrite: bool = False
) -> None:
    """Refuse to resume results made with other parameters (they would be mixed silently)."""
    record = folder / tracker / PARAMS_FILE
    text = json.dumps(params, sort_keys=True, default=str)
    if record.is_file() and not overwrite:
        previous = json.dumps(json.loads(record.read_text()), sort_keys=True)
        if previous != text:
            raise ResultsError(
                f"{record}: results here were made with other parameters ({previous}); "
                "use --overwrite or another --output folder"
            )
    else:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(text + "\n")
