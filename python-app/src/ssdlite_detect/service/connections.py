"""The HTTP server's connections under abuse: header and idle timeouts, a cap below the fd limit,
and error logging that cannot flood the journal.

aiohttp 3.8 (the BSP's) waits for a request's headers for ever: a client that sends half a
request and stops (slowloris) keeps its socket, and about a thousand of them exhaust systemd's
default 1024 descriptors; every accept() then fails and asyncio logs a traceback each time. So
every connection goes through a ConnectionGuard:

- a connection that is not inside a request handler (its headers not complete yet, or idle
  between keep-alive requests) is aborted after HEADER_TIMEOUT_S;
- at most `cap` connections are open, the cap kept RESERVED_FDS below RLIMIT_NOFILE's soft limit
  (the model, GStreamer, MQTT and the journal need descriptors too). A connection beyond the cap
  evicts the oldest connection that is not inside a handler: a crowd of half-sent requests
  cannot lock a legitimate client out; when every connection is busy (streaming clients), the
  new one is closed at once;
- aiohttp's and asyncio's errors become one line each (no traceback), at most LOG_BURST lines
  per LOG_WINDOW_S, then one line saying how many were left out.

The guard wraps aiohttp's own protocol object (`runner.server()`), so aiohttp parses and answers
as usual; `guard.middleware` tells it which connections are inside a handler.
"""
from __future__ import annotations

import asyncio
import logging
import resource
import socket
import sys
import time
from collections import OrderedDict
from typing import Callable, Optional, TextIO

HEADER_TIMEOUT_S = 10.0      # a connection must have sent a request's headers by then (and again when idle)
MAX_CONNECTIONS = 512        # HTTP connections at most, when the fd limit allows
# Descriptors kept for everything else: the model, GStreamer, MQTT, the journal, and the sockets
# asyncio has accepted but not handed to the guard yet (up to ACCEPT_BATCH per loop turn).
RESERVED_FDS = 256
ACCEPT_BATCH = 64            # connections asyncio accepts per turn of the loop (its `backlog`)
LISTEN_BACKLOG = 1024        # connections the kernel queues (capped by net.core.somaxconn)
LOG_BURST = 20               # error lines per window
LOG_WINDOW_S = 60.0


