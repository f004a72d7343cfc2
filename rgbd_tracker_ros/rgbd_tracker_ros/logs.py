"""Logging helpers shared by the ROS-free code (the node logs through rclpy's logger).

Convention: each module logs to ``LOG = logging.getLogger(__name__)``.
"""

from __future__ import annotations

import logging
import math
import time


class ThrottledLog:
    """Log the first of a burst of errors, then at most one per ``interval_s`` with a count.

    For errors that can repeat every frame (a tracker failing on each frame, a broken input
    stream): the first is seen at once, and a steady failure costs one line per interval, not
    one per frame.
    """

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last = -math.inf
        self._suppressed = 0

    def error(self, message: str, exc_info: BaseException | None = None) -> None:
        now = time.monotonic()
        if now - self._last < self._interval_s:
            self._suppressed += 1
            return
        suffix = f" ({self._suppressed} similar errors not logged)" if self._suppressed else ""
        self._logger.error("%s%s", message, suffix, exc_info=exc_info)
        self._last, self._suppressed = now, 0

    def track_failure(self, tracker: str, error: Exception) -> None:
        """A ``track()`` that failed: the tracker reports LOST instead of raising."""
        self.error(f"{tracker}: track() failed, reporting LOST: {error}", exc_info=error)
