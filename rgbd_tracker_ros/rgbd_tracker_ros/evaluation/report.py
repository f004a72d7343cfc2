"""Summary of an evaluation as a Markdown table (for people) and JSON (for tools)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rgbd_tracker_ros.evaluation.scoring import ScoringOptions, TrackerScore


def _num(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100.0 * value:.1f} %"


def markdown_summary(
    scores: list[TrackerScore],
    options: ScoringOptions,
    title: str,
    unavailable: Mapping[str, str] | None = None,
) -> str:
    """The overall table, a per-sequence AUC table, notes on the protocol and what was skipped."""
    within = options.reacquire_within
    lines = [
        f"# {title}",
        "",
        f"| Tracker | AUC | P@20px | Pr | Re | F | τ | absent → not reported | "
        f"re-acquired ≤{within} fr | 3D err median (cm) | track fps | track ms p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sorted(scores, key=lambda s: -s.auc):
        lt = s.long_term
        position = "–" if s.position is None else _num(s.position.median_cm, 1)
        lines.append(
            f"| {s.tracker} | {_num(s.auc)} | {_num(s.precision_20)} | {_num(lt.precision)} | "
            f"{_num(lt.recall)} | {_num(lt.f_score)} | {_num(s.operating_threshold)} | "
            f"{_pct(s.absence.rate)} ({s.absence.detected}/{s.absence.absent_frames}) | "
            f"{_pct(s.reacquisition.rate)} ({s.reacquisition.reacquired}/"
            f"{s.reacquisition.events}) | {position} | {_num(s.track_time.fps, 1)} | "
            f"{_num(s.track_time.p95_ms, 2)} |"
        )
    lines += ["", "## Success AUC per sequence", ""]
    names = [q.sequence for q in scores[0].sequences]
    lines.append("| Sequence | " + " | ".join(s.tracker for s in scores) + " |")
    lines.append("|---|" + "---|" * len(scores))
    for i, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(_num(s.sequences[i].auc) for s in scores) + " |")
    stage_rows = [(s.tracker, n, t) for s in scores for n, t in sorted(s.stage_times.items())]
    if stage_rows:
        lines += ["", "## Per-stage times (ms)", "", "| Tracker | Stage | median | p95 |"]
        lines.append("|---|---|---|---|")
        lines += [
            f"| {tr} | {name} | {_num(t.median_ms, 2)} | {_num(t.p95_ms, 2)} |"
            for tr, name, t in stage_rows
        ]
    lines += [
        "",
        "Protocol: initialised on frame 1's ground truth, never reset; frame 1 is not scored. "
        "AUC and P@20px: OTB/LaSOT success (IoU > t, t = 0..1 step 0.05) and precision "
        "(centre error ≤ 20 px) over visible frames, averaged over sequences. Pr/Re/F: VOT "
        "long-term / DepthTrack analysis (100 score thresholds, absent frames IoU 0, "
        "per-sequence curves averaged, F maximised, Pr and Re at that threshold τ). "
        "'absent → not reported': absent-target frames where the tracker said LOST or scored "
        f"under τ. Re-acquired: re-appearances followed within {within} frames by IoU > "
        f"{options.reacquire_iou} while the target is reported. 3D error: the position "
        "the node publishes (outcome.py, the node's default parameters) vs the generator's 3D "
        "ground truth, on reported frames.",
    ]
    if unavailable:
        lines += ["", "## Not evaluated", ""]
        lines += [f"- {name}: {reason}" for name, reason in sorted(unavailable.items())]
    return "\n".join(lines) + "\n"


def side_by_side(suites: list[tuple[str, list[TrackerScore]]]) -> str:
    """One row per tracker, the headline numbers of each suite next to each other."""
    names = list(dict.fromkeys(s.tracker for _, scores in suites for s in scores))
    header = "| Tracker |"
    rule = "|---|"
    for dataset, _ in suites:
        header += f" {dataset} AUC | P@20px | absent → not reported | re-acquired | fps |"
        rule += "---|" * 5
    lines = ["# Suites side by side", "", header, rule]
    for name in names:
        row = f"| {name} |"
        for _, scores in suites:
            found = [s for s in scores if s.tracker == name]
            if not found:
                row += " – |" * 5
                continue
            s = found[0]
            row += (
                f" {_num(s.auc)} | {_num(s.precision_20)} | {_pct(s.absence.rate)} | "
                f"{_pct(s.reacquisition.rate)} | {_num(s.track_time.fps, 1)} |"
            )
        lines.append(row)
    return "\n".join(lines) + "\n"


def write_summary(
    out_dir: Path,
    scores: list[TrackerScore],
    options: ScoringOptions,
    title: str,
    metadata: Mapping[str, Any],
    unavailable: Mapping[str, str] | None = None,
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.json`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path = out_dir / "summary.md"
    json_path = out_dir / "summary.json"
    md_path.write_text(markdown_summary(scores, options, title, unavailable))
    document = {
        "title": title,
        **metadata,
        "scoring": {
            "score_threshold": options.score_threshold,
            "reacquire_iou": options.reacquire_iou,
            "reacquire_within": options.reacquire_within,
            "resolution": options.resolution,
        },
        "unavailable": dict(unavailable or {}),
        "trackers": [s.as_dict() for s in scores],
    }
    json_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return md_path, json_path