def connection_cap(maximum: int = MAX_CONNECTIONS, reserved: int = RESERVED_FDS) -> int:
    """`maximum`, or fewer so that the cap stays `reserved` below the soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return maximum
    return max(1, min(maximum, soft - reserved))


def listening_socket(host: str, port: int, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """A TCP socket listening on host:port with a long kernel queue. asyncio's create_server uses
    one number for the kernel's queue and for how many connections it accepts per turn of the
    loop: a long queue (a crowd of connects must not drop a legitimate client's SYN, which would
    then wait for its 1 s retransmission) would let it accept past the fd limit in one turn. So
    the queue is set here, and create_server(sock=..., backlog=ACCEPT_BATCH) only accepts."""
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class RateLimitedLog:
    """Writes one line per message, at most `burst` per `window` seconds; the lines left out are
    counted and reported in one line when the next window opens."""

    def __init__(self, write: Callable[[str], None], burst: int = LOG_BURST, window: float = LOG_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic):
        self._write = write
        self._burst = burst
        self._window = window
        self._clock = clock
        self._window_start = -float("inf")
        self._written = 0
        self.suppressed = 0   # in the current window
        self.total_suppressed = 0

    def __call__(self, line: str) -> None:
        now = self._clock()
        if now - self._window_start >= self._window:
            if self.suppressed:
                self._write(f"{self.suppressed} more such messages in the last {self._window:g} s left out")
            self._window_start, self._written, self.suppressed = now, 0, 0
        if self._written < self._burst:
            self._written += 1
            self._write(line)
        else:
            self.suppressed += 1
            self.total_suppressed += 1


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class OneLineHandler(logging.Handler):
    """A logging handler for aiohttp's and asyncio's loggers: `prefix: message: exception`, one
    line, rate-limited; the traceback is never written (it would name our code, not the peer's
    mistake, and a flood of them fills the journal)."""

    def __init__(self, prefix: str, log: RateLimitedLog):
        super().__init__(logging.WARNING)
        self._prefix = prefix
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                message += f": {type(error).__name__}: {error}" if str(error) else f": {type(error).__name__}"
            self._log(f"{self._prefix}: {_one_line(message)}")
        except Exception:  # a log line must never take the server down
            pass


def install_one_line_logging(stream: Optional[TextIO] = None, prefix: str = "ssdlite-detect: http") -> RateLimitedLog:
    """Routes the `aiohttp` and `asyncio` loggers through one OneLineHandler writing to `stream`
    (stderr: the journal under systemd); returns its RateLimitedLog."""
    stream = stream or sys.stderr

    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    log = RateLimitedLog(write)
    handler = OneLineHandler(prefix, log)
    for name in ("aiohttp", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    return log


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, watched by the guard (every event passed on)."""

    def __init__(self, guard: "ConnectionGuard", inner: asyncio.Protocol):
        self._guard = guard
        self._inner = inner
        self.transport: Optional[asyncio.Transport] = None
        self.busy = 0                 # requests of this connection inside a handler
        self.timer: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._inner.connection_made(transport)
        self._guard._opened(self)

    def connection_lost(self, exc) -> None:
        self._guard._closed(self)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class ConnectionGuard:
    """Counts, times out and caps the connections of one HTTP server (see the module's text).
    protocol_factory: aiohttp's (`AppRunner.server`); use `guard.factory` with loop.create_server
    and add `guard.middleware` to the application."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol_factory: Callable[[], asyncio.Protocol],
                 cap: Optional[int] = None, header_timeout: float = HEADER_TIMEOUT_S):
        self._loop = loop
        self._factory = protocol_factory
        self.cap = connection_cap() if cap is None else cap
        self.header_timeout = header_timeout
        self._connections: "OrderedDict[_GuardedProtocol, None]" = OrderedDict()  # oldest first
        self._by_transport = {}
        self.timed_out = 0      # connections aborted for sending no complete request in time
        self.evicted = 0        # idle connections closed to make room for a new one
        self.refused = 0        # new connections closed because every connection was busy

    @property
    def open(self) -> int:
        return len(self._connections)

    def factory(self) -> asyncio.Protocol:
        return _GuardedProtocol(self, self._factory())

    def _opened(self, connection: _GuardedProtocol) -> None:
        if len(self._connections) >= self.cap:
            victim = next((c for c in self._connections if not c.busy), None)
            if victim is None:
                self.refused += 1
                connection.transport.abort()
                return
            self.evicted += 1
            self._forget(victim)
            victim.transport.abort()
        self._connections[connection] = None
        self._by_transport[connection.transport] = connection
        self._arm(connection)

    def _closed(self, connection: _GuardedProtocol) -> None:
        self._forget(connection)

    def _forget(self, connection: _GuardedProtocol) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None
        self._connections.pop(connection, None)
        self._by_transport.pop(connection.transport, None)

    def _arm(self, connection: _GuardedProtocol) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
        connection.timer = self._loop.call_later(self.header_timeout, self._expire, connection)

    def _expire(self, connection: _GuardedProtocol) -> None:
        connection.timer = None
        if connection.busy or connection not in self._connections:
            return
        self.timed_out += 1
        self._forget(connection)
        connection.transport.abort()

    def entered(self, transport) -> None:
        """A request of this connection is inside a handler: no timeout meanwhile."""
        connection = self._by_transport.get(transport)
        if connection is not None:
            connection.busy += 1
            if connection.timer is not None:
                connection.timer.cancel()
                connection.timer = None
            self._connections.move_to_end(connection)

    def left(self, transport) -> None:
        """The handler returned: the connection must send its next request in time."""
        connection = self._by_transport.get(transport)
        if connection is not None:
            connection.busy = max(0, connection.busy - 1)
            if not connection.busy:
                self._arm(connection)

    def middleware(self):
        from aiohttp import web

        @web.middleware
        async def mark_busy(request, handler):
            transport = request.transport
            self.entered(transport)
            try:
                return await handler(request)
            finally:
                self.left(transport)

        return mark_busy
