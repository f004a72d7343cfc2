"""Nodes spun on a background thread while the caller's thread drives them (tools, tests)."""

from __future__ import annotations

import threading

from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future


class BackgroundSpinner:
    """Spins nodes on a single-threaded executor in a daemon thread until ``stop``.

    Single-threaded on purpose: rclpy 7.1's MultiThreadedExecutor (Jazzy) submits a callback
    that is queued but not yet started to its thread pool again on every turn of its loop
    instead of waiting (ros2/rclpy#1452). Its spin thread then holds the GIL most of the time
    and starves the caller's thread: a test's 30 Hz camera loop published at 5 Hz.
    """

    def __init__(self, *nodes: Node, context: Context | None = None) -> None:
        self.executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            self.executor.add_node(node)
        self._stop = Future()
        self._thread = threading.Thread(
            target=self.executor.spin_until_future_complete, args=(self._stop,), daemon=True
        )
        self._thread.start()

    def add(self, node: Node) -> None:
        self.executor.add_node(node)

    def stop(self, timeout: float = 30.0) -> None:
        """End the spinning, wait for the thread, shut the executor down.

        Call it before destroying the nodes: no callback then runs while they go.
        """
        self._stop.set_result(True)
        self._thread.join(timeout)
        self.executor.shutdown()
