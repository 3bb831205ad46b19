"""The HTTP server of a running service under abuse (a real service on 127.0.0.1 with the fd
limit its unit sets): a slowloris crowd bounded in count and time, malformed requests, bytes that
are not UTF-8, HEAD on the streams, and what the open /healthz tells."""
from __future__ import annotations

import json
import select
import socket
import sys
import time

import pytest

from service_support import TOKEN, Service, free_port, http_get, wait_for
from ssdlite_detect.service.connections import HEADER_TIMEOUT_S, LOG_BURST

UNIT_NOFILE = 1024          # LimitNOFILE in meta-ssdlite's ssdlite-detect.service
HALF_OPEN = 1100            # the number: more than the fd limit allows at once
HOLD_S = 40.0               # how long the crowd is held (bounded: the test must end)
LOG_BUDGET_PER_MIN = 100 * 1024


def service_with_unit_fd_limit(model_args, *args) -> Service:
    command = ["prlimit", f"--nofile={UNIT_NOFILE}:{UNIT_NOFILE}", sys.executable, "-m", "ssdlite_detect",
               *model_args, *args]
    return Service.from_command([str(a) for a in command])


@pytest.fixture(scope="module")
def service(model_args, token_file):
    running = service_with_unit_fd_limit(model_args, "--source", "testsrc", "--source-fps", "10",
                                         "--http", "0", "--http-token-file", token_file)
    wait_for(lambda: running.status(TOKEN)["frames"] >= 3, 60, "the first frames")
    yield running
    code, _seconds = running.stop()
    assert code == 0, running.stderr


def address(service):
    host, port = service.url.split("//")[1].rsplit(":", 1)
    return host, int(port)


