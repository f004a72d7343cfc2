"""Python ``logging`` from the package's library modules, into the node's rclpy logger.

The worker, the trackers and the model loaders are ROS-free and log with ``logging``. In
the node those records go to a child of the node's logger (``tracker.worker``,
``tracker.tracking.dcf.tracker``, ...), so each line has a ROS severity, reaches
``/rosout`` and obeys ``--log-level`` like the node's own lines, and is printed once.
"""

from __future__ import annotations

import logging
import threading

from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.logging import LoggingSeverity

PACKAGE_LOGGER = "rgbd_tracker_ros"

_SEVERITIES = (
    (logging.CRITICAL, LoggingSeverity.FATAL),
    (logging.ERROR, LoggingSeverity.ERROR),
    (logging.WARNING, LoggingSeverity.WARN),
    (logging.INFO, LoggingSeverity.INFO),
)


def severity(levelno: int) -> LoggingSeverity:
    """The rclpy severity of a ``logging`` level (levels in between round down)."""
    for level, ros_severity in _SEVERITIES:
        if levelno >= level:
            return ros_severity
    return LoggingSeverity.DEBUG


class RclpyHandler(logging.Handler):
    """Forwards records to children of one rclpy logger, named after the module."""

    def __init__(self, logger: RcutilsLogger) -> None:
        super().__init__(level=logging.DEBUG)
        self.logger = logger
        self._children: dict[str, RcutilsLogger] = {}
        self._children_lock = threading.Lock()

    def _child(self, name: str) -> RcutilsLogger:
        short = name.removeprefix(PACKAGE_LOGGER + ".") if name != PACKAGE_LOGGER else "lib"
        with self._children_lock:
            child = self._children.get(short)
            if child is None:
                # Kept: a child logger unregisters from /rosout when it is collected.
                child = self._children[short] = self.logger.get_child(short)
            return child

    def emit(self, record: logging.LogRecord) -> None:
        try:
            child = self._child(record.name)
            level = severity(record.levelno)
            if not child.is_enabled_for(level):
                return
            message = self.format(record)
            # One call site per severity: rclpy pins a call site to the first severity it saw.
            if level == LoggingSeverity.FATAL:
                child.fatal(message)
            elif level == LoggingSeverity.ERROR:
                child.error(message)
            elif level == LoggingSeverity.WARN:
                child.warning(message)
            elif level == LoggingSeverity.INFO:
                child.info(message)
            else:
                child.debug(message)
        except Exception:  # logging must never break the caller
            self.handleError(record)


def route_package_logging(logger: RcutilsLogger) -> RclpyHandler:
    """Send the package's ``logging`` records to ``logger``'s children, and only there.

    Replaces a previous route (one node per process owns the library's log); the
    severity filter is the rclpy one, so ``--log-level`` and ``ros2 param``-style logger
    level changes apply.
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    for handler in [h for h in package.handlers if isinstance(h, RclpyHandler)]:
        package.removeHandler(handler)
    handler = RclpyHandler(logger)
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    package.propagate = False
    return handler


def unroute_package_logging(handler: RclpyHandler) -> None:
    """Undo ``route_package_logging`` (if ``handler`` is still the route)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    if handler in package.handlers:
        package.removeHandler(handler)
        package.setLevel(logging.NOTSET)
        package.propagate = True
