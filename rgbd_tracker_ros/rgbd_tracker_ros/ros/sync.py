"""Approximate-time pairing of color, depth and camera_info, with or without message_filters.

message_filters has no PyPI wheel, so where it is missing a small replacement with the same
API and semantics is used: ``Subscriber(node, msg_type, topic, qos_profile=..., ...)`` with
``.sub``, ``ApproximateTimeSynchronizer(fs, queue_size, slop, allow_headerless=False)`` and
``registerCallback(cb, *args)``. The node imports ``Subscriber`` and
``ApproximateTimeSynchronizer`` from here and is the same code either way.

The matching itself is ``ApproxTimeMatcher``, a plain class fed stamps in nanoseconds, so it
is tested without a ROS graph. Differences from message_filters, all deliberate:

- a set matches when its stamps span at most ``slop`` (message_filters: strictly less, so a
  slop of 0 never matches there; here it means exact stamps);
- of the candidate sets the tightest one is emitted, and entries older than an emitted set
  are dropped, so the output stamps only go forward (message_filters may emit an older set
  after a newer one);
- a message no newer than the last one emitted from its input is ignored (duplicates, and
  stale or reordered messages up to ``jump_back_s`` old);
- an input's stamps going back by more than ``jump_back_s`` (a bag replayed in a loop, a
  simulator restart, a camera clock reset) restart the time line: every queue is cleared,
  where message_filters would keep the stale future stamps and match nothing until they age
  out.

What a jump back costs, then: a step of more than ``jump_back_s`` (default 0.1 s) between two
messages of an input costs at most the one set in flight when it happened (usually nothing);
a smaller step costs the frames stamped before the last emitted set, fewer than
``jump_back_s`` plus one frame period worth (at most three frames at 30 Hz). One publisher's
stamps on one topic only go forward, so steps back are watched per input; once one input has
jumped, the others' next messages are taken as the new time line, not as further jumps.
(Judged against the newest stamp of all inputs with a 1 s threshold, as before, a 0.5 s step
back lost 15 frames at 30 Hz.)

With the real message_filters this is done by ``watch_clock_jumps``: it listens on the
subscribers and empties the synchroniser's queues (``sync.queues`` under ``sync.lock``, as
message_filters' Python implementation keeps them) when stamps jump back, then files the
message that revealed the jump again (``sync.add``), so the jump costs no frame. The node calls
``watch_clock_jumps`` in both cases, which also tells it about the jump.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rclpy.clock import ROSClock
from rclpy.logging import get_logger

from rgbd_tracker_ros.ros.conversions import stamp_to_ns

DEFAULT_JUMP_BACK_S = 0.1
_NS = 1_000_000_000

JumpCallback = Callable[[int, int], None]  # (newest stamp before, stamp after), nanoseconds


class ClockJumpDetector:
    """Notices a stamp more than ``jump_back_ns`` older than the previous one on its input.

    After a jump the other inputs' previous stamps are forgotten: their next messages belong
    to the new time line and are not jumps of their own.
    """

    def __init__(self, num_inputs: int, jump_back_ns: int) -> None:
        self.jump_back_ns = jump_back_ns
        self.last: list[int | None] = [None] * num_inputs
        self.jumps = 0
        self.last_jump: tuple[int, int] | None = None

    def update(self, index: int, stamp_ns: int) -> int | None:
        """Record ``stamp_ns`` on input ``index``; for a jump back, return the stamp before it."""
        previous = self.last[index]
        if previous is not None and stamp_ns < previous - self.jump_back_ns:
            self.last = [None] * len(self.last)
            self.last[index] = stamp_ns
            self.jumps += 1
            self.last_jump = (previous, stamp_ns)
            return previous
        if previous is None or stamp_ns > previous:
            self.last[index] = stamp_ns
        return None


class ApproxTimeMatcher:
    """The approximate-time policy over ``num_inputs`` queues of ``{stamp_ns: message}``.

    ``add`` files a message and returns the matched set (one message per input, in input
    order) when the new message completes one, else None. Not thread-safe: the caller locks.
    """

    def __init__(self, num_inputs: int, queue_size: int, slop_ns: int, jump_back_ns: int) -> None:
        if num_inputs < 1:
            raise ValueError("an approximate-time synchroniser needs at least one input")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        if slop_ns < 0:
            raise ValueError(f"slop must not be negative, got {slop_ns / _NS} s")
        self.queues: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self.queue_size = queue_size
        self.slop_ns = slop_ns
        self.clock = ClockJumpDetector(num_inputs, jump_back_ns)
        self._last_emitted: list[int | None] = [None] * num_inputs
        self.matched = 0
        self.ignored = 0

    def clear(self) -> None:
        for queue in self.queues:
            queue.clear()
        self._last_emitted = [None] * len(self.queues)

    def add(self, index: int, stamp_ns: int, msg: Any) -> list[Any] | None:
        if self.clock.update(index, stamp_ns) is not None:
            self.clear()
        last = self._last_emitted[index]
        if last is not None and stamp_ns <= last:
            self.ignored += 1
            return None
        queue = self.queues[index]
        queue[stamp_ns] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        if stamp_ns not in queue:  # older than everything waiting: dropped at once
            return None

        candidates: list[list[int]] = []
        for other_index, other in enumerate(self.queues):
            if other_index == index:
                candidates.append([stamp_ns])
                continue
            near = [s for s in other if abs(s - stamp_ns) <= self.slop_ns]
            if not near:
                return None
            candidates.append(near)
        best: tuple[int, ...] | None = None
        best_key: tuple[int, int] | None = None
        for combo in itertools.product(*candidates):
            spread = max(combo) - min(combo)
            if spread > self.slop_ns:
                continue
            key = (spread, -min(combo))  # tightest, then newest
            if best_key is None or key < best_key:
                best, best_key = combo, key
        if best is None:
            return None

        oldest = min(best)
        matched = [q.pop(s) for q, s in zip(self.queues, best, strict=True)]
        for i, q in enumerate(self.queues):
            for s in [s for s in q if s < oldest]:
                del q[s]
            self._last_emitted[i] = best[i]
        self.matched += 1
        return matched


def message_stamp_ns(msg: Any) -> int | None:
    """``msg.header.stamp`` in nanoseconds, or None for a message without a header."""
    header = getattr(msg, "header", None)
    stamp = getattr(header, "stamp", None)
    if stamp is None:
        return None
    if hasattr(stamp, "nanoseconds"):  # an rclpy Time rather than a message
        return int(stamp.nanoseconds)
    return stamp_to_ns(stamp)


class SimpleFilter:
    """The message_filters connection API: ``registerCallback`` and ``signalMessage``."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def registerCallback(self, cb: Callable[..., Any], *args: Any) -> int:  # noqa: N802 (message_filters API)
        """Call ``cb(*messages, *args)`` on every output; returns a connection id."""
        connection = len(self.callbacks)
        self.callbacks[connection] = (cb, args)
        return connection

    def signalMessage(self, *msg: Any) -> None:  # noqa: N802 (message_filters API)
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class FallbackSubscriber(SimpleFilter):
    """A subscription that feeds filters. Like message_filters, the default QoS is 10
    (reliable, keep last 10): pass the same ``qos_profile`` to every input and match it to
    the publishers, or nothing ever connects."""

    def __init__(
        self, node: Any, msg_type: Any, topic: str, qos_profile: Any = 10, **kwargs: Any
    ) -> None:
        super().__init__()
        self.node = node
        self.topic = topic
        self.sub = node.create_subscription(
            msg_type, topic, self.callback, qos_profile=qos_profile, **kwargs
        )

    def callback(self, msg: Any) -> None:
        self.signalMessage(msg)

    def getTopic(self) -> str:  # noqa: N802 (message_filters API)
        return self.topic


