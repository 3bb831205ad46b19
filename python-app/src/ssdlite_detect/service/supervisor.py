"""Keeps the detector running on the source for as long as the service runs.

`SourceSupervisor` runs a DetectionStream in its own thread and publishes every result to the hub.
When the source fails (camera unplugged, RTSP server gone, file removed) or ends (a server that
ends its stream), the state becomes `source-lost` and the source is opened again after a backoff
that doubles up to RETRY_MAX_S, without restarting the process; the backoff starts again from
RETRY_MIN_S once a reopened source has delivered frames. A video file that plays to its end is
played again at once (replay_on_end): a file source is a demo or a test loop, not a lost camera. An error that retrying
cannot fix (the model or the delegate failing) ends the supervisor with that error: the service
exits non-zero and systemd's Restart=on-failure takes over.

`Notifier` tells systemd about the service: READY=1 once serving, WATCHDOG=1 while the supervisor
is alive, STOPPING=1 at the end; through python-systemd where it is installed, else by writing the
NOTIFY_SOCKET datagram itself, else (not started by systemd) not at all.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Callable, Optional, Tuple

from ..errors import DetectError, SourceError
from .hub import STATE_FAILED, STATE_SOURCE_LOST, STATE_STOPPING, ResultHub

RETRY_MIN_S = 0.5
RETRY_MAX_S = 15.0


class SourceSupervisor:
    """`open_stream()` returns a new, unstarted DetectionStream on the source each time it is called.

    max_frames: stop after this many results in total (over every reconnection); None: run until
    stop(). After the thread ends, `error` holds the DetectError that ended it (None: stopped).
    """

    def __init__(self, hub: ResultHub, open_stream: Callable[[], object], max_frames: Optional[int] = None,
                 on_note: Callable[[str], None] = lambda _message: None,
                 retry_min: float = RETRY_MIN_S, retry_max: float = RETRY_MAX_S, replay_on_end: bool = False):
        self.hub = hub
        self.replay_on_end = replay_on_end
        self.open_stream = open_stream
        self.max_frames = max_frames
        self.on_note = on_note
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.error: Optional[DetectError] = None
        self.heartbeat = time.monotonic()  # the watchdog pings only while this moves
        self._stop = threading.Event()
        self._stream = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ssdlite-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops the stream and the retries; safe from any thread."""
        self._stop.set()
        with self._lock:
            if self._stream is not None:
                self._stream.stop()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        delay = self.retry_min
        try:
            while not self._stop.is_set():
                delivered, ended = self._run_stream()
                if self._stop.is_set():
                    break
                if ended and delivered and self.replay_on_end:
                    continue
                if delivered:
                    delay = self.retry_min
                self.on_note(f"retrying the source in {delay:g} s")
                if self._wait(delay):
                    break
                delay = min(delay * 2, self.retry_max)
        except DetectError as error:  # not the source's fault: retrying would not help
            self.error = error
            self.hub.set_state(STATE_FAILED, str(error))
            return
        self.hub.set_state(STATE_STOPPING)

    def _wait(self, seconds: float) -> bool:
        """Sleeps up to `seconds`, beating the heart; True if stopped meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.heartbeat = time.monotonic()
            if self._stop.wait(min(0.25, max(deadline - time.monotonic(), 0))):
                return True
        return False

    def _run_stream(self) -> Tuple[int, bool]:
        """One stream until it fails, ends or is stopped: (results delivered, whether it ended)."""
        stream = self.open_stream()
        with self._lock:
            if self._stop.is_set():
                return 0, False
            self._stream = stream
        delivered = 0
        ended = False
        try:
            with contextlib.closing(stream.results_with_frames()) as results:
                for result, frame in results:
                    delivered += 1
                    self.heartbeat = time.monotonic()
                    self.hub.publish(result, frame, stream.stats.dropped)
                    if self.max_frames is not None and self.hub.stats.frames >= self.max_frames:
                        self._stop.set()
                        break
            ended = not self._stop.is_set()
            if ended and not (self.replay_on_end and delivered):
                self.hub.set_state(STATE_SOURCE_LOST, f"{stream.source.name}: the source ended")
                self.on_note(self.hub.message)
        except SourceError as error:
            self.hub.set_state(STATE_SOURCE_LOST, str(error))
            self.on_note(str(error))
        finally:
            with self._lock:
                self._stream = None
            self.hub.stats.stream_ended()
            self.heartbeat = time.monotonic()
        return delivered, ended


class Notifier:
    """sd_notify(3) for Type=notify units with WatchdogSec (see the module doc)."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        self.socket_path = environ.get("NOTIFY_SOCKET", "")
        watchdog_usec = environ.get("WATCHDOG_USEC", "")
        watchdog_pid = environ.get("WATCHDOG_PID", "")
        self.watchdog_interval: Optional[float] = None  # seconds; None: no watchdog configured
        if watchdog_usec.isdigit() and int(watchdog_usec) > 0 and watchdog_pid in ("", str(os.getpid())):
            self.watchdog_interval = int(watchdog_usec) / 1e6
        self._send = self._choose_sender()

    def _choose_sender(self) -> Optional[Callable[[str], None]]:
        if not self.socket_path:
            return None
        try:
            from systemd import daemon  # python3-systemd (the board's 235)

            return lambda state: daemon.notify(state)
        except ImportError:
            return self._send_datagram

    def _send_datagram(self, state: str) -> None:
        # The sd_notify protocol: one datagram to NOTIFY_SOCKET; '@' names an abstract socket.
        address = self.socket_path
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())

    @property
    def enabled(self) -> bool:
        return self._send is not None

    def notify(self, state: str) -> None:
        if self._send is not None:
            try:
                self._send(state)
            except OSError:
                pass  # systemd went away (shutdown): nothing to tell

    def ready(self, status: str) -> None:
        self.notify(f"READY=1\nSTATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")


__all__ = ["Notifier", "SourceSupervisor", "STATE_SOURCE_LOST"]
