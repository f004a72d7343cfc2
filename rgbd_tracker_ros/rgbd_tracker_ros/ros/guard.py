"""Callbacks that cannot kill the node: what escapes one is reported and spinning goes on.

Two layers, because an exception escaping any callback ends ``rclpy.spin`` (and the process):

- ``GuardedNode`` wraps the callback of every subscription, service and timer created on it,
  and of the services rclpy itself creates for it (parameters, lifecycle), whose code raises
  on some malformed requests (rclpy 7.1: a lifecycle transition that is not registered in the
  current state, a parameter value of an unknown type). A service whose callback raised
  answers with the empty response it was handed (``success`` false), so no caller hangs.
- ``spin`` is the last resort for everything else the executor runs (QoS event handlers,
  other waitables): the exception is reported and the loop spins on.

``GuardedLifecycleNode`` also refuses, before rcl sees it, a lifecycle transition that is not
available in the current state (rcl would log an error per request, and rclpy 7.1 raise).

Each report names where it came from (the topic, the service and its request, or the code
location) and goes to the node's ``on_callback_error``, which logs it throttled and counts it.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifecycle_msgs.srv import ChangeState
from rclpy.executors import (
    ExternalShutdownException,
    ShutdownException,
    SingleThreadedExecutor,
)
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node

ErrorReport = Callable[[str, BaseException], None]  # (origin, exception)

_GUARDED = "__rgbd_tracker_guarded__"
_REQUEST_SHOWN = 160  # characters of a request quoted in a report


def guarded(origin: str, callback: Callable[..., Any], report: ErrorReport) -> Callable[..., Any]:
    """``callback`` that reports an exception instead of raising it (None is returned)."""
    if getattr(callback, _GUARDED, False) or inspect.iscoroutinefunction(callback):
        return callback  # already guarded; coroutines are left to ``spin``

    def call(*args: Any) -> Any:
        try:
            return callback(*args)
        except Exception as exc:
            report(origin, exc)
            return None

    setattr(call, _GUARDED, True)
    return call


def guarded_service(
    origin: str, callback: Callable[[Any, Any], Any], report: ErrorReport
) -> Callable[[Any, Any], Any]:
    """A service ``callback`` that answers with the untouched response when it raises."""
    if getattr(callback, _GUARDED, False) or inspect.iscoroutinefunction(callback):
        return callback

    def call(request: Any, response: Any) -> Any:
        try:
            return callback(request, response)
        except Exception as exc:
            shown = repr(request)
            if len(shown) > _REQUEST_SHOWN:
                shown = shown[: _REQUEST_SHOWN - 3] + "..."
            report(f"{origin} request {shown}", exc)
            return response

    setattr(call, _GUARDED, True)
    return call


class GuardedNode(Node):
    """A node whose callbacks report exceptions to ``on_callback_error`` instead of raising.

    Put it before the rclpy node class in the bases (as ``GuardedLifecycleNode`` does), so
    that the services the rclpy constructors create are guarded too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lifecycle services are built with ``Service(...)``, not ``create_service``.
        for service in self.services:
            origin = f"service {self.resolve_service_name(service.srv_name)}"
            service.callback = guarded_service(origin, service.callback, self.on_callback_error)

    def create_subscription(
        self, msg_type: Any, topic: str, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        subscription = super().create_subscription(msg_type, topic, callback, *args, **kwargs)
        origin = f"subscription {subscription.topic_name}"
        subscription.callback = guarded(origin, subscription.callback, self.on_callback_error)
        return subscription

    def create_service(
        self, srv_type: Any, srv_name: str, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        service = super().create_service(srv_type, srv_name, callback, *args, **kwargs)
        origin = f"service {self.resolve_service_name(srv_name)}"
        service.callback = guarded_service(origin, service.callback, self.on_callback_error)
        return service

    def create_timer(
        self, timer_period_sec: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        timer = super().create_timer(timer_period_sec, callback, *args, **kwargs)
        origin = f"timer {getattr(callback, '__qualname__', 'callback')}"
        timer.callback = guarded(origin, timer.callback, self.on_callback_error)
        return timer

    def on_callback_error(self, origin: str, exc: BaseException) -> None:
        """Where guarded exceptions go; subclasses count them (this one only logs)."""
        self.get_logger().error(
            f"{origin} raised {exc!r}; the node carries on", throttle_duration_sec=5.0
        )


class GuardedLifecycleNode(GuardedNode, LifecycleNode):
    """A guarded lifecycle node whose ``change_state`` service refuses a transition that is
    not available in the current state before rcl sees it: rcl logs an error for each such
    request, unthrottled, and rclpy 7.1 then raises. The refusal is logged, throttled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for service in self.services:
            if service.srv_type is ChangeState:
                service.callback = self._available_only(service.callback)

    def _available_only(self, change_state: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def call(request: ChangeState.Request, response: ChangeState.Response) -> Any:
            # (id, label, start id, start label, goal id, goal label) per available transition
            available = self._state_machine.available_transitions
            transition = request.transition
            if transition.label:
                allowed = transition.label in {item[1] for item in available}
            else:
                allowed = transition.id in {item[0] for item in available}
            if allowed:
                return change_state(request, response)
            state = self._state_machine.current_state[1]
            asked = repr(transition.label[:40]) if transition.label else transition.id
            self.get_logger().warn(
                f"lifecycle transition {asked} refused: not available in state {state!r}",
                throttle_duration_sec=5.0,
            )
            response.success = False
            return response

        return call


def code_origin(exc: BaseException) -> str:
    """Where ``exc`` was raised: ``file:line (function)`` of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown callback"
    last = frames[-1]
    return f"callback at {Path(last.filename).name}:{last.lineno} ({last.name})"


def spin(node: Node, report: ErrorReport) -> None:
    """Spin ``node`` until its context shuts down; exceptions from callbacks are reported.

    Ctrl-C (``KeyboardInterrupt``) still ends it, as with ``rclpy.spin``.
    """
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        while node.context.ok():
            try:
                executor.spin_once(timeout_sec=0.5)
            except (ExternalShutdownException, ShutdownException):
                break
            except Exception as exc:
                report(code_origin(exc), exc)
    finally:
        executor.shutdown()
