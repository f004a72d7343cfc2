"""Services answer in every state; diagnostics tell the truth; both synchronisers work."""

from __future__ import annotations

import importlib.util
import time

import pytest
from lifecycle_msgs.srv import GetState
from rclpy.lifecycle import TransitionCallbackReturn
from ros_harness import Graph, flat_depth_mm, gray_frame, requires, small_intrinsics, wait_for
from std_srvs.srv import Trigger

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.ros import diagnostics

WARN, OK = "1", "0"


def _reset(graph: Graph) -> Trigger.Response:
    client = graph.client_node.create_client(Trigger, "/tracker/reset")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(Trigger.Request())
    assert wait_for(future.done)
    return future.result()


def _frame(graph: Graph):
    return graph.publish(gray_frame(), flat_depth_mm(), small_intrinsics())


def _answers(graph: Graph) -> bool:
    """Frames reach the node and a result comes back."""
    assert wait_for(lambda: _frame(graph) and graph.node._latest is not None)
    header = _frame(graph)
    return wait_for(lambda: graph.targets_for(header))


# --- services in every state ---------------------------------------------------------------


def test_services_answer_while_configured_but_inactive(graph):
    node = graph.start_tracker()
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert graph.init_client.wait_for_service(timeout_sec=10.0), "no ~/init while inactive"
    response = graph.init((10, 10, 20, 20))
    assert not response.success and response.target_id == 0
    assert "not active" in response.message
    assert "ros2 lifecycle set /tracker activate" in response.message
    reset = _reset(graph)
    assert not reset.success and "not active" in reset.message
    # The node's own lifecycle service still answers next to them.
    state = graph.client_node.create_client(GetState, "/tracker/get_state")
    assert state.wait_for_service(timeout_sec=10.0)
    future = state.call_async(GetState.Request())
    assert wait_for(future.done)
    assert future.result().current_state.label == "inactive"


def test_a_failed_activation_is_the_reason_services_give(graph, tmp_path):
    node = graph.start_tracker(
        **{"tracker.name": "dimp", "tracker.model_path": str(tmp_path / "missing.ts")}
    )
    node.trigger_configure()
    assert node.trigger_activate() != TransitionCallbackReturn.SUCCESS
    response = graph.init((10, 10, 20, 20))
    assert not response.success
    assert "cannot load tracker 'dimp'" in response.message and "missing.ts" in response.message


# --- diagnostics ---------------------------------------------------------------------------


def test_stale_input_says_which_topics_are_silent(graph):
    graph.activate(**{"diagnostics.stale_input": 0.5})

    def input_status() -> dict[str, str]:
        return graph.record.last_diagnostic_values("input")

    # Nothing published yet: every input is named, with its publishers and QoS.
    assert wait_for(lambda: "no frames" in input_status().get("_message", ""))
    status = input_status()
    assert status["_level"] == WARN
    for topic in ("/cam/color", "/cam/depth", "/cam/info"):
        assert f"{topic}: 1 publisher(s), subscribed reliable" in status["_message"]
    assert status["color/image_raw.publishers"] == "1"
    assert status["color/image_raw.last_message_age_s"] == "never"

    assert wait_for(lambda: _frame(graph) and input_status().get("_message") == "receiving")
    assert input_status()["_level"] == OK

    # The depth stream stops: no pairs, and only depth is named.
    color, intr = gray_frame(), small_intrinsics()

    def depth_silent() -> bool:
        graph.publish(color, None, intr)
        message = input_status().get("_message", "")
        return "no frames" in message and "/cam/depth" in message

    assert wait_for(depth_silent), input_status()
    message = input_status()["_message"]
    assert "/cam/color" not in message and "/cam/info" not in message


