"""Helpers of the service-mode tests, imported by this module's own name (several test folders
have a `conftest`): the real `ssdlite-detect` service as a subprocess on 127.0.0.1, a real
mosquitto broker, an MQTT subscriber, HTTP requests and bounded waits."""
from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional

START_TIMEOUT = 60.0  # model load and the first GStreamer pipeline on a busy 2-core CI machine


TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, token: Optional[str] = None, timeout: float = 10.0, cookie: Optional[str] = None):
    """(status, headers, body bytes) without raising on HTTP errors."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Service:
    """`python -m ssdlite_detect ... --http 0` running; `url` once it serves."""

    def __init__(self, args: List[str], env: Optional[dict] = None, command: Optional[List[str]] = None):
        command = command or [sys.executable, "-m", "ssdlite_detect", *args]
        self.process = subprocess.Popen([str(a) for a in command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.url:
            serving = [line for line in self.lines if "serving http://" in line]
            if serving:
                self.url = serving[0].split("serving ")[1].split()[0].rstrip("/")
            elif self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError("the service did not start:\n" + self.stderr)
            else:
                time.sleep(0.1)

    @classmethod
    def from_command(cls, command: List[str], env: Optional[dict] = None) -> "Service":
        """The service started by another command line (a sandbox wrapper that execs it)."""
        return cls([], env=env, command=command)

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def status(self, token: Optional[str] = None) -> dict:
        code, _headers, body = http_get(self.url + "/api/v1/status", token)
        assert code == 200, body
        return json.loads(body)

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0):
        """(exit status, seconds from the signal to the exit)."""
        start = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the service did not stop within {timeout:g} s:\n{self.stderr}")
        elapsed = time.monotonic() - start
        self._reader.join(timeout=5)
        return code, elapsed

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1:port with a temporary config (anonymous, no persistence)."""

    def __init__(self, folder: Path, port: int):
        self.port = port
        self.config = folder / "mosquitto.conf"
        self.write_config(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process: Optional[subprocess.Popen] = None

    def write_config(self, text: str) -> None:
        # Started as root, mosquitto drops to its own user, which cannot read pytest's private
        # temporary directory (the TLS files): it keeps the user it was started as.
        self.config.write_text(f"user {getpass.getuser()}\n{text}")

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        assert os.path.exists(binary), "no mosquitto: scripts/setup-debian.sh installs it"
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)

        def accepting():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read()
                return False

        wait_for(accepting, 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)


class MqttListener:
    """A paho subscriber that keeps every message (topic, payload, retain) it receives."""

    def __init__(self, port: int, topic: str):
        import paho.mqtt.client as mqtt

        self.messages = []
        self.raw = []  # (topic, payload bytes, retain): binary payloads (snapshots' JPEGs)
        self.client = mqtt.Client(client_id=f"test-listener-{os.getpid()}-{time.monotonic_ns()}")
        self.client.on_message = self._keep
        self.client.on_connect = lambda client, _u, _f, _rc: client.subscribe(topic, qos=1)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _keep(self, _client, _userdata, message) -> None:
        self.raw.append((message.topic, message.payload, message.retain))
        self.messages.append((message.topic, message.payload.decode(errors="replace"), message.retain))

    def payloads(self, topic: str) -> List[str]:
        return [payload for name, payload, _retain in list(self.messages) if name == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
