"""Timing statistics, and the machine they were taken on, for every tool that reports speed."""

from __future__ import annotations

import math
import os
import platform
import resource
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated durations, in milliseconds (``fps`` = 1000 / mean)."""

    count: int
    median_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    fps: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0..100, linear interpolation) of the finite values; NaN if none."""
    array = np.asarray(list(values), dtype=np.float64)
    array = array[np.isfinite(array)]
    return float(np.percentile(array, q)) if array.size else math.nan


def timing_stats(seconds: Iterable[float]) -> TimingStats:
    """Median, 95th percentile, mean, extremes and mean rate of durations given in seconds.

    Non-finite entries (a stage a tracker did not report on some frame) are ignored; an
    empty input gives NaNs and count 0, so a missing stage shows up as such in a table.
    """
    array = np.asarray(list(seconds), dtype=np.float64)
    array = array[np.isfinite(array)] * 1000.0
    if array.size == 0:
        nan = math.nan
        return TimingStats(0, nan, nan, nan, nan, nan, nan)
    mean = float(array.mean())
    return TimingStats(
        count=int(array.size),
        median_ms=float(np.median(array)),
        p95_ms=float(np.percentile(array, 95)),
        mean_ms=mean,
        min_ms=float(array.min()),
        max_ms=float(array.max()),
        fps=1000.0 / mean if mean > 0 else math.inf,
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``getrusage``; no psutil).

    The kernel only keeps the high-water mark since process start, so in a run of several
    variants each reading is the peak of everything measured up to then.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars made plain and NaN made None, so JSON stays strict."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        return number if math.isfinite(number) else ("inf" if number > 0 else "-inf")
    if isinstance(value, np.integer):
        return int(value)
    return value


def machine_info() -> dict[str, Any]:
    """What a speed number depends on: CPU, core count, library versions, GPU if torch sees one.

    Torch is described only when something already imported it, so this never pays torch's
    import time for a tool that does not use it.
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name()
    return info