def test_an_error_warns_for_a_quiet_spell_then_clears(graph):
    graph.activate(**{"diagnostics.error_hold": 2.0})
    assert wait_for(lambda: _frame(graph) and graph.node._latest is not None)
    # The hold counts from the node's error, which comes before the reply: time it from the call.
    called_at = time.monotonic()
    assert not graph.init((500, 500, 20, 20)).success  # outside the image: counted

    def tracking_status() -> dict[str, str]:
        return graph.record.last_diagnostic_values()

    assert wait_for(lambda: tracking_status().get("errors.init") == "1")
    assert wait_for(lambda: tracking_status()["_level"] == OK, timeout=30.0)
    assert time.monotonic() - called_at >= 2.0
    status = tracking_status()
    assert status["errors.init"] == "1", "the count stays"
    assert "does not overlap" in status["last_error"]
    levels = [
        (s.level, s.message)
        for array in list(graph.record.diagnostics)
        for s in array.status
        if s.name == "tracker: rgbd tracking"
    ]
    assert any(ord(level) == 1 and "recent error" in message for level, message in levels)


def test_a_diagnostics_period_of_zero_turns_them_off(graph):
    graph.activate(**{"publish.diagnostics_period": 0.0})
    assert _answers(graph)
    time.sleep(1.0)
    names = {s.name for array in list(graph.record.diagnostics) for s in array.status}
    assert not {n for n in names if n.startswith("tracker:")}, names


@pytest.mark.parametrize(
    "implementation",
    [pytest.param("diagnostic_updater", marks=requires("diagnostic_updater")), "built-in"],
)
def test_the_same_statuses_with_or_without_diagnostic_updater(graph, monkeypatch, implementation):
    if implementation == "built-in":
        monkeypatch.setattr(diagnostics, "Updater", diagnostics.FallbackUpdater)
    graph.activate()
    assert _answers(graph)
    assert wait_for(lambda: graph.record.last_diagnostic_values().get("state") == "IDLE")
    tracking = graph.record.last_diagnostic_values()
    assert tracking["_level"] == OK and tracking["tracker"] == "test_steady"
    inputs = graph.record.last_diagnostic_values("input")
    assert inputs["color/image_raw.topic"] == "/cam/color"
    hardware = {
        s.hardware_id for a in list(graph.record.diagnostics) for s in a.status if s.hardware_id
    }
    assert "cpu" in hardware


def test_diagnostic_updater_is_used_where_installed():
    installed = importlib.util.find_spec("diagnostic_updater") is not None
    assert installed == diagnostics.USING_DIAGNOSTIC_UPDATER
    assert (diagnostics.Updater is diagnostics.FallbackUpdater) != installed


def test_error_log_holds_then_clears():
    log = diagnostics.ErrorLog(hold_s=10.0)
    assert not log.recent(now=0.0)
    log.record("image", "bad encoding", now=100.0)
    log.record("image", "bad encoding again", now=101.0)
    assert log.recent(now=110.9) and not log.recent(now=111.0)
    assert log.snapshot() == ({"image": 2}, "bad encoding again")


# --- both synchronisers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "message_filters",
    [pytest.param(True, marks=requires("message_filters"), id="message_filters"), False],
)
def test_pairing_and_clock_jumps_with_either_synchroniser(graph, message_filters):
    graph.activate(**{"sync.message_filters": message_filters})
    expected = "message_filters" if message_filters else "built-in"
    assert wait_for(lambda: graph.record.last_diagnostic_values("input").get("sync") == expected)
    color, depth, intr = gray_frame(), flat_depth_mm(), small_intrinsics()
    assert wait_for(lambda: graph.publish(color, depth, intr) and graph.node._latest is not None)
    assert graph.init((60, 40, 40, 30)).success
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header))
    assert graph.targets_for(header)[0].state == TrackedTarget.TRACKING
    # A bag restarting 30 s earlier: the synchroniser is emptied and pairs again.
    now = graph.client_node.get_clock().now().nanoseconds
    jumped = now - 30 * 1_000_000_000
    headers = [
        graph.publish(color, depth, intr, stamp_ns=jumped + i * 33_000_000) for i in range(5)
    ]
    assert wait_for(lambda: any(graph.targets_for(h) for h in headers[1:]))
