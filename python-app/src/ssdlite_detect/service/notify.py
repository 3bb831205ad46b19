"""sd_notify(3): tells systemd about the service. READY=1 once serving, WATCHDOG=1 while the
runner is alive, STOPPING=1 at the end; through python-systemd where it is installed, else by
writing the NOTIFY_SOCKET datagram itself, else (not started by systemd) not at all.
"""
from __future__ import annotations

import os
import socket
from typing import Callable, Optional


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

