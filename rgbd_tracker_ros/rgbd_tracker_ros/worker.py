"""The inference worker: a one-slot "newest frame wins" mailbox and the thread that tracks.

The ROS callback only drops frames into the mailbox, so a slow tracker lowers the output
rate but never makes the output stale. Everything heavy (tracker, 3D from depth) runs on
the worker thread; what a frame's result means (state, 3D, occlusion) is decided by
``outcome.py``, as in the evaluation. Results go back through a callback the node supplies.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from rgbd_tracker_ros.evaluation.stats import percentile
from rgbd_tracker_ros.geometry import BoxXYWH, Intrinsics, validate_init_box
from rgbd_tracker_ros.logs import ThrottledLog
from rgbd_tracker_ros.outcome import Outcome, OutcomeParams, OutcomeStage
from rgbd_tracker_ros.tracking.api import Frame, Tracker, TrackerState, check_frame

LOG = logging.getLogger(__name__)

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A mailbox of one item: ``put`` replaces an unconsumed item (counted in ``dropped``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; True when it overwrote one nobody took. Ignored once closed."""
        with self._cond:
            if self._closed:
                return False
            overwrote = self._full
            if overwrote:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify()
            return overwrote

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` s; None on timeout or when closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        """Wake every waiter; later ``get`` calls return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class RateStats:
    """Events per second over the last ``window_s`` seconds (for diagnostics)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(t)
            self._trim(t)

    def rate(self, now: float | None = None) -> float:
        t = time.monotonic() if now is None else now
        with self._lock:
            self._trim(t)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0.0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window:
            self._times.popleft()


class LatencyStats:
    """Percentiles of the last ``size`` latencies, in seconds (for diagnostics)."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def percentile(self, q: float) -> float | None:
        with self._lock:
            value = percentile(self._values, q)
        return None if math.isnan(value) else value

    @property
    def p50(self) -> float | None:
        return self.percentile(50.0)

    @property
    def p95(self) -> float | None:
        return self.percentile(95.0)


@dataclass(frozen=True)
class WorkerConfig:
    """Run-time tunables of the worker; replace the whole object to change them live.

    ``outcome``: how a tracked frame becomes state and 3D (``outcome.py``). An init request
    with a stamp waits for a frame at least that new (``stamp_tolerance`` s), unless stamps
    jumped back by more than ``clock_jump_s`` (a replayed bag restarting). Errors are logged
    at most once per ``log_interval_s``, with a count of those not logged.
    """

    outcome: OutcomeParams = field(default_factory=OutcomeParams)
    stamp_tolerance: float = 1e-3
    clock_jump_s: float = 1.0
    log_interval_s: float = 5.0


@dataclass
class FrameBundle:
    """A frame plus what the node needs back with its result.

    ``header`` is opaque here (the node's input header, so outputs carry the input stamp and
    frame id); ``received`` is the monotonic time the node got the frame, for latency.
    """

    frame: Frame
    header: Any = None
    received: float = field(default_factory=time.monotonic)


@dataclass
class WorkerResult:
    """One processed frame: its ``outcome`` (what the node publishes) and where it came from.

    ``latency`` runs from ``FrameBundle.received`` to this result. ``error`` says what went
    wrong on this frame (the tracker raised, the init box missed the image...), else None.
    """

    frame: Frame
    header: Any
    target_id: int
    outcome: Outcome
    latency: float = 0.0
    error: str | None = None

    @property
    def stamp(self) -> float:
        return self.frame.stamp

    @property
    def state(self) -> TrackerState:
        return self.outcome.state


@dataclass(frozen=True)
class WorkerStats:
    """A snapshot for diagnostics. Rates in Hz, latencies in seconds (None before any)."""

    frames_in: int
    processed: int
    dropped: int
    errors: int
    rejected: int
    input_rate: float
    output_rate: float
    latency_p50: float | None
    latency_p95: float | None
    state: TrackerState
    target_id: int
    last_error: str | None


class TrackerLoadError(RuntimeError):
    """The tracker factory failed on the worker thread (missing or corrupt model, ...)."""


@dataclass(frozen=True)
class _InitRequest:
    box: BoxXYWH
    stamp: float | None
    target_id: int


class StreamSize:
    """The (width, height) the camera streams at, so that one odd frame cannot redefine it.

    The first frame sets it. A frame of another size is refused (``ValueError``) and so cannot
    move the size that init boxes are checked against; only a size that arrives in
    ``adopt_after`` frames in a row (the camera really changed resolution: one second at
    30 Hz) becomes the stream's size. Not thread-safe: one caller (the node's frame callback).
    """

    def __init__(self, adopt_after: int = 30) -> None:
        self.adopt_after = adopt_after
        self.size: tuple[int, int] | None = None
        self._candidate: tuple[int, int] | None = None
        self._candidate_frames = 0

    def check(self, size: tuple[int, int]) -> bool:
        """Accept a frame of ``size`` or raise ``ValueError``; True when the size changed."""
        if self.size is None or size == self.size:
            self.size, self._candidate, self._candidate_frames = size, None, 0
            return False
        if size == self._candidate:
            self._candidate_frames += 1
        else:
            self._candidate, self._candidate_frames = size, 1
        if self._candidate_frames >= self.adopt_after:
            self.size, self._candidate, self._candidate_frames = size, None, 0
            return True
        raise ValueError(
            f"frame is {size[0]}x{size[1]} but the stream is {self.size[0]}x{self.size[1]}; "
            f"rejected (a new size is taken after {self.adopt_after} frames in a row)"
        )


class TrackingWorker:
    """Owns the tracker and the thread that runs it.

    ``tracker_factory`` is called on the worker thread (so CUDA state and grad mode belong
    to it); the tracker is then warmed up there with one initialise + track on a textured
    ``warmup_size`` (width, height) frame, so the first real frame does not pay for CUDA
    and kernel set-up (None skips it). ``process`` is called on the worker thread with
    every result, IDLE frames included; it should publish and return. Call ``start``, then
    ``wait_ready`` to learn whether the tracker loaded and ran.
    """

    def __init__(
        self,
        tracker_factory: Callable[[], Tracker],
        process: Callable[[WorkerResult], None],
        config: WorkerConfig | None = None,
        name: str = "tracking-worker",
        warmup_size: tuple[int, int] | None = (640, 480),
    ) -> None:
        self._factory = tracker_factory
        self._warmup_size = warmup_size
        self._process = process
        self.config = config or WorkerConfig()
        self._name = name
        self._slot: LatestSlot[FrameBundle] = LatestSlot()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._load_error: BaseException | None = None
        self._lock = threading.Lock()
        self._pending: _InitRequest | None = None
        self._state = TrackerState.IDLE
        self._active = False
        self._epoch = 0
        self._next_target_id = 0
        self._target_id = 0
        self._outcome = OutcomeStage(self.config.outcome)
        self._latest_frame: Frame | None = None
        self.stream = StreamSize()
        self._throttle = ThrottledLog(LOG, self.config.log_interval_s)
        self.frames_in = 0
        self.processed = 0
        self.errors = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.input_rate = RateStats()
        self.output_rate = RateStats()
        self.latency = LatencyStats()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("worker already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the tracker is built; False on timeout; ``TrackerLoadError`` if it failed."""
        if not self._ready.wait(timeout):
            return False
        if self._load_error is not None:
            raise TrackerLoadError(str(self._load_error)) from self._load_error
        return True

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread and wait for it; False if it is still inside a slow call."""
        self._slot.close()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- called from ROS callbacks (cheap, never wait for inference) ---------------------

    def submit(self, bundle: FrameBundle) -> bool:
        """Hand over the newest frame; True when it replaced one not yet processed (a drop).

        Raises ``ValueError`` for a frame that breaks the ``Frame`` contract (size mismatch,
        wrong dtype) or whose size is not the stream's (``StreamSize``), counted in
        ``rejected``. When the stream's size changes, tracking stops (its boxes are in the old
        image's pixels).
        """
        try:
            check_frame(bundle.frame)
            resized = self.stream.check(bundle.frame.size_wh)
        except ValueError:
            self.rejected += 1
            raise
        if resized:
            self.request_reset()
            width, height = bundle.frame.size_wh
            LOG.warning("the camera now streams %dx%d images; tracking stopped", width, height)
        self.frames_in += 1
        self.input_rate.tick()
        self._latest_frame = bundle.frame
        return self._slot.put(bundle)

    def request_init(self, box_xywh: Sequence[float], stamp: float | None = None) -> int:
        """Start (or restart) tracking ``box_xywh`` on the next frame; returns the new target id.

        With ``stamp`` (the frame the box was drawn on), frames older than it are skipped
        for the init. A later request replaces a pending one; ``request_reset`` cancels it.
        """
        x, y, w, h = (float(c) for c in box_xywh)
        with self._lock:
            self._next_target_id += 1
            self._pending = _InitRequest((x, y, w, h), stamp, self._next_target_id)
            return self._next_target_id

    def request_reset(self) -> bool:
        """Stop tracking now (state IDLE); False when there was nothing to stop."""
        with self._lock:
            was_active = self._active or self._pending is not None
            self._pending = None
            self._active = False
            self._state = TrackerState.IDLE
            self._epoch += 1
            return was_active

    @property
    def state(self) -> TrackerState:
        return self._state

    @property
    def target_id(self) -> int:
        """Id of the target being tracked (0 before the first init)."""
        return self._target_id

    @property
    def latest_frame(self) -> Frame | None:
        """The newest submitted frame (to validate an init box or grow one from a click)."""
        return self._latest_frame

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) the camera streams at (``StreamSize``), None before any frame."""
        return self.stream.size

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def stats(self) -> WorkerStats:
        return WorkerStats(
            frames_in=self.frames_in,
            processed=self.processed,
            dropped=self.dropped,
            errors=self.errors,
            rejected=self.rejected,
            input_rate=self.input_rate.rate(),
            output_rate=self.output_rate.rate(),
            latency_p50=self.latency.p50,
            latency_p95=self.latency.p95,
            state=self._state,
            target_id=self._target_id,
            last_error=self.last_error,
        )

    # --- worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            import torch
        except ImportError:
            torch = None
        with torch.inference_mode() if torch is not None else contextlib.nullcontext():
            try:
                tracker = self._factory()
                if self._warmup_size is not None:
                    _warm_up(tracker, *self._warmup_size)
            except Exception as exc:  # reported by wait_ready, to the caller that logs it
                self._load_error = exc
                self._ready.set()
                return
            self._ready.set()
            while True:
                bundle = self._slot.get()
                if bundle is None:
                    break
                result = self._safe_step(tracker, bundle)
                self.processed += 1
                self.output_rate.tick()
                self.latency.add(result.latency)
                try:
                    self._process(result)
                except Exception as exc:
                    self._record_error(f"result callback failed: {exc!r}")
        del tracker
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    def _record_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self._throttle.error(message)

    def _safe_step(self, tracker: Tracker, bundle: FrameBundle) -> WorkerResult:
        try:
            return self._step(tracker, bundle)
        except Exception as exc:  # the thread must outlive any bug in a tracker or in 3D
            message = f"frame at t={bundle.frame.stamp:.3f}: {exc!r}"
            self._record_error(message)
            with self._lock:
                if self._active:
                    self._state = TrackerState.LOST
                state = self._state
            result = _result(bundle, self._target_id, state, message)
            return self._finish(bundle, result)

    def _take_init(self, stamp: float, cfg: WorkerConfig) -> _InitRequest | None:
        request = self._pending
        if request is None:
            return None
        if (
            request.stamp is None
            or stamp >= request.stamp - cfg.stamp_tolerance
            or stamp < request.stamp - cfg.clock_jump_s
        ):
            self._pending = None
            return request
        return None

    def _step(self, tracker: Tracker, bundle: FrameBundle) -> WorkerResult:
        cfg = self.config
        frame = bundle.frame
        with self._lock:
            request = self._take_init(frame.stamp, cfg)
            epoch = self._epoch
            active = self._active
        if request is not None:
            result = self._initialize(tracker, bundle, request, cfg)
        elif active:
            result = self._track(tracker, bundle, cfg)
        else:
            result = _result(bundle, self._target_id, TrackerState.IDLE)
        with self._lock:
            if self._epoch != epoch:  # reset while this frame was being processed
                result = _result(bundle, result.target_id, TrackerState.IDLE, result.error)
            else:
                self._state = result.state
                self._active = result.state != TrackerState.IDLE
                self._target_id = result.target_id
        return self._finish(bundle, result)

    def _finish(self, bundle: FrameBundle, result: WorkerResult) -> WorkerResult:
        result.latency = time.monotonic() - bundle.received
        return result

    def _initialize(
        self, tracker: Tracker, bundle: FrameBundle, request: _InitRequest, cfg: WorkerConfig
    ) -> WorkerResult:
        frame = bundle.frame
        box, reason = validate_init_box(request.box, *frame.size_wh)
        if box is None:
            message = f"init box rejected: {reason}"
            self._record_error(message)
            return _result(bundle, request.target_id, TrackerState.IDLE, message)
        try:
            tracker.initialize(frame, box)
        except Exception as exc:
            message = f"tracker initialisation failed at t={frame.stamp:.3f}: {exc!r}"
            self._record_error(message)
            return _result(bundle, request.target_id, TrackerState.IDLE, message)
        self._outcome = OutcomeStage(cfg.outcome)
        return WorkerResult(
            frame, bundle.header, request.target_id, self._outcome.start(frame, box)
        )

    def _track(self, tracker: Tracker, bundle: FrameBundle, cfg: WorkerConfig) -> WorkerResult:
        frame = bundle.frame
        try:
            output = tracker.track(frame)
        except Exception as exc:
            message = f"tracker failed at t={frame.stamp:.3f}: {exc!r}"
            self._record_error(message)
            return _result(bundle, self._target_id, TrackerState.LOST, message)
        self._outcome.params = cfg.outcome
        outcome = self._outcome.step(frame, output)
        return WorkerResult(frame, bundle.header, self._target_id, outcome)


def _result(
    bundle: FrameBundle, target_id: int, state: TrackerState, error: str | None = None
) -> WorkerResult:
    """A result without a tracked box (idle, failed, reset)."""
    return WorkerResult(bundle.frame, bundle.header, target_id, Outcome(state), error=error)


def _warm_up(tracker: Tracker, width: int, height: int) -> None:
    """One initialise + track on a fixed random texture with a plane of depth at 2 m."""
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth = np.full((height, width), 2.0, dtype=np.float32)
    intrinsics = Intrinsics(
        fx=0.9 * width, fy=0.9 * width, cx=width / 2, cy=height / 2, width=width, height=height
    )
    box = (0.4 * width, 0.4 * height, 0.2 * width, 0.2 * height)
    tracker.initialize(Frame(color, depth, 0.0, intrinsics), box)
    tracker.track(Frame(color, depth, 1.0 / 30.0, intrinsics))
