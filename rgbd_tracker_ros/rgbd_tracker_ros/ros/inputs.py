"""The node's camera inputs: color, aligned depth and camera_info, paired by stamp.

Reliability follows the publishers (``qos.reliability: auto``), as ``ros2 topic echo`` and
rosbag2 do: an input whose publishers are all reliable is subscribed reliable, so a lost
UDP fragment of a large image is repaired instead of costing the whole frame; any
best-effort publisher makes it best effort, which connects to both kinds. The choice is
made per input when the inputs open and re-made every ``RECHECK_S`` while they are open,
so a camera started (or restarted with other QoS) later is matched too. The keep-last
depth stays small either way, so no queue of old frames builds up.

Every input also records when its last message came, for the stale-input diagnostics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_policy_name_from_kind,
)
from sensor_msgs.msg import CameraInfo, Image

from rgbd_tracker_ros.ros.sync import synchroniser, watch_clock_jumps

RECHECK_S = 1.0
INPUTS: tuple[tuple[str, type], ...] = (
    ("color/image_raw", Image),
    ("depth/image_raw", Image),
    ("color/camera_info", CameraInfo),
)
RELIABILITY_SETTINGS: dict[str, ReliabilityPolicy | None] = {
    "auto": None,
    "reliable": ReliabilityPolicy.RELIABLE,
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
}

FramesCallback = Callable[[Image, Image, CameraInfo], None]
JumpCallback = Callable[[int, int], None]
IncompatibleCallback = Callable[[str, str], None]  # (topic, policy name)


def reliability_setting(name: str) -> ReliabilityPolicy | None:
    """The fixed reliability ``name`` asks for; None for ``auto``."""
    try:
        return RELIABILITY_SETTINGS[name]
    except KeyError:
        choices = " | ".join(RELIABILITY_SETTINGS)
        raise ValueError(f"qos.reliability must be {choices}, got {name!r}") from None


def matching_reliability(
    publishers: Sequence[ReliabilityPolicy], current: ReliabilityPolicy | None
) -> ReliabilityPolicy:
    """What ``auto`` subscribes with, given the publishers' reliabilities.

    Reliable only when every publisher is reliable (a reliable subscription cannot receive
    from a best-effort publisher); with no publisher the current choice stands, best
    effort at first since it connects to whatever appears.
    """
    if not publishers:
        return current if current is not None else ReliabilityPolicy.BEST_EFFORT
    if all(p == ReliabilityPolicy.RELIABLE for p in publishers):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


@dataclass(frozen=True)
class InputConfig:
    reliability: str = "auto"
    depth: int = 2
    queue_size: int = 5
    slop: float = 0.03
    use_message_filters: bool = True


@dataclass
class InputReport:
    """One input as the diagnostics show it."""

    name: str  # the node-relative name, e.g. color/image_raw
    topic: str  # the resolved (remapped) topic
    publishers: int
    reliability: str
    messages: int
    age_s: float | None  # since the last message, None before any


@dataclass
class _Input:
    name: str
    msg_type: type
    topic: str
    reliability: ReliabilityPolicy | None = None
    messages: int = 0
    last_received: float | None = None


class CameraInputs:
    """The three synchronised subscriptions, rebuilt when ``auto`` reliability changes.

    ``on_frames(color, depth, info)`` gets each matched set; ``on_clock_jump`` is told when
    stamps jump back (the synchroniser was emptied); ``on_incompatible(topic, policy)``
    when a publisher offers QoS these subscriptions cannot match.
    """

    def __init__(
        self,
        node: Node,
        config: InputConfig,
        on_frames: FramesCallback,
        on_clock_jump: JumpCallback,
        on_incompatible: IncompatibleCallback,
    ) -> None:
        self._node = node
        self.config = config
        self._fixed = reliability_setting(config.reliability)
        self._on_frames = on_frames
        self._on_clock_jump = on_clock_jump
        self._on_incompatible = on_incompatible
        self._subscriber_cls, self._sync_cls, self.sync_name = synchroniser(
            config.use_message_filters
        )
        self._inputs = [
            _Input(name, msg_type, node.resolve_topic_name(name)) for name, msg_type in INPUTS
        ]
        self._lock = threading.Lock()
        self._subscribers: list[Any] = []
        self._sync: Any = None
        self._timer = None
        self.rebuilds = 0
        self.opened_at: float | None = None
        self._last_matched: float | None = None

    # --- open / close / re-decide ----------------------------------------------------------

    def open(self) -> None:
        self._decide()
        self._subscribe()
        self.opened_at = time.monotonic()
        if self._fixed is None:
            self._timer = self._node.create_timer(RECHECK_S, self.recheck)

    def close(self) -> None:
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None
        self._unsubscribe()
        self.opened_at = self._last_matched = None

    def recheck(self) -> bool:
        """Re-decide ``auto`` reliability from the publishers; resubscribe when it changed."""
        if self._fixed is not None or self.opened_at is None:
            return False
        if not self._decide():
            return False
        self._unsubscribe()
        self._subscribe()
        self.rebuilds += 1
        return True

    def _decide(self) -> bool:
        """Set each input's reliability; True when any changed."""
        changed = False
        for item in self._inputs:
            if self._fixed is not None:
                choice = self._fixed
            else:
                offered = [
                    info.qos_profile.reliability
                    for info in self._node.get_publishers_info_by_topic(item.topic)
                ]
                choice = matching_reliability(offered, item.reliability)
            changed |= choice != item.reliability
            item.reliability = choice
        return changed

    def _subscribe(self) -> None:
        subscribers = []
        for index, item in enumerate(self._inputs):
            qos = QoSProfile(
                reliability=item.reliability,
                history=HistoryPolicy.KEEP_LAST,
                depth=self.config.depth,
                durability=DurabilityPolicy.VOLATILE,
            )
            events = SubscriptionEventCallbacks(
                incompatible_qos=self._incompatible_handler(item.topic)
            )
            subscriber = self._subscriber_cls(
                self._node, item.msg_type, item.name, qos_profile=qos, event_callbacks=events
            )
            subscriber.registerCallback(self._arrived, index)
            subscribers.append(subscriber)
        sync = self._sync_cls(subscribers, self.config.queue_size, self.config.slop)
        sync.registerCallback(self._matched)
        watch_clock_jumps(subscribers, sync, self._on_clock_jump)
        self._subscribers, self._sync = subscribers, sync

    def _unsubscribe(self) -> None:
        for subscriber in self._subscribers:
            self._node.destroy_subscription(subscriber.sub)
        self._subscribers, self._sync = [], None

    def _incompatible_handler(
        self, topic: str
    ) -> Callable[[QoSRequestedIncompatibleQoSInfo], None]:
        def handle(event: QoSRequestedIncompatibleQoSInfo) -> None:
            self._on_incompatible(topic, qos_policy_name_from_kind(event.last_policy_kind))

        return handle

    def _matched(self, color: Image, depth: Image, info: CameraInfo) -> None:
        self._last_matched = time.monotonic()
        self._on_frames(color, depth, info)

    def _arrived(self, _msg: Any, index: int) -> None:
        item = self._inputs[index]
        with self._lock:
            item.messages += 1
            item.last_received = time.monotonic()

    # --- state for the node and its diagnostics --------------------------------------------

    @property
    def subscriptions(self) -> list[Any]:
        return [s.sub for s in self._subscribers]

    def frame_age(self, now: float | None = None) -> float | None:
        """Seconds since the last synchronised frame (or, before any, since opening);
        None while closed."""
        if self.opened_at is None:
            return None
        now = time.monotonic() if now is None else now
        return now - (self._last_matched or self.opened_at)

    def report(self, now: float | None = None) -> list[InputReport]:
        now = time.monotonic() if now is None else now
        reports = []
        for item in self._inputs:
            with self._lock:
                messages, last = item.messages, item.last_received
            publishers = len(self._node.get_publishers_info_by_topic(item.topic))
            reliability = item.reliability.name.lower() if item.reliability else "none"
            reports.append(
                InputReport(
                    name=item.name,
                    topic=item.topic,
                    publishers=publishers,
                    reliability=reliability,
                    messages=messages,
                    age_s=None if last is None else now - last,
                )
            )
        return reports