class FallbackApproximateTimeSynchronizer(SimpleFilter):
    """Calls back with one message per input whose header stamps lie within ``slop`` s.

    The callback runs under the synchroniser's lock (as in message_filters): keep it short.
    """

    def __init__(
        self,
        fs: Sequence[SimpleFilter],
        queue_size: int,
        slop: float,
        allow_headerless: bool = False,
    ) -> None:
        super().__init__()
        self.allow_headerless = allow_headerless
        self.lock = threading.Lock()
        self.matcher = ApproxTimeMatcher(
            len(fs), int(queue_size), round(slop * _NS), round(DEFAULT_JUMP_BACK_S * _NS)
        )
        self._jump_callbacks: list[JumpCallback] = []
        self._warned_headerless = False
        self.input_connections = [f.registerCallback(self.add, i) for i, f in enumerate(fs)]

    @property
    def queues(self) -> list[dict[int, Any]]:
        return self.matcher.queues

    def add_jump_callback(self, cb: JumpCallback, jump_back_s: float) -> None:
        """Call ``cb(before_ns, after_ns)`` after the queues were cleared for a jump back."""
        with self.lock:
            self.matcher.clock.jump_back_ns = round(jump_back_s * _NS)
            self._jump_callbacks.append(cb)

    def add(self, msg: Any, index: int) -> None:
        stamp = message_stamp_ns(msg)
        if stamp is None:
            if not self.allow_headerless:
                if not self._warned_headerless:
                    get_logger("rgbd_tracker_sync").warning(
                        "a message without header.stamp cannot be synchronised; pass "
                        "allow_headerless=True to stamp such messages on arrival"
                    )
                    self._warned_headerless = True
                return
            stamp = ROSClock().now().nanoseconds
        with self.lock:
            clock = self.matcher.clock
            jumps_before = clock.jumps
            matched = self.matcher.add(index, stamp, msg)
            if clock.jumps != jumps_before and clock.last_jump is not None:
                for cb in self._jump_callbacks:
                    cb(*clock.last_jump)
            if matched is not None:
                self.signalMessage(*matched)


