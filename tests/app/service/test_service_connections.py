"""connections.py's pure parts: the cap below the fd limit, the rate-limited one-line log."""
from __future__ import annotations

import io
import logging
import resource

from ssdlite_detect.service.connections import (LOG_BURST, MAX_CONNECTIONS, RESERVED_FDS, OneLineHandler,
                                                RateLimitedLog, connection_cap)


def test_the_cap_stays_below_the_soft_fd_limit(monkeypatch):
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 524288))
    assert connection_cap() == min(MAX_CONNECTIONS, 1024 - RESERVED_FDS) < 1024
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (300, 300))
    assert connection_cap() == 300 - RESERVED_FDS
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (100, 100))
    assert connection_cap() == 1
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (resource.RLIM_INFINITY,) * 2)
    assert connection_cap() == MAX_CONNECTIONS


def test_the_log_writes_a_burst_per_window_then_counts_what_it_left_out():
    now = [0.0]
    lines = []
    log = RateLimitedLog(lines.append, burst=3, window=60, clock=lambda: now[0])
    for index in range(10):
        log(f"error {index}")
    assert lines == ["error 0", "error 1", "error 2"] and log.suppressed == 7
    now[0] = 61
    log("error 10")
    assert lines[3:] == ["7 more such messages in the last 60 s left out", "error 10"]
    assert log.total_suppressed == 7 and log.suppressed == 0


def test_exceptions_are_one_line_without_a_traceback():
    lines = []
    logger = logging.getLogger("test-one-line")
    logger.propagate = False
    logger.handlers[:] = [OneLineHandler("ssdlite-detect: http", RateLimitedLog(lines.append, burst=LOG_BURST))]
    try:
        raise ValueError("bad\nrequest   line")
    except ValueError:
        logger.exception("Error handling request")
    assert lines == ["ssdlite-detect: http: Error handling request: ValueError: bad request line"]
