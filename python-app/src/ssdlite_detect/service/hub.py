"""The one results stream of the service and its subscribers (Frigate's shape).

The supervisor's thread calls `ResultHub.publish()` once per processed frame. The hub keeps the
latest result and the statistics, and appends the result to every subscriber's own bounded queue:
when a subscriber is slow its queue drops its oldest item (counted), so no output can slow
detection. Subscribers also skip items older than MAX_AGE_S, so nothing stale is delivered after a
stall. Waking a subscriber is a few microseconds per frame: an asyncio subscriber (an HTTP client)
is woken through its event loop, a threaded one (MQTT, the JPEG encoder) through a
threading.Event.
"""
from __future__ import annotations

import asyncio
import collections
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional

from ..benchmark import median_and_p90

MAX_AGE_S = 1.0           # an item older than this is dropped, never delivered
STATS_WINDOW = 1000       # results the latency and inference percentiles are computed over
FPS_WINDOW_S = 10.0       # the frame rate is measured over the last seconds (a slow CPU still reads > 0)

STATE_STARTING = "starting"        # before the first frame (model warm-up, source connecting)
STATE_RUNNING = "running"          # frames flow
STATE_SOURCE_LOST = "source-lost"  # the source failed or ended; retrying with backoff
STATE_STOPPING = "stopping"        # SIGTERM/SIGINT or the end of --frames/--duration
STATE_FAILED = "failed"            # an error retrying cannot fix (model, delegate)


@dataclass
class Published:
    """One item in a subscriber queue: the payload and when it was published (time.monotonic())."""

    payload: Any
    at: float


class Subscription:
    """A bounded queue that drops its oldest item when full. put() may be called from any thread.

    `wake` is called after every put (outside any lock); the subclasses use it to wake their reader.
    """

    def __init__(self, size: int, max_age: float = MAX_AGE_S):
        self._items: Deque[Published] = collections.deque()
        self._lock = threading.Lock()
        self.size = size
        self.max_age = max_age
        self.dropped = 0
        self.closed = False

    def put(self, item: Published) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _take_fresh(self) -> Optional[Published]:
        """The oldest item that is not too old; older ones are dropped (counted)."""
        now = time.monotonic()
        with self._lock:
            while self._items:
                item = self._items.popleft()
                if now - item.at <= self.max_age:
                    return item
                self.dropped += 1
        return None

    def _wake(self) -> None:
        raise NotImplementedError


