"""The approximate-time synchroniser: matching policy, clock jumps, message_filters API."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from types import SimpleNamespace

import pytest

from rgbd_tracker_ros.ros import sync
from rgbd_tracker_ros.ros.sync import (
    ApproxTimeMatcher,
    ClockJumpDetector,
    FallbackApproximateTimeSynchronizer,
    FallbackSubscriber,
    SimpleFilter,
    message_stamp_ns,
    watch_clock_jumps,
)

MS = 1_000_000
S = 1_000_000_000


def _msg(name: str, stamp_s: float) -> SimpleNamespace:
    ns = round(stamp_s * S)
    stamp = SimpleNamespace(sec=ns // S, nanosec=ns % S)
    return SimpleNamespace(name=name, header=SimpleNamespace(stamp=stamp))


def _matcher(inputs: int = 2, queue_size: int = 5, slop_ms: int = 20) -> ApproxTimeMatcher:
    return ApproxTimeMatcher(inputs, queue_size, slop_ms * MS, 1 * S)


# --- pure matching ----------------------------------------------------------------------------


def test_exact_stamps_match_in_input_order():
    m = _matcher(3, slop_ms=0)
    assert m.add(0, 100 * MS, "c") is None
    assert m.add(2, 100 * MS, "i") is None
    assert m.add(1, 100 * MS, "d") == ["c", "d", "i"]
    assert all(not q for q in m.queues)


def test_within_slop_matches_beyond_does_not():
    m = _matcher(2, slop_ms=20)
    m.add(0, 1000 * MS, "c1")
    assert m.add(1, 1025 * MS, "d-far") is None
    assert m.add(1, 1015 * MS, "d1") == ["c1", "d1"]
    # The unmatched depth at 1025 ms is older than nothing emitted yet: it may still pair.
    assert m.add(0, 1030 * MS, "c2") == ["c2", "d-far"]


def test_the_tightest_set_is_emitted_and_older_entries_are_pruned():
    m = _matcher(2, slop_ms=20)
    m.add(1, 990 * MS, "d-old")
    m.add(1, 1004 * MS, "d-close")
    m.add(1, 1018 * MS, "d-late")
    assert m.add(0, 1000 * MS, "c") == ["c", "d-close"]
    assert list(m.queues[1]) == [1018 * MS]  # d-old can never be emitted after d-close


def test_queue_size_drops_oldest():
    m = _matcher(2, queue_size=3, slop_ms=5)
    for i in range(5):
        m.add(0, (100 + i * 33) * MS, f"c{i}")
    assert sorted(m.queues[0]) == [166 * MS, 199 * MS, 232 * MS]
    assert m.add(1, 100 * MS, "d0") is None  # its partner was pushed out
    assert m.add(1, 166 * MS, "d2") == ["c2", "d2"]


def test_outputs_only_move_forward_and_duplicates_are_ignored():
    m = _matcher(2, slop_ms=5)
    m.add(0, 200 * MS, "c2")
    assert m.add(1, 200 * MS, "d2") == ["c2", "d2"]
    assert m.add(0, 200 * MS, "c2-dup") is None
    assert m.add(1, 200 * MS, "d2-dup") is None
    m.add(0, 166 * MS, "c1-late")
    assert m.add(1, 166 * MS, "d1-late") is None  # older than what was emitted
    assert m.ignored == 4
    m.add(0, 233 * MS, "c3")
    assert m.add(1, 233 * MS, "d3") == ["c3", "d3"]
    assert m.matched == 2


def test_clock_jump_back_clears_queues_and_matching_resumes():
    m = _matcher(2, slop_ms=5)
    for i in range(3):
        m.add(0, (50_000 + 33 * i) * MS, f"c{i}")
        m.add(1, (50_000 + 33 * i) * MS, f"d{i}")
    m.add(0, 50_100 * MS, "c-unmatched")
    assert m.add(0, 100 * MS, "c-loop") is None  # bag restarted 50 s earlier
    assert m.clock.jumps == 1
    assert list(m.queues[0]) == [100 * MS] and not m.queues[1]
    # The other input's first message on the new time line is no second jump.
    assert m.add(1, 100 * MS, "d-loop") == ["c-loop", "d-loop"]
    assert m.clock.jumps == 1


def _stream(m: ApproxTimeMatcher, stamps_ms: list[float]) -> int:
    """Feed color, depth and camera_info per stamp (in that order); count matched sets."""
    matched = 0
    for stamp in stamps_ms:
        for index in range(3):
            matched += m.add(index, round(stamp * MS), index) is not None
    return matched


@pytest.mark.parametrize(
    ("jump_s", "lost"),
    [(0.01, 0), (0.05, 1), (0.1, 3), (0.13, 3), (0.14, 0), (0.5, 0), (0.99, 0), (30.0, 0)],
)
def test_a_jump_back_costs_at_most_three_frames_at_30_hz(jump_s, lost):
    """150 frames at 30 Hz, the time line moved back by ``jump_s`` after the 75th (a bag or a
    simulator restarting at an earlier time). While the step between two frames is at most
    ``DEFAULT_JUMP_BACK_S`` (0.1 s), it is taken for stale messages and the frames stamped
    before the last set are dropped; beyond, the time line restarts and nothing is lost."""
    period = 1000.0 / 30.0
    before = [100_000.0 + i * period for i in range(75)]
    after = [before[-1] - jump_s * 1000.0 + (i + 1) * period for i in range(75)]
    m = ApproxTimeMatcher(3, 5, 30 * MS, round(sync.DEFAULT_JUMP_BACK_S * S))
    assert _stream(m, before + after) == 150 - lost
    assert m.clock.jumps == (1 if jump_s - period / 1000.0 > sync.DEFAULT_JUMP_BACK_S else 0)


def test_a_jump_seen_while_another_input_lags_costs_at_most_the_set_in_flight():
    m = ApproxTimeMatcher(3, 5, 30 * MS, round(sync.DEFAULT_JUMP_BACK_S * S))
    assert _stream(m, [1000.0, 1033.0]) == 2
    m.add(0, 1066 * MS, "c-old")
    m.add(1, 1066 * MS, "d-old")
    m.add(0, 500 * MS, "c-new")  # color jumped back before camera_info caught up
    m.add(2, 1066 * MS, "i-old")  # still in flight from before the jump
    assert _stream(m, [533.0 + 33.0 * i for i in range(10)]) >= 9


def test_clock_jump_detector():
    detector = ClockJumpDetector(2, 0)  # any step back is a jump
    assert detector.update(0, 10 * S) is None
    assert detector.update(1, 9 * S) is None  # another input may lag
    assert detector.update(0, 10 * S) is None  # a repeated stamp is a duplicate, not a jump
    assert detector.update(0, 9_500 * MS) == 10 * S
    assert detector.jumps == 1 and detector.last_jump == (10 * S, 9_500 * MS)
    assert detector.update(1, 9_500 * MS) is None  # input 1 follows onto the new time line
    tolerant = ClockJumpDetector(1, 1 * S)
    tolerant.update(0, 10 * S)
    assert tolerant.update(0, 9_500 * MS) is None and tolerant.update(0, 8 * S) == 10 * S


def test_bad_matcher_arguments():
    with pytest.raises(ValueError):
        ApproxTimeMatcher(0, 5, 0, S)
    with pytest.raises(ValueError):
        ApproxTimeMatcher(2, 0, 0, S)
    with pytest.raises(ValueError):
        ApproxTimeMatcher(2, 5, -1, S)


# --- message_filters-style plumbing -----------------------------------------------------------


def test_stamp_extraction():
    assert message_stamp_ns(_msg("x", 12.5)) == 12_500_000_000
    assert message_stamp_ns(SimpleNamespace(data=1)) is None
    rclpy_time = SimpleNamespace(nanoseconds=42)
    assert message_stamp_ns(SimpleNamespace(header=SimpleNamespace(stamp=rclpy_time))) == 42


def test_synchronizer_calls_back_with_messages_and_args():
    color, depth, info = SimpleFilter(), SimpleFilter(), SimpleFilter()
    ats = FallbackApproximateTimeSynchronizer([color, depth, info], 5, 0.02)
    got: list[tuple] = []
    ats.registerCallback(lambda *a: got.append(a), "extra")
    color.signalMessage(_msg("c", 1.0))
    info.signalMessage(_msg("i", 1.0))
    depth.signalMessage(_msg("d", 1.01))
    assert len(got) == 1
    assert [m.name for m in got[0][:3]] == ["c", "d", "i"] and got[0][3] == "extra"


def test_headerless_messages_are_rejected_unless_allowed():
    a, b = SimpleFilter(), SimpleFilter()
    strict = FallbackApproximateTimeSynchronizer([a, b], 5, 0.5)
    got: list[tuple] = []
    strict.registerCallback(lambda *m: got.append(m))
    a.signalMessage(SimpleNamespace(name="a"))
    b.signalMessage(SimpleNamespace(name="b"))
    assert got == [] and all(not q for q in strict.queues)

    c, d = SimpleFilter(), SimpleFilter()
    lenient = FallbackApproximateTimeSynchronizer([c, d], 5, 0.5, allow_headerless=True)
    lenient.registerCallback(lambda *m: got.append(m))
    c.signalMessage(SimpleNamespace(name="c"))
    d.signalMessage(SimpleNamespace(name="d"))
    assert [m.name for m in got[0]] == ["c", "d"]


def test_watch_clock_jumps_on_the_fallback():
    a, b = SimpleFilter(), SimpleFilter()
    ats = FallbackApproximateTimeSynchronizer([a, b], 5, 0.01)
    got: list[str] = []
    jumps: list[tuple[int, int]] = []
    ats.registerCallback(lambda x, y: got.append(x.name))
    watch_clock_jumps([a, b], ats, lambda before, after: jumps.append((before, after)), 2.0)
    a.signalMessage(_msg("a1", 100.0))
    a.signalMessage(_msg("a2", 99.0))  # 1 s back: below the 2 s tolerance asked for here
    assert jumps == []
    a.signalMessage(_msg("a3", 10.0))
    assert jumps == [(100 * S, 10 * S)]
    b.signalMessage(_msg("b3", 10.0))
    assert got == ["a3"]


class _MessageFiltersLike(SimpleFilter):
    """The parts of message_filters' ApproximateTimeSynchronizer that the watcher relies on:
    per-input ``queues`` of ``{stamp_ns: msg}`` guarded by ``lock``, and ``add(msg, queue,
    index)`` as each input calls it."""

    def __init__(self, fs: list[SimpleFilter]) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.queues: list[dict[int, object]] = [{} for _ in fs]
        for i, f in enumerate(fs):
            f.registerCallback(self.add, self.queues[i], i)

    def add(self, msg: SimpleNamespace, queue: dict[int, object], index: int) -> None:
        with self.lock:
            queue[message_stamp_ns(msg)] = msg


def test_watch_clock_jumps_clears_message_filters_queues():
    a, b = SimpleFilter(), SimpleFilter()
    ats = _MessageFiltersLike([a, b])
    jumps: list[tuple[int, int]] = []
    watch_clock_jumps([a, b], ats, lambda before, after: jumps.append((before, after)))
    for t in (50.0, 50.033, 50.066):
        a.signalMessage(_msg("a", t))
    b.signalMessage(_msg("b", 50.0))
    assert len(ats.queues[0]) == 3 and jumps == []
    a.signalMessage(_msg("a", 0.0))
    assert jumps == [(50_066 * MS, 0)]
    assert list(ats.queues[0]) == [0] and not ats.queues[1], "stale sets gone, jump kept"
    b.signalMessage(_msg("b", 0.0))  # b follows onto the new time line: no second jump
    a.signalMessage(_msg("a", 0.033))
    assert list(ats.queues[0]) == [0, 33 * MS] and list(ats.queues[1]) == [0]
    assert len(jumps) == 1


def test_fallback_subscriber_forwards_qos_and_signals():
    calls: list[tuple] = []

    class FakeNode:
        def create_subscription(self, msg_type, topic, callback, qos_profile, **kwargs):
            calls.append((msg_type, topic, qos_profile, kwargs))
            self.callback = callback
            return "subscription"

    node = FakeNode()
    sub = FallbackSubscriber(node, "Image", "color/image_raw", callback_group="group")
    assert sub.sub == "subscription" and sub.getTopic() == "color/image_raw"
    assert calls == [("Image", "color/image_raw", 10, {"callback_group": "group"})]
    FallbackSubscriber(node, "Image", "depth", qos_profile="sensor")
    assert calls[-1][2] == "sensor"
    got: list[str] = []
    sub.registerCallback(lambda m, tag: got.append(f"{m}-{tag}"), "t")
    sub.callback("msg")
    assert got == ["msg-t"]


def test_module_exports_message_filters_when_installed():
    installed = importlib.util.find_spec("message_filters") is not None
    assert installed == sync.USING_MESSAGE_FILTERS
    if not installed:
        assert sync.Subscriber is FallbackSubscriber
        assert sync.ApproximateTimeSynchronizer is FallbackApproximateTimeSynchronizer


# --- over a real ROS graph ---------------------------------------------------------------------


def test_synchronizer_over_rclpy():
    """Color and depth published with one stamp reach the callback as a pair."""
    import rclpy
    from builtin_interfaces.msg import Time
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import Image

    assert os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST"
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("sync_test", context=context)
        qos = QoSProfile(depth=5)
        color = sync.Subscriber(node, Image, "color", qos_profile=qos)
        depth = sync.Subscriber(node, Image, "depth", qos_profile=qos)
        ats = sync.ApproximateTimeSynchronizer([color, depth], 5, 0.01)
        got: list[tuple[str, str]] = []
        ats.registerCallback(lambda c, d: got.append((c.encoding, d.encoding)))
        pub_color = node.create_publisher(Image, "color", qos)
        pub_depth = node.create_publisher(Image, "depth", qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 10.0
        second = 1
        while not got and time.monotonic() < deadline:
            stamp = Time(sec=second, nanosec=0)
            second += 1
            c, d = Image(encoding="rgb8"), Image(encoding="16UC1")
            c.header.stamp = stamp
            d.header.stamp = stamp
            pub_color.publish(c)
            pub_depth.publish(d)
            executor.spin_once(timeout_sec=0.1)
        assert got and got[0] == ("rgb8", "16UC1")
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
