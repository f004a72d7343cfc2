"""The ``evaluate`` command: trackers side by side over RGB-D sequences, scored and plotted.

Examples::

    evaluate --suite synthetic --trackers depth_dcf opencv_mil
    evaluate --suite synthetic hard --output results/eval   # two suites side by side
    evaluate --sequences ~/data/depthtrack_test --trackers det --output results/dt
    evaluate --suite synthetic --trackers depth_dcf --score-only   # re-score saved results

Writes into the output folder (``--output``, default ``results/<data>``):
``<tracker>/<sequence>.txt`` raw per-frame results (format in ``evaluation.results``),
``<tracker>/params.json``, ``summary.md``, ``summary.json`` and the PNG plots. A second
run with the same folder resumes: finished sequences are skipped.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rgbd_tracker_ros.evaluation.evaluate import (
    SIDE_BY_SIDE_FILE,
    SUITE_SEED,
    SUITES,
    check_params_record,
    list_sequences,
    synthetic_suite,
)
from rgbd_tracker_ros.evaluation.plots import write_plots
from rgbd_tracker_ros.evaluation.report import markdown_summary, side_by_side, write_summary
from rgbd_tracker_ros.evaluation.results import ResultsError
from rgbd_tracker_ros.evaluation.runner import run_tracker
from rgbd_tracker_ros.evaluation.scoring import (
    ScoringOptions,
    TrackerScore,
    load_results,
    score_tracker,
)
from rgbd_tracker_ros.evaluation.stats import machine_info
from rgbd_tracker_ros.paths import data_dir
from rgbd_tracker_ros.sequences.depthtrack import SequenceError, read_sequence
from rgbd_tracker_ros.tools.cli import add_param_argument, run_command, tracker_overrides
from rgbd_tracker_ros.tracking.device import limit_cpu_threads
from rgbd_tracker_ros.tracking.registry import (
    DEFAULT_TRACKER,
    create_tracker,
    parameter_record,
    tracker_params,
)

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evaluate",
        description="Run trackers over RGB-D sequences (DepthTrack layout) and score them: "
        "success AUC, precision@20px, long-term Pr/Re/F, absent-frame and re-acquisition "
        "rates, 3D error, speed. Writes raw results, summary.md/json and PNG plots.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequences", type=Path, help="folder of sequence folders (or one)")
    source.add_argument(
        "--suite",
        nargs="+",
        choices=list(SUITES),
        help="generate and use built-in suites; with several, each gets a sub-folder of "
        f"--output and a side-by-side table ({SIDE_BY_SIDE_FILE})",
    )
    parser.add_argument(
        "--trackers", nargs="+", default=[DEFAULT_TRACKER], help="registry names, side by side"
    )
    parser.add_argument("--output", type=Path, help="results folder (default results/<data>)")
    add_param_argument(parser)
    parser.add_argument(
        "--suite-size",
        type=int,
        help="sequences per suite (default: "
        + ", ".join(f"{name} {size}" for name, (_, size) in SUITES.items())
        + ")",
    )
    parser.add_argument("--suite-seed", type=int, default=SUITE_SEED, help="suite's master seed")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where suites are generated (default: $RGBD_TRACKER_DATA or the user cache)",
    )
    parser.add_argument("--limit", type=int, help="use only the first N sequences")
    parser.add_argument(
        "--overwrite", action="store_true", help="re-run sequences that already have results"
    )
    parser.add_argument(
        "--score-only", action="store_true", help="do not track; score the saved results"
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        help="score under which a frame counts as 'target not reported' (default: each "
        "tracker's max-F threshold)",
    )
    parser.add_argument(
        "--reacquire-iou", type=float, default=0.3, help="IoU that counts as re-acquired"
    )
    parser.add_argument(
        "--reacquire-within",
        type=int,
        default=30,
        metavar="FRAMES",
        help="frames after a re-appearance the tracker has to re-acquire",
    )
    parser.add_argument(
        "--threads", type=int, help="CPU threads for torch and OpenCV (steadier timings)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(
        _evaluate,
        build_parser().parse_args(argv),
        (SequenceError, ResultsError, ValueError, FileExistsError),
    )


def _evaluate(args: argparse.Namespace) -> int:
    progress = not args.no_progress
    if args.threads is not None:
        limit_cpu_threads(args.threads)
    if len(set(args.trackers)) != len(args.trackers):
        raise ValueError(f"--trackers names a tracker twice: {' '.join(args.trackers)}")
    sources: list[tuple[str, list[Path]]] = []
    for suite in dict.fromkeys(args.suite or []):
        size = args.suite_size or SUITES[suite][1]
        root = args.data_dir or data_dir()
        paths = synthetic_suite(root, size, args.suite_seed, progress, suite)
        sources.append((f"{suite}_n{size}_s{args.suite_seed}", paths))
    if args.sequences is not None:
        sources.append((args.sequences.resolve().name, list_sequences(args.sequences)))
    overrides = tracker_overrides(args.param, args.trackers)
    if len(sources) == 1:
        dataset, paths = sources[0]
        _evaluate_one(args, overrides, dataset, paths, args.output or Path("results") / dataset)
        return 0
    root = args.output or Path("results")
    suites = [
        (dataset, _evaluate_one(args, overrides, dataset, paths, root / dataset))
        for dataset, paths in sources
    ]
    table = side_by_side(suites)
    root.mkdir(parents=True, exist_ok=True)
    (root / SIDE_BY_SIDE_FILE).write_text(table)
    sys.stdout.write("\n" + table + f"\nresults: {root}\n")
    return 0


def _evaluate_one(
    args: argparse.Namespace,
    overrides: Mapping[str, Mapping[str, Any]],
    dataset: str,
    paths: list[Path],
    results_dir: Path,
) -> list[TrackerScore]:
    """Run (unless --score-only), score and report every tracker on one set of sequences."""
    progress = not args.no_progress
    if args.limit is not None:
        paths = paths[: args.limit]
    sequences = [read_sequence(p) for p in paths]

    unavailable: dict[str, str] = {}
    evaluated: list[str] = []
    for name in args.trackers:
        if not args.score_only:
            try:
                create_tracker(name, overrides[name])
            except ImportError as exc:
                LOG.warning("tracker %s unavailable: %s", name, exc)
                unavailable[name] = str(exc)
                continue
            check_params_record(
                results_dir,
                name,
                parameter_record(tracker_params(name, overrides[name])),
                args.overwrite,
            )
            run_tracker(
                name,
                overrides[name],
                paths,
                results_dir,
                resume=not args.overwrite,
                progress=progress,
            )
        evaluated.append(name)
    if not evaluated:
        raise ValueError(f"no tracker could run: {'; '.join(unavailable.values())}")

    options = ScoringOptions(
        score_threshold=args.score_threshold,
        reacquire_iou=args.reacquire_iou,
        reacquire_within=args.reacquire_within,
    )
    scores = [
        score_tracker(name, load_results(results_dir, name, sequences), sequences, options)
        for name in evaluated
    ]
    title = f"Evaluation on {dataset} ({len(sequences)} sequences)"
    metadata = {
        "dataset": dataset,
        "sequence_paths": [str(p) for p in paths],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "arguments": {key: str(value) for key, value in vars(args).items()},
        "machine": machine_info(),
        "params": {name: overrides[name] for name in evaluated},
    }
    write_summary(results_dir, scores, options, title, metadata, unavailable)
    write_plots(scores, results_dir)
    sys.stdout.write(markdown_summary(scores, options, title, unavailable))
    sys.stdout.write(f"\nresults: {results_dir}\n")
    return scores


if __name__ == "__main__":
    sys.exit(main())