class ThreadSubscription(Subscription):
    """For a subscriber with its own thread."""

    def __init__(self, size: int, max_age: float = MAX_AGE_S):
        super().__init__(size, max_age)
        self._event = threading.Event()

    def _wake(self) -> None:
        self._event.set()

    def get(self, timeout: float) -> Optional[Any]:
        """The next fresh payload, or None after `timeout` seconds or once closed."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            item = self._take_fresh()
            if item is not None:
                return item.payload
            self._event.clear()
            item = self._take_fresh()  # put() between the take and the clear
            if item is not None:
                return item.payload
            left = deadline - time.monotonic()
            if left <= 0 or not self._event.wait(left):
                return None
        return None


class AsyncSubscription(Subscription):
    """For a coroutine on `loop` (an HTTP client's handler)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, max_age: float = MAX_AGE_S):
        super().__init__(size, max_age)
        self._loop = loop
        self._event = asyncio.Event()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: the service is shutting down
            pass

    async def get(self) -> Optional[Any]:
        """The next fresh payload; None once closed."""
        while not self.closed:
            item = self._take_fresh()
            if item is not None:
                return item.payload
            self._event.clear()
            item = self._take_fresh()
            if item is not None:
                return item.payload
            await self._event.wait()
        return None


class Topic:
    """Subscribers of one kind of item (results, or annotated JPEG frames)."""

    def __init__(self):
        self._subscribers: List[Subscription] = []
        self._lock = threading.Lock()
        self.latest: Optional[Published] = None
        self._dropped_by_gone = 0  # drops of subscribers that have unsubscribed since

    def subscribe(self, subscription: Subscription) -> Subscription:
        with self._lock:
            self._subscribers = self._subscribers + [subscription]
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers = [s for s in self._subscribers if s is not subscription]
                self._dropped_by_gone += subscription.dropped
        subscription.close()

    def publish(self, payload: Any) -> None:
        item = Published(payload, time.monotonic())
        self.latest = item
        for subscription in self._subscribers:  # a copy-on-write list: no lock while putting
            subscription.put(item)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        """Items subscribers did not take in time, over every subscriber there has been."""
        return self._dropped_by_gone + sum(s.dropped for s in self._subscribers)

    def close_all(self) -> None:
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for subscription in subscribers:
            subscription.close()


class ServiceStats:
    """Totals over the whole service life (every reconnection of the source), and the recent
    frame rate, latency and inference time. Written by the supervisor's thread only."""

    def __init__(self, window: int = STATS_WINDOW):
        self.frames = 0
        self.dropped_before = 0           # source frames dropped by earlier streams
        self.current_stream_dropped = 0   # by the stream that runs now
        self.inference_seconds_sum = 0.0
        self.latency_seconds_sum = 0.0
        self.latencies_ms: Deque[float] = collections.deque(maxlen=window)
        self.inference_ms: Deque[float] = collections.deque(maxlen=window)
        self._recent: Deque[float] = collections.deque()
        self.last_result_at: Optional[float] = None

    def record(self, timing_ms: dict, stream_dropped: int, at: float) -> None:
        self.frames += 1
        self.current_stream_dropped = stream_dropped
        self.inference_seconds_sum += timing_ms["inference"] / 1000.0
        self.latency_seconds_sum += timing_ms["latency"] / 1000.0
        self.latencies_ms.append(timing_ms["latency"])
        self.inference_ms.append(timing_ms["inference"])
        self._recent.append(at)
        while self._recent and at - self._recent[0] > FPS_WINDOW_S:
            self._recent.popleft()
        self.last_result_at = at

    def stream_ended(self) -> None:
        # The recent result times stay: fps() only counts those within its window, so a file that
        # is replayed keeps its rate and a lost source reads 0 once the window has passed.
        self.dropped_before += self.current_stream_dropped
        self.current_stream_dropped = 0

    @property
    def dropped(self) -> int:
        return self.dropped_before + self.current_stream_dropped

    def fps(self, now: float) -> float:
        recent = [t for t in list(self._recent) if now - t <= FPS_WINDOW_S]
        if len(recent) < 2 or recent[-1] == recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    @staticmethod
    def quantiles(values) -> dict:
        median, p90 = median_and_p90(values)
        return {"median": median, "p90": p90}


class ResultHub:
    """Shared state of the service: the state machine, statistics and the two topics.

    `results` carries (FrameResult, Frame) pairs; `jpegs` carries annotated JPEG bytes. HTTP
    handlers and other outputs only read from here; only the supervisor's thread writes results
    and state, only the JPEG encoder writes JPEG frames.
    """

    def __init__(self, source_name: str, backend: str, model: str):
        self.source_name = source_name
        self.backend = backend
        self.model = model
        self.started_at = time.monotonic()
        self.state = STATE_STARTING
        self.state_since = self.started_at
        self.message = ""             # why the state is what it is (the source error, ...)
        self.source_losses = 0
        self.stats = ServiceStats()
        self.results = Topic()
        self.jpegs = Topic()
        self._state_listeners: List[Callable[[str], None]] = []

    def on_state(self, listener: Callable[[str], None]) -> None:
        self._state_listeners.append(listener)

    def set_state(self, state: str, message: str = "") -> None:
        changed = state != self.state
        if state == STATE_SOURCE_LOST and changed:
            self.source_losses += 1
        self.message = message
        if changed:
            self.state = state
            self.state_since = time.monotonic()
            for listener in self._state_listeners:
                listener(state)

    def publish(self, result, frame, stream_dropped: int) -> None:
        self.stats.record(result.timing_ms, stream_dropped, time.monotonic())
        if self.state != STATE_RUNNING:
            self.set_state(STATE_RUNNING)
        self.results.publish((result, frame))

    def healthy(self, grace: float, now: Optional[float] = None) -> bool:
        """False once no frame has arrived for `grace` seconds while the source is (or should be)
        running; True while starting (the NPU's first graph compile may take a while)."""
        now = time.monotonic() if now is None else now
        if self.state == STATE_STARTING:
            return True
        if self.state in (STATE_SOURCE_LOST, STATE_FAILED, STATE_STOPPING):
            return self.state == STATE_SOURCE_LOST and now - self.state_since < grace
        return self.stats.last_result_at is not None and now - self.stats.last_result_at < grace

    def status(self) -> dict:
        now = time.monotonic()
        latency = self.stats.quantiles(self.stats.latencies_ms)
        return {
            "source": self.source_name,
            "state": self.state,
            "message": self.message,
            "backend": self.backend,
            "model": self.model,
            "frames": self.stats.frames,
            "dropped": self.stats.dropped,
            "fps": round(self.stats.fps(now), 2),
            "latency_median_ms": latency["median"],
            "latency_p90_ms": latency["p90"],
            "source_losses": self.source_losses,
            "uptime_s": round(now - self.started_at, 1),
        }
