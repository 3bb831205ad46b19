"""A subscriber of the results stream (ssdlite_detect.pubsub) that is a coroutine: an HTTP
client's handler on the service's event loop. It is woken through that loop, and never blocks
the publisher (it drops its oldest item when full)."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from ..pubsub import DROP_OLDEST, Subscription


class AsyncSubscription(Subscription):
    """For a coroutine on `loop` (an HTTP client's handler)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, max_age: Optional[float] = None):
        super().__init__(size, max_age, DROP_OLDEST)  # a coroutine must never block the publisher
        self._loop = loop
        self._event = asyncio.Event()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: the service is shutting down
            pass

    async def get(self) -> Optional[Any]:
        """The next payload; None once finished."""
        while True:
            done, payload = self._next(self._event.clear)
            if done:
                return payload
            await self._event.wait()
