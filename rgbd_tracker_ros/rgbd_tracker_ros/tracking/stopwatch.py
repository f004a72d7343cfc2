"""Per-stage wall times of one tracked frame, for ``TrackResult.timings``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


class Stopwatch:
    """Per-stage wall times; waits for the GPU at stage ends so that times are attributable."""

    def __init__(self, device: torch.device) -> None:
        self.times: dict[str, float] = {}
        self._sync = device.type == "cuda"

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if self._sync:
            torch.cuda.synchronize()
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - start
