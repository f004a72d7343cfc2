"""The inference worker: newest-wins mailbox, init/reset, errors, 3D and occlusion, stats."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest
import torch

from rgbd_tracker_ros.geometry import Intrinsics, back_project
from rgbd_tracker_ros.outcome import OutcomeParams
from rgbd_tracker_ros.tracking.api import Frame, TrackerState, TrackResult
from rgbd_tracker_ros.worker import (
    FrameBundle,
    LatencyStats,
    LatestSlot,
    RateStats,
    TrackerLoadError,
    TrackingWorker,
    WorkerConfig,
    WorkerResult,
)

W, H = 64, 48
INTR = Intrinsics(fx=60.0, fy=60.0, cx=32.0, cy=24.0, width=W, height=H)
TIMEOUT = 5.0
LONG_TIMEOUT = 60.0  # a wait that ends this late did not end on the event it waits for


# --- mailbox ----------------------------------------------------------------------------------


def test_slot_newest_wins_and_counts_drops():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.dropped == 2
    assert slot.get(0.0) == 3
    assert slot.get(0.01) is None
    assert slot.put(4) is False
    assert slot.dropped == 2


def test_slot_close_wakes_a_waiting_reader():
    slot: LatestSlot[int] = LatestSlot()
    got: list[int | None] = []
    reader = threading.Thread(target=lambda: got.append(slot.get()))
    reader.start()
    time.sleep(0.05)
    slot.close()
    reader.join(TIMEOUT)
    assert not reader.is_alive() and got == [None]
    assert slot.put(5) is False and slot.get(0.0) is None


def test_slot_get_wakes_on_put():
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, args=("x",)).start()
    start = time.monotonic()
    assert slot.get(LONG_TIMEOUT) == "x"
    assert time.monotonic() - start < LONG_TIMEOUT, "woke at the timeout, not at the put"


# --- stats ------------------------------------------------------------------------------------


def test_rate_and_latency_stats():
    rate = RateStats(window_s=2.0)
    assert rate.rate(now=0.0) == 0.0
    for i in range(11):
        rate.tick(now=10.0 + 0.1 * i)
    assert rate.rate(now=11.0) == pytest.approx(10.0)
    assert rate.rate(now=12.5) == pytest.approx(10.0 * 5 / 5)  # 5 events left in the window
    assert rate.rate(now=20.0) == 0.0
    latency = LatencyStats(size=100)
    assert latency.p50 is None
    for ms in range(1, 101):
        latency.add(ms / 1000.0)
    assert latency.p50 == pytest.approx(0.0505)
    assert latency.p95 == pytest.approx(0.09505)


# --- worker -----------------------------------------------------------------------------------


class FakeTracker:
    """Reports the init box shifted by one pixel per frame; optionally failing or gated.

    A gated tracker puts each frame's stamp in ``started`` and finishes it only once the
    test releases ``gate``: a tracker exactly as slow as the test wants.
    """

    name = "fake"

    def __init__(
        self, fail_on: set[float] | None = None, score: float = 0.9, gated: bool = False
    ) -> None:
        self.started: queue.Queue[float] = queue.Queue()
        self.gate = threading.Semaphore(0) if gated else None
        self.fail_on = fail_on or set()
        self.score = score
        self.box = (0.0, 0.0, 0.0, 0.0)
        self.seen: list[float] = []
        self.inits: list[tuple[float, tuple[float, ...]]] = []
        self.inference_mode: list[bool] = []
        self.thread: list[str] = []

    def initialize(self, frame: Frame, box_xywh) -> None:
        self.inits.append((frame.stamp, tuple(box_xywh)))
        self.box = tuple(box_xywh)

    def track(self, frame: Frame) -> TrackResult:
        self.seen.append(frame.stamp)
        self.inference_mode.append(torch.is_inference_mode_enabled())
        self.thread.append(threading.current_thread().name)
        if self.gate is not None:
            self.started.put(frame.stamp)
            if not self.gate.acquire(timeout=TIMEOUT):
                raise RuntimeError("the test never let the tracker finish")
        if frame.stamp in self.fail_on:
            raise RuntimeError(f"boom at {frame.stamp}")
        x, y, w, h = self.box
        self.box = (x + 1.0, y, w, h)
        return TrackResult(self.box, self.score, TrackerState.TRACKING)


def _frame(stamp: float, depth: np.ndarray | None = None, intr: Intrinsics | None = INTR):
    return Frame(np.zeros((H, W, 3), np.uint8), depth, stamp, intr)


def _depth(background: float = 3.0, box=None, value: float = 2.0) -> np.ndarray:
    depth = np.full((H, W), background, np.float32)
    if box is not None:
        x, y, w, h = box
        depth[y : y + h, x : x + w] = value
    return depth


class Harness:
    def __init__(self, tracker: FakeTracker, config: WorkerConfig | None = None) -> None:
        self.tracker = tracker
        self.results: queue.Queue[WorkerResult] = queue.Queue()
        self.worker = TrackingWorker(lambda: tracker, self.results.put, config, warmup_size=None)
        self.worker.start()
        assert self.worker.wait_ready(TIMEOUT)

    def send(self, frame: Frame) -> WorkerResult:
        self.worker.submit(FrameBundle(frame, header=("hdr", frame.stamp)))
        return self.results.get(timeout=TIMEOUT)

    def close(self) -> None:
        assert self.worker.stop(TIMEOUT)


@pytest.fixture
def harness():
    made: list[Harness] = []

    def make(tracker: FakeTracker | None = None, config: WorkerConfig | None = None) -> Harness:
        made.append(Harness(tracker or FakeTracker(), config))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_idle_until_init_then_init_applies_on_next_frame(harness):
    h = harness()
    assert h.worker.frame_size is None and h.worker.latest_frame is None
    first = h.send(_frame(1.0))
    assert h.worker.frame_size == (W, H) and h.worker.latest_frame is first.frame
    assert first.state == TrackerState.IDLE and first.outcome.box_xywh is None
    assert first.header == ("hdr", 1.0) and first.stamp == 1.0
    target = h.worker.request_init((10, 12, 20, 16))
    assert target == 1
    second = h.send(_frame(2.0))
    assert second.state == TrackerState.TRACKING and second.target_id == 1
    assert second.outcome.box_xywh == (10.0, 12.0, 20.0, 16.0)
    assert h.tracker.inits == [(2.0, (10.0, 12.0, 20.0, 16.0))]
    third = h.send(_frame(3.0))
    assert third.outcome.box_xywh == (
        11.0,
        12.0,
        20.0,
        16.0,
    ) and third.outcome.score == pytest.approx(0.9)
    assert h.worker.state == TrackerState.TRACKING and h.worker.target_id == 1
    assert h.worker.request_init((5, 5, 10, 10)) == 2
    assert h.send(_frame(4.0)).target_id == 2


def test_init_with_stamp_waits_for_that_frame(harness):
    h = harness()
    h.worker.request_init((10, 10, 20, 20), stamp=5.0)
    assert h.send(_frame(4.0)).state == TrackerState.IDLE  # older than the box's frame
    assert h.send(_frame(5.0)).state == TrackerState.TRACKING
    assert h.tracker.inits[0][0] == 5.0
    h.worker.request_init((10, 10, 20, 20), stamp=6.5)
    assert h.send(_frame(6.0)).target_id == 1  # still the first target
    assert h.send(_frame(7.0)).target_id == 2
    h.worker.request_init((10, 10, 20, 20), stamp=100.0)
    # Stamps far behind the request mean the clock jumped (bag loop): apply anyway.
    assert h.send(_frame(0.5)).target_id == 3


def test_reset_returns_to_idle(harness):
    h = harness()
    assert h.worker.request_reset() is False  # nothing to stop
    h.worker.request_init((10, 10, 20, 20))
    h.send(_frame(1.0))
    assert h.worker.request_reset() is True
    assert h.worker.state == TrackerState.IDLE
    result = h.send(_frame(2.0))
    assert result.state == TrackerState.IDLE and result.outcome.box_xywh is None
    assert h.tracker.seen == []  # track() not called after the reset


def test_init_box_outside_frame_is_reported(harness):
    h = harness()
    h.worker.request_init((500, 500, 20, 20))
    result = h.send(_frame(1.0))
    assert result.state == TrackerState.IDLE and "does not overlap" in (result.error or "")
    assert h.tracker.inits == []


def test_tracker_exceptions_do_not_kill_the_thread(harness):
    h = harness(FakeTracker(fail_on={2.0}))
    h.worker.request_init((10, 10, 20, 20))
    h.send(_frame(1.0))
    failed = h.send(_frame(2.0))
    assert failed.state == TrackerState.LOST and "boom at 2.0" in (failed.error or "")
    assert failed.outcome.box_xywh is None
    recovered = h.send(_frame(3.0))
    assert recovered.state == TrackerState.TRACKING and recovered.error is None
    stats = h.worker.stats()
    assert stats.errors == 1 and "boom" in (stats.last_error or "")
    assert stats.processed == 3
    h.tracker.score = None  # a malformed result breaks the worker's own code path
    broken = h.send(_frame(4.0))
    assert broken.state == TrackerState.LOST and "TypeError" in (broken.error or "")
    assert h.worker.state == TrackerState.LOST
    h.tracker.score = 0.8
    assert h.send(_frame(5.0)).state == TrackerState.TRACKING
    assert h.worker.errors == 2


def test_process_callback_errors_are_counted_not_fatal():
    results: queue.Queue[float] = queue.Queue()

    failed = threading.Event()

    def process(result: WorkerResult) -> None:
        if result.stamp == 1.0:
            failed.set()
            raise ValueError("publisher gone")
        results.put(result.stamp)

    worker = TrackingWorker(FakeTracker, process, warmup_size=None)
    worker.start()
    assert worker.wait_ready(TIMEOUT)
    worker.submit(FrameBundle(_frame(1.0)))
    assert failed.wait(TIMEOUT)  # else frame 2 could replace frame 1 in the mailbox
    worker.submit(FrameBundle(_frame(2.0)))
    assert results.get(timeout=TIMEOUT) == 2.0
    assert worker.errors == 1 and "publisher gone" in (worker.last_error or "")
    assert worker.stop(TIMEOUT)


def test_tracker_runs_in_the_worker_thread_under_inference_mode(harness):
    h = harness()
    h.worker.request_init((10, 10, 20, 20))
    h.send(_frame(1.0))
    h.send(_frame(2.0))
    assert h.tracker.inference_mode == [True]
    assert h.tracker.thread == ["tracking-worker"]
    assert not torch.is_inference_mode_enabled()


def test_failed_factory_is_reported_by_wait_ready():
    def broken():
        raise FileNotFoundError("model.pt not found")

    worker = TrackingWorker(broken, lambda result: None)
    worker.start()
    with pytest.raises(TrackerLoadError, match=r"model\.pt not found"):
        worker.wait_ready(TIMEOUT)
    assert worker.stop(TIMEOUT)


def test_warm_up_runs_once_on_the_worker_thread_and_leaves_it_idle():
    tracker = FakeTracker()
    results: queue.Queue[WorkerResult] = queue.Queue()
    worker = TrackingWorker(lambda: tracker, results.put, warmup_size=(32, 24))
    worker.start()
    assert worker.wait_ready(TIMEOUT)
    assert len(tracker.inits) == 1 and len(tracker.seen) == 1
    assert tracker.inference_mode == [True] and tracker.thread == ["tracking-worker"]
    worker.submit(FrameBundle(_frame(5.0)))
    assert results.get(timeout=TIMEOUT).state == TrackerState.IDLE
    assert len(tracker.seen) == 1
    assert worker.stop(TIMEOUT)


def test_tracker_failing_its_warm_up_is_a_load_error():
    worker = TrackingWorker(lambda: FakeTracker(fail_on={1.0 / 30.0}), lambda result: None)
    worker.start()
    with pytest.raises(TrackerLoadError, match="boom"):
        worker.wait_ready(TIMEOUT)
    assert worker.stop(TIMEOUT)


def test_stop_joins_the_thread():
    worker = TrackingWorker(FakeTracker, lambda result: None)
    worker.start()
    assert worker.wait_ready(TIMEOUT)
    assert worker._thread is not None and worker._thread.is_alive()
    assert worker.stop(TIMEOUT)
    assert not worker._thread.is_alive()
    worker.submit(FrameBundle(_frame(1.0)))  # after stop: ignored, no error


def test_bad_frames_are_rejected_at_submit(harness):
    h = harness()
    with pytest.raises(ValueError, match="depth is 10x10 but color is 64x48"):
        h.worker.submit(FrameBundle(_frame(1.0, depth=np.zeros((10, 10), np.float32))))
    with pytest.raises(ValueError, match="camera_info is for 640x480"):
        h.worker.submit(FrameBundle(_frame(1.0, intr=Intrinsics.d435_640x480())))
    bad_color = Frame(np.zeros((H, W, 3), np.float32), None, 1.0, INTR)
    with pytest.raises(ValueError, match="uint8"):
        h.worker.submit(FrameBundle(bad_color))
    assert h.worker.rejected == 3 and h.worker.frames_in == 0


def _sized_frame(stamp: float, width: int, height: int) -> Frame:
    intr = Intrinsics(fx=width, fy=width, cx=width / 2, cy=height / 2, width=width, height=height)
    return Frame(np.zeros((height, width, 3), np.uint8), None, stamp, intr)


@pytest.mark.parametrize("odd_size", [(1, 1), (2, 2), (10000, 1), (W + 1, H)])
def test_one_odd_sized_frame_does_not_change_the_streams_size(harness, odd_size):
    h = harness()
    h.send(_frame(1.0))
    with pytest.raises(ValueError, match=f"{odd_size[0]}x{odd_size[1]} .* stream is {W}x{H}"):
        h.worker.submit(FrameBundle(_sized_frame(2.0, *odd_size)))
    assert h.worker.frame_size == (W, H) and h.worker.rejected == 1
    h.worker.request_init((10, 10, 20, 20))
    assert h.send(_frame(3.0)).state == TrackerState.TRACKING  # the init was not lost


def test_a_lasting_new_size_becomes_the_streams_size_and_stops_tracking(harness):
    h = harness()
    h.worker.request_init((10, 10, 20, 20))
    assert h.send(_frame(1.0)).state == TrackerState.TRACKING
    adopt_after = h.worker.stream.adopt_after
    for i in range(adopt_after - 1):
        with pytest.raises(ValueError, match="stream is"):
            h.worker.submit(FrameBundle(_sized_frame(2.0 + i, 2 * W, 2 * H)))
    assert h.worker.frame_size == (W, H)
    result = h.send(_sized_frame(100.0, 2 * W, 2 * H))
    assert h.worker.frame_size == (2 * W, 2 * H)
    assert result.state == TrackerState.IDLE  # old boxes mean nothing at the new size
    with pytest.raises(ValueError, match="stream is"):
        h.worker.submit(FrameBundle(_frame(101.0)))


def test_slow_tracker_drops_old_frames_and_stays_fresh(harness):
    """Frames that arrive while the tracker is busy replace each other: it then gets the
    newest, the ones in between are dropped and counted, and the last frame is never lost.

    The tracker finishes a frame only when the test lets it, so this holds at any speed.
    """
    tracker = FakeTracker(gated=True)
    h = harness(tracker)
    h.worker.request_init((10, 10, 20, 20))
    assert h.send(_frame(0.0)).state == TrackerState.TRACKING  # the init frame: no track()
    h.worker.submit(FrameBundle(_frame(1.0)))
    assert tracker.started.get(timeout=TIMEOUT) == 1.0
    replaced = [h.worker.submit(FrameBundle(_frame(stamp))) for stamp in (2.0, 3.0, 4.0)]
    assert replaced == [False, True, True]
    tracker.gate.release()
    assert h.results.get(timeout=TIMEOUT).stamp == 1.0
    assert tracker.started.get(timeout=TIMEOUT) == 4.0  # the newest; 2 and 3 are dropped
    h.worker.submit(FrameBundle(_frame(5.0)))
    tracker.gate.release()
    assert h.results.get(timeout=TIMEOUT).stamp == 4.0
    assert tracker.started.get(timeout=TIMEOUT) == 5.0
    tracker.gate.release()
    assert h.results.get(timeout=TIMEOUT).stamp == 5.0
    stats = h.worker.stats()
    assert (stats.frames_in, stats.processed, stats.dropped) == (6, 4, 2)
    assert h.results.empty()


# --- 3D ---------------------------------------------------------------------------------------


def test_position_and_size_from_depth(harness):
    h = harness(FakeTracker(score=0.9))
    h.worker.request_init((20, 10, 20, 20))
    depth = _depth(3.0, (18, 6, 28, 28), 2.0)
    first = h.send(_frame(1.0, depth))
    assert first.outcome.depth is not None and first.outcome.depth.depth == pytest.approx(2.0)
    assert first.outcome.position == pytest.approx(back_project(30.0, 20.0, 2.0, INTR))
    assert first.outcome.metric_size == pytest.approx((20 * 2.0 / 60.0, 20 * 2.0 / 60.0))
    assert first.outcome.position is not None
    second = h.send(_frame(2.0, depth))  # box moved one pixel right
    assert second.outcome.position == pytest.approx(back_project(31.0, 20.0, 2.0, INTR))


def test_no_position_without_depth_or_intrinsics(harness):
    h = harness()
    h.worker.request_init((20, 10, 20, 20))
    assert h.send(_frame(1.0, None)).outcome.position is None
    holes = h.send(_frame(2.0, np.zeros((H, W), np.float32)))
    assert holes.outcome.depth is None and holes.outcome.position is None
    assert holes.state == TrackerState.TRACKING  # the 2D result stands
    no_intr = h.send(_frame(3.0, _depth(2.0), intr=None))
    assert no_intr.outcome.depth is not None and no_intr.outcome.position is None


def test_occlusion_cue_marks_uncertain(harness):
    tracker = FakeTracker(score=0.9)
    h = harness(tracker)
    h.worker.request_init((20, 10, 20, 20))
    for i in range(3):
        assert h.send(_frame(float(i), _depth(2.0))).state == TrackerState.TRACKING
    # Something at 1 m in front, but the tracker is still confident: not an occlusion.
    confident = h.send(_frame(3.0, _depth(1.0)))
    assert confident.state == TrackerState.TRACKING and not confident.outcome.occluded
    for i in range(4, 8):
        h.send(_frame(float(i), _depth(2.0)))
    tracker.score = 0.4
    occluded = h.send(_frame(8.0, _depth(2.0, (0, 0, W, H), 1.0)))
    assert occluded.outcome.occluded and occluded.state == TrackerState.UNCERTAIN
    assert occluded.outcome.position is None and occluded.outcome.depth is not None
    # Score falls without a depth drop: still TRACKING (the tracker decides about appearance).
    plain = h.send(_frame(9.0, _depth(2.0)))
    assert not plain.outcome.occluded and plain.state == TrackerState.TRACKING


def test_depth_jump_is_not_published_as_the_target(harness):
    """The demo's lurch: as the target leaves the view its box holds mostly background, and
    the box depth jumps from 1.9 m to 5 m in one frame. That is no pose of the target."""
    h = harness(FakeTracker(score=0.9))
    h.worker.request_init((20, 10, 20, 20))
    period = 1.0 / 30.0
    for i in range(3):
        steady = h.send(_frame(i * period, _depth(1.9)))
        assert steady.state == TrackerState.TRACKING and steady.outcome.position is not None
    jumped = h.send(_frame(3 * period, _depth(5.0)))
    assert jumped.outcome.position is None and jumped.state == TrackerState.UNCERTAIN
    assert jumped.outcome.depth_jumped and jumped.outcome.depth is not None
    # A step the target can make in a frame is published.
    near = h.send(_frame(4 * period, _depth(1.96)))
    assert near.state == TrackerState.TRACKING and near.outcome.position is not None
    # A real jump is taken once the target has had the time to make it (3 m/s by default).
    assert h.send(_frame(0.5, _depth(3.5))).outcome.position is None
    later = h.send(_frame(1.0, _depth(3.5))).outcome
    assert later.position is not None and later.position[2] == pytest.approx(3.5)
    # A new target starts afresh; a slower bound applies at once (ros2 param set).
    h.worker.request_init((20, 10, 20, 20))
    assert h.send(_frame(1.0 + period, _depth(1.0))).outcome.position is not None
    h.worker.config = WorkerConfig(OutcomeParams(max_target_speed=0.0))
    assert h.send(_frame(2.0, _depth(1.2))).outcome.position is None


def test_score_thresholds_lower_the_state(harness):
    tracker = FakeTracker(score=0.3)
    h = harness(tracker, WorkerConfig(OutcomeParams(uncertain_score=0.5, lost_score=0.2)))
    h.worker.request_init((20, 10, 20, 20))
    h.send(_frame(1.0))
    assert h.send(_frame(2.0)).state == TrackerState.UNCERTAIN
    tracker.score = 0.1
    lost = h.send(_frame(3.0, _depth(2.0)))
    assert lost.state == TrackerState.LOST and lost.outcome.position is None
    h.worker.config = WorkerConfig()  # live change
    assert h.send(_frame(4.0)).state == TrackerState.TRACKING
