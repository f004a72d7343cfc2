"""``/diagnostics`` through diagnostic_updater where it is installed, else a stand-in.

diagnostic_updater has no PyPI wheel; where it is missing, ``Updater`` and
``DiagnosticStatusWrapper`` below do the part the node uses with the same behaviour and
status names (``"<node name>: <task name>"``), so tools watching ``/diagnostics`` see the
same thing either way. A period of 0 or less turns diagnostics off (``start`` returns
None), as ``diagnostics_period`` does in realsense-ros.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node


class FallbackStatus(DiagnosticStatus):
    """diagnostic_updater's ``DiagnosticStatusWrapper``: ``summary`` and ``add``."""

    def summary(self, level: bytes, message: str) -> None:
        self.level, self.message = level, str(message)

    def add(self, key: str, value: str) -> None:
        self.values.append(KeyValue(key=key, value=value))


class FallbackUpdater:
    """diagnostic_updater.Updater's ``add(name, fn)``, ``setHardwareID`` and
    ``force_update``: every ``period`` s, each task fills a fresh status."""

    def __init__(self, node: Node, period: float = 1.0) -> None:
        self.node = node
        self.hwid = ""
        self.period = period
        self._tasks: list[tuple[str, Callable[[Any], Any]]] = []
        self._lock = threading.Lock()
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 1)
        self.timer = node.create_timer(period, self.update)

    def add(self, name: str, task: Callable[[Any], Any]) -> None:
        with self._lock:
            self._tasks.append((name, task))

    def setHardwareID(self, hwid: str) -> None:  # noqa: N802 (diagnostic_updater API)
        self.hwid = hwid

    def update(self) -> None:
        with self._lock:
            tasks = list(self._tasks)
        array = DiagnosticArray()
        array.header.stamp = self.node.get_clock().now().to_msg()
        for name, task in tasks:
            status = FallbackStatus(
                level=DiagnosticStatus.ERROR,
                name=f"{self.node.get_name()}: {name}",
                message="No message was set",
                hardware_id=self.hwid,
            )
            array.status.append(task(status))
        self.publisher.publish(array)

    def force_update(self) -> None:
        self.update()


try:
    from diagnostic_updater import DiagnosticStatusWrapper, Updater

    USING_DIAGNOSTIC_UPDATER = True
except ImportError:
    DiagnosticStatusWrapper = FallbackStatus  # type: ignore[misc]
    Updater = FallbackUpdater  # type: ignore[misc]
    USING_DIAGNOSTIC_UPDATER = False


def start(node: Node, period: float) -> Updater | None:
    """An updater publishing every ``period`` s; None (diagnostics off) for ``period <= 0``."""
    if period <= 0.0:
        return None
    updater = Updater(node, period=period)
    if updater.period <= 0.0:  # diagnostic_updater.period set to 0 by the user: off as well
        node.destroy_timer(updater.timer)
        return None
    return updater


@dataclass
class ErrorLog:
    """Errors by kind, the last message, and whether one came within ``hold_s``.

    The counts only grow; ``recent`` turns False after a quiet spell of ``hold_s``, so a
    status raised by an error returns to OK instead of warning forever.
    """

    hold_s: float
    counts: Counter[str] = field(default_factory=Counter)
    last_message: str = ""
    last_time: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, message: str, now: float | None = None) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.last_message = message
            self.last_time = time.monotonic() if now is None else now

    def recent(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.last_time is not None and now - self.last_time < self.hold_s

    def snapshot(self) -> tuple[dict[str, int], str]:
        with self._lock:
            return dict(sorted(self.counts.items())), self.last_message