def watch_clock_jumps(
    subscribers: Sequence[SimpleFilter],
    synchronizer: Any,
    on_jump: JumpCallback,
    jump_back_s: float = DEFAULT_JUMP_BACK_S,
) -> None:
    """Empty ``synchronizer``'s queues when input stamps jump back, then call ``on_jump``.

    Works for the fallback (which clears before filing the new message) and for
    message_filters' ``ApproximateTimeSynchronizer`` (cleared from a second callback on
    each subscriber, right after the synchroniser saw the message, which is then filed
    again). ``on_jump(before_ns, after_ns)`` runs in the subscription callback (under the
    fallback's lock): keep it short.
    """
    if isinstance(synchronizer, FallbackApproximateTimeSynchronizer):
        synchronizer.add_jump_callback(on_jump, jump_back_s)
        return
    detector = ClockJumpDetector(len(subscribers), round(jump_back_s * _NS))
    guard = threading.Lock()

    def check(msg: Any, index: int) -> None:
        stamp = message_stamp_ns(msg)
        if stamp is None:
            return
        with guard:
            previous = detector.update(index, stamp)
        if previous is None:
            return
        with synchronizer.lock:
            for queue in synchronizer.queues:
                queue.clear()
        on_jump(previous, stamp)
        # The synchroniser filed this message before the queues were emptied: file it again,
        # so the jump costs no frame.
        synchronizer.add(msg, synchronizer.queues[index], index)

    for index, subscriber in enumerate(subscribers):
        subscriber.registerCallback(check, index)


try:
    from message_filters import ApproximateTimeSynchronizer, Subscriber

    USING_MESSAGE_FILTERS = True
except ImportError:
    ApproximateTimeSynchronizer = FallbackApproximateTimeSynchronizer  # type: ignore[misc]
    Subscriber = FallbackSubscriber  # type: ignore[misc]
    USING_MESSAGE_FILTERS = False


def synchroniser(use_message_filters: bool = True) -> tuple[Any, Any, str]:
    """``(Subscriber, ApproximateTimeSynchronizer, name)``: message_filters' where it is
    installed and wanted, else the built-in ones (same API)."""
    if use_message_filters and USING_MESSAGE_FILTERS:
        return Subscriber, ApproximateTimeSynchronizer, "message_filters"
    return FallbackSubscriber, FallbackApproximateTimeSynchronizer, "built-in"
