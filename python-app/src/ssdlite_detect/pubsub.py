"""The one results stream: a topic that hands every published item to each subscriber's own
bounded queue (Frigate's shape). Standard library only; the live CLI and the service use it alike.

    topic = Topic()
    mine = topic.subscribe(ThreadSubscription(size=8))     # a thread of its own reads it
    topic.publish(item)                                      # the stream's thread, once per frame
    payload = mine.get(timeout=1.0)                          # None after the timeout or once closed

A subscriber never slows the publisher beyond its own queue:
- DROP_OLDEST (live sources, and every network output): a full queue drops its oldest item and
  counts it; items older than `max_age` are dropped (counted) instead of delivered, so nothing
  stale reaches a client after a stall.
- BLOCK (a file read frame by frame, whose outputs must see every frame): a full queue makes the
  publisher wait for room; closing the subscription (its reader gave up) releases the publisher.

Waking a subscriber costs a few microseconds per item: a threaded one through a threading.Event
(an asyncio one, an HTTP client of the service, through its event loop: service/http.py).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional, Tuple

DROP_OLDEST = "drop-oldest"
BLOCK = "block"
POLICIES = (DROP_OLDEST, BLOCK)
_BLOCK_POLL_S = 0.1  # a blocked publisher re-checks whether the subscription was closed


@dataclass
class Published:
    """One item in a subscriber queue: the payload and when it was published (time.monotonic())."""

    payload: Any
    at: float


class Subscription:
    """A bounded queue of Published items with a policy for when it is full (see the module doc).

    put() may be called from any thread. close() ends the subscription: with drain=True the reader
    still gets what is queued before its None (the end of a file: every result is printed), else
    at once (the service stopping, a client gone).
    """

    def __init__(self, size: int, max_age: Optional[float] = None, policy: str = DROP_OLDEST):
        if size < 1:
            raise ValueError("a subscription holds at least one item")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        self._items: Deque[Published] = collections.deque()
        self._room = threading.Condition(threading.Lock())
        self.size = size
        self.max_age = max_age
        self.policy = policy
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def put(self, item: Published) -> None:
        with self._room:
            if self.closed:
                return
            while len(self._items) >= self.size:
                if self.policy == DROP_OLDEST:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._room.wait(_BLOCK_POLL_S)
                if self.closed:
                    return
            self._items.append(item)
        self._wake()

    def close(self, drain: bool = False) -> None:
        with self._room:
            self.closed = True
            if not drain:
                self.dropped += len(self._items)
                self._items.clear()
            self._room.notify_all()
        self._wake()

    @property
    def finished(self) -> bool:
        """Closed, and nothing left to deliver."""
        return self.closed and not self._items

    def _take(self) -> Optional[Published]:
        """The oldest item that is not too old; older ones are dropped (counted)."""
        now = time.monotonic()
        with self._room:
            while self._items:
                item = self._items.popleft()
                self._room.notify()  # a blocked publisher has room now
                if self.max_age is None or now - item.at <= self.max_age:
                    self.delivered += 1
                    return item
                self.dropped += 1
        return None

    def _next(self, arm: Callable[[], None]) -> Tuple[bool, Any]:
        """(True, payload) for an item, (True, None) once finished, else (False, None) after
        arm(), which clears the reader's wake-up event: taking once more after arming catches a
        put() that came in between."""
        item = self._take()
        if item is None and not self.closed:
            arm()
            item = self._take()
        return (True, item.payload) if item is not None else (self.closed, None)

    def _wake(self) -> None:
        raise NotImplementedError


class ThreadSubscription(Subscription):
    """For a subscriber with its own thread."""

    def __init__(self, size: int, max_age: Optional[float] = None, policy: str = DROP_OLDEST):
        super().__init__(size, max_age, policy)
        self._event = threading.Event()

    def _wake(self) -> None:
        self._event.set()

    def get(self, timeout: float) -> Optional[Any]:
        """The next payload, or None after `timeout` seconds or once finished."""
        deadline = time.monotonic() + timeout
        while True:
            done, payload = self._next(self._event.clear)
            if done:
                return payload
            left = deadline - time.monotonic()
            if left <= 0 or not self._event.wait(left):
                return None


class Topic:
    """The subscribers of one kind of item (results, or annotated JPEG frames)."""

    def __init__(self):
        self._subscribers: List[Subscription] = []
        self._lock = threading.Lock()
        self.latest: Optional[Published] = None
        self._dropped_by_gone = 0  # drops of subscribers that have unsubscribed since
        self._listeners: List[Callable[[], None]] = []

    def on_subscribers(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the subscribing thread) after every subscribe and unsubscribe."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def subscribe(self, subscription: Subscription) -> Subscription:
        with self._lock:
            self._subscribers = self._subscribers + [subscription]
        self._changed()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers = [s for s in self._subscribers if s is not subscription]
                self._dropped_by_gone += subscription.dropped
        self._changed()

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

    def close_all(self, drain: bool = False) -> None:
        """Ends every subscription (drain: after what they hold); later subscribers are not affected."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.close(drain)


__all__ = ["BLOCK", "DROP_OLDEST", "Published", "Subscription", "ThreadSubscription", "Topic"]
