"""PNG plots of an evaluation: success, precision and Pr–Re curves, per-sequence bars.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so plotting works
headless and never changes the backend of a program that imports this module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rgbd_tracker_ros.evaluation import metrics
from rgbd_tracker_ros.evaluation.scoring import TrackerScore

DPI = 120
CURVE_SIZE = (6.0, 4.5)
# Inches; wider bar charts are unreadable when scaled down to a page or screen.
MAX_WIDTH = 16.0


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def _ranked(scores: list[TrackerScore], key: str) -> list[TrackerScore]:
    """Legend order = best first, as benchmark papers list trackers."""
    return sorted(scores, key=lambda s: -float(getattr(s, key)))


def plot_success(scores: list[TrackerScore], path: Path) -> Path:
    """Success curves (OTB/LaSOT), legend with each tracker's AUC."""
    figure = Figure(figsize=CURVE_SIZE)
    ax = figure.add_subplot()
    for score in _ranked(scores, "auc"):
        ax.plot(
            metrics.SUCCESS_THRESHOLDS,
            score.success_curve,
            linewidth=2,
            label=f"{score.tracker} [AUC {score.auc:.3f}]",
        )
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="IoU threshold", ylabel="Success rate")
    ax.set_title("Success plot (visible frames)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return _save(figure, path)


def plot_precision(scores: list[TrackerScore], path: Path) -> Path:
    """Precision curves over centre-error thresholds, the 20 px point marked."""
    figure = Figure(figsize=CURVE_SIZE)
    ax = figure.add_subplot()
    for score in _ranked(scores, "precision_20"):
        ax.plot(
            metrics.PRECISION_THRESHOLDS,
            score.precision_curve,
            linewidth=2,
            label=f"{score.tracker} [P@20 {score.precision_20:.3f}]",
        )
    ax.axvline(metrics.PRECISION_AT_PX, color="0.5", linestyle=":", linewidth=1)
    ax.set(
        xlim=(0, metrics.PRECISION_THRESHOLDS[-1]),
        ylim=(0, 1.02),
        xlabel="Centre error threshold (px)",
        ylabel="Precision",
    )
    ax.set_title("Precision plot (visible frames)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return _save(figure, path)


def plot_precision_recall(scores: list[TrackerScore], path: Path) -> Path:
    """Long-term tracking Pr–Re curves, each tracker's max-F operating point marked."""
    figure = Figure(figsize=(6.0, 5.0))
    ax = figure.add_subplot()
    recall_grid = np.linspace(0.01, 1.0, 200)
    for level in (0.2, 0.4, 0.6, 0.8):
        # Iso-F lines: Pr = F·Re / (2·Re − F), where it is defined and in range.
        with np.errstate(divide="ignore", invalid="ignore"):
            pr = level * recall_grid / (2 * recall_grid - level)
        keep = (recall_grid > level / 2) & (pr >= 0) & (pr <= 1)
        ax.plot(recall_grid[keep], pr[keep], color="0.85", linewidth=0.8, zorder=0)
        ax.annotate(f"F={level}", (recall_grid[keep][-1], pr[keep][-1]), fontsize=7, color="0.6")
    for score in sorted(scores, key=lambda s: -s.long_term.f_score):
        lt = score.long_term
        (line,) = ax.plot(
            lt.recall_curve,
            lt.precision_curve,
            linewidth=2,
            label=f"{score.tracker} [F {lt.f_score:.3f}]",
        )
        ax.plot(
            lt.recall,
            lt.precision,
            marker="o",
            markersize=8,
            markeredgecolor="black",
            color=line.get_color(),
        )
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="Recall", ylabel="Precision")
    ax.set_title("Tracking precision–recall (dot: max F)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return _save(figure, path)


def plot_per_sequence(scores: list[TrackerScore], path: Path, field: str = "auc") -> Path:
    """Grouped bars: one group per sequence, one bar per tracker, of a per-sequence metric."""
    names = [s.sequence for s in scores[0].sequences]
    for score in scores[1:]:
        if [s.sequence for s in score.sequences] != names:
            raise ValueError(f"tracker {score.tracker!r} was scored on other sequences")
    width = 0.8 / len(scores)
    positions = np.arange(len(names))
    bars = len(names) * len(scores)
    figure = Figure(figsize=(min(MAX_WIDTH, max(CURVE_SIZE[0], 0.18 * bars + 2.5)), 5.0))
    ax = figure.add_subplot()
    for k, score in enumerate(scores):
        values = [getattr(s, field) for s in score.sequences]
        ax.bar(positions + (k - (len(scores) - 1) / 2) * width, values, width, label=score.tracker)
    ax.set_xticks(positions, names, rotation=60, ha="right", fontsize=8)
    label = {"auc": "Success AUC", "precision_20": "Precision @20 px"}.get(field, field)
    ax.set(ylim=(0, 1.05), ylabel=label, xlim=(-0.6, len(names) - 0.4))
    ax.set_title(f"{label} per sequence")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return _save(figure, path)


def write_plots(scores: list[TrackerScore], out_dir: Path) -> list[Path]:
    """All evaluation plots into ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    return [
        plot_success(scores, out_dir / "success.png"),
        plot_precision(scores, out_dir / "precision.png"),
        plot_precision_recall(scores, out_dir / "precision_recall.png"),
        plot_per_sequence(scores, out_dir / "per_sequence_auc.png", "auc"),
    ]