def raw_request(service, data: bytes, timeout: float = 10.0) -> bytes:
    """Sends `data` on a new connection and returns all the server answers until it closes (or
    until the answer's headers and a pause)."""
    with socket.create_connection(address(service), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                sock.settimeout(0.5)  # the rest of a short body, then done
        return answer


def status_line(answer: bytes) -> bytes:
    return answer.split(b"\r\n", 1)[0]


def log_size(service) -> int:
    return sum(len(line) + 1 for line in list(service.lines))


@pytest.mark.parametrize("request_bytes, expected", [
    (b"GARBAGE\r\n\r\n", b" 400 "),
    (b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", b" 400 "),
    (b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n", b" 400 "),
    (b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xc3(\r\n\r\n", b" 401 "),
    (b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: \xff\r\nCookie: ssdlite_token=\xfe\r\n\r\n",
     b" 401 "),
    (b"GET /%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", b" 401 "),
    (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 40000 + b"\r\n", b" 400 "),
])
def test_malformed_requests_are_answered_without_a_traceback(service, request_bytes, expected):
    before = len(service.lines)
    answer = raw_request(service, request_bytes)
    assert expected in status_line(answer), answer[:200]
    time.sleep(0.2)
    new_lines = service.lines[before:]
    assert not any("Traceback" in line or line.startswith("  File ") for line in new_lines), new_lines
    assert all(line.startswith("ssdlite-detect: ") for line in new_lines), new_lines


def test_a_flood_of_malformed_requests_logs_a_bounded_number_of_lines(service):
    before = len(service.lines)
    for _ in range(200):
        raw_request(service, b"\x16\x03\x01 not http\r\n\r\n", timeout=2)
    time.sleep(0.5)
    new_lines = service.lines[before:]
    assert 1 <= len(new_lines) <= LOG_BURST, new_lines
    assert all(line.startswith("ssdlite-detect: http: ") and "Traceback" not in line for line in new_lines)


def test_half_sent_and_idle_connections_are_closed_after_the_header_timeout(service):
    half = socket.create_connection(address(service))
    half.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")  # never finished
    idle = socket.create_connection(address(service))
    idle.sendall(f"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    started = time.monotonic()
    try:
        for sock in (half, idle):
            sock.settimeout(HEADER_TIMEOUT_S + 10)
            data = b""
            while True:  # until the server closes (the idle one after its answer)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            if sock is idle:
                assert b" 200 " in status_line(data)
        elapsed = time.monotonic() - started
        assert HEADER_TIMEOUT_S - 1 <= elapsed <= HEADER_TIMEOUT_S + 5, elapsed
    finally:
        half.close()
        idle.close()


def test_head_on_the_streams_answers_the_headers_only(service):
    for path in ("/stream.mjpeg", "/api/v1/events"):
        started = time.monotonic()
        answer = raw_request(service, f"HEAD {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                                      "Connection: close\r\n\r\n".encode(), timeout=5)
        assert time.monotonic() - started < 4, f"HEAD {path} did not end"
        headers, _, body = answer.partition(b"\r\n\r\n")
        assert b" 200 " in status_line(headers) and body == b"", answer[:300]
        assert b"multipart/x-mixed-replace" in headers or b"text/event-stream" in headers


def test_unhealthy_healthz_tells_nothing_about_the_source(start_service):
    port = free_port()  # nothing listens there: the source stays lost
    url = f"rtsp://camuser:campass@127.0.0.1:{port}/secret-path"
    service = start_service("--source", url, "--connect-timeout", "1", "--http", "0")
    wait_for(lambda: http_get(service.url + "/healthz")[0] == 503, 60, "/healthz 503 (the source lost for the grace period)")
    body = http_get(service.url + "/healthz")[2].decode()
    assert body.startswith("unhealthy ")
    for secret in ("camuser", "campass", "127.0.0.1", str(port), "secret-path", "rtsp"):
        assert secret not in body, body


def test_a_slowloris_crowd_beyond_the_fd_limit_cannot_stop_the_service(service):
    """HALF_OPEN connections that send half a request and trickle a header line now and then,
    reopened as the server closes them, for HOLD_S: the authenticated status still answers within
    1 s every second, detection goes on, and the log grows by less than 100 KB a minute."""
    target = address(service)
    crowd = {}

    def open_one(index):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect_ex(target)
        except OSError:
            sock.close()
            return
        crowd[index] = [sock, False]

    status_before = service.status(TOKEN)
    log_before, lines_before = log_size(service), len(service.lines)
    latencies, reopened = [], 0
    started = time.monotonic()
    try:
        for index in range(HALF_OPEN):
            open_one(index)
        next_trickle = time.monotonic()
        next_probe = float("inf")  # once the whole crowd has sent its half request
        established_s = None
        while time.monotonic() - started < HOLD_S:
            # Send the first half of a request on every connection, trickle a header line on
            # each every 2 s, and reopen every one the server closed.
            poller = select.poll()  # select() cannot take descriptors above 1023
            for sock, sent in crowd.values():
                if not sent:
                    poller.register(sock, select.POLLOUT)
            writable = {fd for fd, _event in poller.poll(50)}
            trickle = time.monotonic() >= next_trickle
            for index, entry in list(crowd.items()):
                sock, sent = entry
                try:
                    if not sent and sock.fileno() in writable:
                        sock.send(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
                        entry[1] = True
                    elif sent and trickle:
                        sock.send(b"X-Slow: 1\r\n")
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # closed by the server: a new one takes its place
                    sock.close()
                    del crowd[index]
                    open_one(index)
                    reopened += 1
            if trickle:
                next_trickle = time.monotonic() + 2.0
            if established_s is None and all(sent for _sock, sent in crowd.values()):
                established_s = time.monotonic() - started
                next_probe = time.monotonic()
            if time.monotonic() >= next_probe:
                probe_start = time.monotonic()
                code, _headers, body = http_get(service.url + "/api/v1/status", TOKEN, timeout=5)
                latencies.append(time.monotonic() - probe_start)
                assert code == 200, body
                status_now = json.loads(body)
                next_probe = probe_start + 1.0
        held_s = time.monotonic() - started
    finally:
        for sock, _sent in crowd.values():
            sock.close()
    log_growth = log_size(service) - log_before
    status_after = service.status(TOKEN)
    connections = status_now["http_connections"]
    new_lines = service.lines[lines_before:]
    print(f"\nslowloris: {HALF_OPEN} connections sending half a request within {established_s:.1f} s, "
          f"held for {held_s:.0f} s, {reopened} reopened; "
          f"{len(latencies)} status probes, slowest {max(latencies) * 1000:.0f} ms, median "
          f"{sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms; log grew {log_growth} bytes; "
          f"server: {connections}; log lines: {new_lines[:6]}")
    assert connections["cap"] < UNIT_NOFILE and connections["open"] <= connections["cap"]
    assert connections["evicted"] + connections["timed_out"] > 0  # the crowd was really beyond the cap
    assert len(latencies) >= HOLD_S / 2
    assert max(latencies) < 1.0, latencies
    assert log_growth * 60 / held_s < LOG_BUDGET_PER_MIN, service.stderr[-2000:]
    assert status_after["frames"] > status_before["frames"] + 10 * HOLD_S / 4, "detection stalled"
    assert status_after["state"] == "running"
