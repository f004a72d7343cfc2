"""A callback that raises never ends spinning (``ros/guard.py``): reported, counted, spun on."""

from __future__ import annotations

import threading

import pytest
import rclpy
from rcl_interfaces.msg import Parameter, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from ros_harness import wait_for
from std_msgs.msg import String
from std_srvs.srv import Trigger

from rgbd_tracker_ros.ros.guard import GuardedNode, spin


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def test_spin_reports_what_escapes_a_callback_and_spins_on(context):
    node = Node("guard_spin_test", context=context)
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(len(ticks))
        raise RuntimeError(f"tick {len(ticks)}")

    node.create_timer(0.01, tick)
    reports: list[tuple[str, str]] = []
    spinner = threading.Thread(
        target=spin, args=(node, lambda origin, exc: reports.append((origin, str(exc))))
    )
    spinner.start()
    try:
        assert wait_for(lambda: len(reports) >= 3, timeout=60.0)
    finally:
        rclpy.shutdown(context=context)
        spinner.join(timeout=10)
    assert not spinner.is_alive()
    assert len(ticks) >= 3
    origin, message = reports[0]
    assert "test_callback_guard.py" in origin and "tick" in origin and message == "tick 1"
    node.destroy_node()


class RaisingNode(GuardedNode):
    """Every callback of its own raises; so does rclpy's parameter service on a bad type."""

    def __init__(self, context: rclpy.Context) -> None:
        super().__init__("guarded_test", context=context)
        self.errors: list[tuple[str, str]] = []
        self.create_subscription(String, "guard_topic", self._on_message, 10)
        self.create_service(Trigger, "guard_service", self._on_request)

    def _on_message(self, msg: String) -> None:
        raise ValueError(f"bad message {msg.data}")

    def _on_request(self, request: Trigger.Request, response: Trigger.Response):
        raise RuntimeError("service broke")

    def on_callback_error(self, origin: str, exc: BaseException) -> None:
        self.errors.append((origin, repr(exc)))


def test_a_guarded_node_answers_and_reports_instead_of_raising(context):
    node = RaisingNode(context)
    client_node = Node("guard_client", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(client_node)
    # rclpy.spin-like: an unguarded exception would end this thread and every answer with it.
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        publisher = client_node.create_publisher(String, "guard_topic", 10)
        assert wait_for(lambda: publisher.get_subscription_count() > 0, timeout=60.0)
        for i in range(3):
            publisher.publish(String(data=str(i)))
        assert wait_for(lambda: len(node.errors) >= 3, timeout=60.0)
        trigger = client_node.create_client(Trigger, "guard_service")
        assert trigger.wait_for_service(timeout_sec=60)
        answer = trigger.call_async(Trigger.Request())
        assert wait_for(answer.done, timeout=60.0) and not answer.result().success
        set_parameters = client_node.create_client(SetParameters, "guarded_test/set_parameters")
        assert set_parameters.wait_for_service(timeout_sec=60)
        bad = Parameter(name="x", value=ParameterValue(type=200))
        reply = set_parameters.call_async(SetParameters.Request(parameters=[bad]))
        assert wait_for(reply.done, timeout=60.0) and list(reply.result().results) == []
        assert spinner.is_alive()
    finally:
        executor.shutdown()
        spinner.join(timeout=10)
    origins = [origin for origin, _ in node.errors]
    assert origins[:3] == ["subscription /guard_topic"] * 3
    assert "bad message 0" in node.errors[0][1]
    assert origins[3].startswith("service /guard_service request")
    assert origins[4].startswith("service /guarded_test/set_parameters request")
    assert "200" in node.errors[4][1]
    for entity in (node, client_node):
        entity.destroy_node()
