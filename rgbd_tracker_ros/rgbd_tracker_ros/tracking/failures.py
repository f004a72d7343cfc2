"""Throttled logging of ``track()`` failures: a tracker never raises there, it logs and says LOST.

A failure that repeats every frame (a broken GPU, a bad input stream) must not flood the log, so
at most one is logged per interval, with the number of those skipped since.
"""

from __future__ import annotations

import logging
import math
import time


class FailureLog:
    """Logs ``track()`` failures of tracker ``name`` at most once per ``interval_s``."""

    def __init__(self, logger: logging.Logger, name: str, interval_s: float) -> None:
        self._logger = logger
        self._name = name
        self._interval_s = interval_s
        self._last = -math.inf
        self._skipped = 0

    def report(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last < self._interval_s:
            self._skipped += 1
            return
        self._logger.error(
            "%s: track() failed, reporting LOST: %s (%d similar failure(s) not logged)",
            self._name,
            error,
            self._skipped,
            exc_info=error,
        )
        self._last = now
        self._skipped = 0
