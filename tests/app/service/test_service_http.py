"""The HTTP API of a running service (the reference SSD on a bus clip, a token on 127.0.0.1):
every path, the token rules, the browser login, SSE order, MJPEG frames, the Prometheus text,
and clients that never read."""
from __future__ import annotations

import io
import json
import re
import socket
import time
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from service_support import TOKEN, Service, http_get, wait_for

PROTECTED = ["/", "/stream.mjpeg", "/api/v1/detections", "/api/v1/events", "/api/v1/status", "/metrics"]


@pytest.fixture(scope="module")
def service(model_args, bus_clip, token_file):
    running = Service([*model_args, "--source", bus_clip, "--realtime", "--http", "0",
                       "--http-token-file", token_file])
    wait_for(lambda: running.status(TOKEN)["frames"] >= 3, 60, "the first frames")
    yield running
    code, _seconds = running.stop()
    assert code == 0, running.stderr


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def open_without_redirects(request):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def read_stream(url: str, headers: dict, until, timeout: float = 30.0) -> bytes:
    """Reads a streaming response until `until(data)` is true."""
    request = urllib.request.Request(url, headers=headers)
    data = b""
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(request, timeout=timeout) as response:
        assert response.status == 200
        while not until(data):
            assert time.monotonic() < deadline, "the stream stopped delivering"
            data += response.read1(65536)
    return data


@pytest.mark.parametrize("path", PROTECTED)
def test_every_path_but_healthz_refuses_a_missing_or_wrong_token(service, path):
    for token in (None, "wrong-token-0123456789"):
        code, headers, _body = http_get(service.url + path, token) if path != "/" else (None, None, None)
        if path == "/":  # the page sends a browser to the login form instead
            response = open_without_redirects(urllib.request.Request(service.url + "/"))
            assert response.status == 303 and response.headers["Location"].endswith("login")
            continue
        assert code == 401, (path, token)
        assert headers["WWW-Authenticate"].startswith("Bearer")


def test_healthz_needs_no_token(service):
    code, _headers, body = http_get(service.url + "/healthz")
    assert code == 200 and body.startswith(b"ok running")


def test_detections_are_the_json_shape_and_find_the_bus(service):
    def bus_seen():
        code, _headers, body = http_get(service.url + "/api/v1/detections", TOKEN)
        assert code == 200
        result = json.loads(body)
        assert set(result) == {"source", "frame", "pts_ms", "width", "height", "backend", "detections", "timing_ms"}
        assert (result["width"], result["height"]) == (640, 360)
        return any(d["label"] == "bus" for d in result["detections"])

    wait_for(bus_seen, 30, "a bus in /api/v1/detections")


def test_status_reports_the_running_stream(service):
    status = service.status(TOKEN)
    assert status["state"] == "running"
    assert status["source"].endswith("bus.avi") and status["backend"] == "cpu"
    assert status["model"] == "coco_ssd_mobilenet_v1_raw.tflite"
    assert status["frames"] >= 3 and status["fps"] > 0
    assert 0 < status["latency_median_ms"] <= status["latency_p90_ms"]
    assert status["uptime_s"] > 0 and status["dropped"] >= 0
    assert status["display_frames"] is True  # the in-memory snapshots want every full-size frame


SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (?P<value>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|Inf|NaN))$')


def parse_prometheus(text: str) -> dict:
    """{(name, labels text): value}; asserts the exposition format: HELP and TYPE once per family
    before its samples, every sample belonging to a declared family of a known type."""
    assert text.endswith("\n")
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _hash, _type, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped") and name not in types
            types[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name = match["name"]
        family = next((f for f in types if name in (f, f + "_sum", f + "_count")), None)
        assert family is not None, f"{name} has no TYPE line before it"
        if types[family] == "counter":
            assert family.endswith("_total")
        samples[(name, match["labels"] or "")] = float(match["value"])
    return samples


def test_metrics_parse_as_prometheus_text_and_count_frames(service):
    code, headers, body = http_get(service.url + "/metrics", TOKEN)
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    first = parse_prometheus(body.decode())
    assert first[("ssdlite_source_up", "")] == 1
    assert first[("ssdlite_inference_seconds", 'quantile="0.5"')] > 0
    wait_for(lambda: parse_prometheus(http_get(service.url + "/metrics", TOKEN)[2].decode())[
        ("ssdlite_frames_processed_total", "")] > first[("ssdlite_frames_processed_total", "")], 20, "more frames")


def sse_events(data: bytes):
    events = []
    for block in data.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((int(fields["id"]), json.loads(fields["data"])))
    return events


def test_events_arrive_in_frame_order_as_the_json_shape(service):
    data = read_stream(service.url + "/api/v1/events", {"Authorization": f"Bearer {TOKEN}"},
                       lambda d: len(sse_events(d)) >= 8)
    assert data.startswith(b"retry: 1000\n\n")
    events = sse_events(data)
    frames = [result["frame"] for _id, result in events]
    assert [event_id for event_id, _result in events] == frames
    # The clip replays from frame 0 after its end: order is strict between restarts.
    assert all(b > a or b < 5 for a, b in zip(frames, frames[1:])), frames
    assert all(set(result) >= {"source", "detections", "timing_ms"} for _id, result in events)


def mjpeg_parts(data: bytes):
    parts = []
    for chunk in data.split(b"--ssdliteframe\r\n")[1:]:
        head, _, rest = chunk.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])
        if len(rest) >= length:
            parts.append(rest[:length])
    return parts


def test_stream_mjpeg_sends_annotated_jpeg_frames(service):
    data = read_stream(service.url + "/stream.mjpeg", {"Authorization": f"Bearer {TOKEN}"},
                       lambda d: len(mjpeg_parts(d)) >= 2)
    for jpeg in mjpeg_parts(data):
        with Image.open(io.BytesIO(jpeg)) as image:
            assert image.format == "JPEG" and image.size == (640, 360)


def test_the_browser_logs_in_once_with_a_cookie(service):
    wrong = open_without_redirects(urllib.request.Request(
        service.url + "/login", data=urllib.parse.urlencode({"token": "nope"}).encode()))
    assert wrong.status == 303 and "failed" in wrong.headers["Location"]
    assert "Set-Cookie" not in wrong.headers
    right = open_without_redirects(urllib.request.Request(
        service.url + "/login", data=urllib.parse.urlencode({"token": TOKEN}).encode()))
    assert right.status == 303
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = cookie.split(";")[0]
    code, headers, body = http_get(service.url + "/", cookie=jar)
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert b"stream.mjpeg" in body and b"api/v1/events" in body and b"<script src" not in body  # no CDN
    assert http_get(service.url + "/api/v1/status", cookie=jar)[0] == 200
    code, _headers, login_page = http_get(service.url + "/login")
    assert code == 200 and b'name="token"' in login_page


def stalled_client(url: str, path: str) -> socket.socket:
    """Sends a request and never reads: a small receive buffer so that the server's writes stall."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    return sock


def test_clients_that_never_read_do_not_slow_detection(service):
    stalled = [stalled_client(service.url, "/stream.mjpeg"), stalled_client(service.url, "/api/v1/events")]
    try:
        wait_for(lambda: service.status(TOKEN)["http_streaming_clients"] == 2, 10, "both clients connected")
        metrics = lambda: parse_prometheus(http_get(service.url + "/metrics", TOKEN)[2].decode())  # noqa: E731
        before = metrics()
        # Their queues drop (the writes to them are stuck) while detection goes on.
        wait_for(lambda: metrics()[("ssdlite_subscriber_dropped_total", 'topic="jpeg"')]
                 > before[("ssdlite_subscriber_dropped_total", 'topic="jpeg"')], 40, "the stalled client's frames to drop")
        after = metrics()
        assert after[("ssdlite_frames_processed_total", "")] > before[("ssdlite_frames_processed_total", "")] + 3
        # A reading client still gets fresh events meanwhile.
        data = read_stream(service.url + "/api/v1/events", {"Authorization": f"Bearer {TOKEN}"},
                           lambda d: len(sse_events(d)) >= 2)
        assert sse_events(data)[-1][0] >= 0
    finally:
        for sock in stalled:
            sock.close()


# From the first viewer's connection to its first JPEG frame: the encoder's next result opens the
# display branch's valve, the frames already in the stream (read before it opened) go by without,
# then the next one is drawn: a few results' time. 2-4 s here with the CPU model at 1 FPS on a
# loaded 2-core machine, as before the valve (every frame converted); well under 1 s at 10 FPS.
FIRST_JPEG_S = 10.0


def test_the_display_branch_runs_only_while_someone_watches(start_service, bus_clip, token_file):
    """--http without snapshots: nobody on /stream.mjpeg, no full-size frames (the valve closed);
    a viewer gets JPEG frames at once, also after the clip's replay opened a new source; once it
    goes, the valve closes again."""
    service = start_service("--source", bus_clip, "--realtime", "--http", "0", "--http-token-file", token_file,
                            "--snapshot-objects", "0")
    wait_for(lambda: service.status(TOKEN)["frames"] >= 3, 60, "the first frames")
    time.sleep(1.0)  # the JPEG encoder has seen results with nobody watching
    status = service.status(TOKEN)
    assert (status["display_frames"], status["http_streaming_clients"]) == (False, 0)
    request = urllib.request.Request(service.url + "/stream.mjpeg", headers={"Authorization": f"Bearer {TOKEN}"})
    connected = time.monotonic()
    data = b""
    with urllib.request.urlopen(request, timeout=30) as response:
        while not mjpeg_parts(data):
            assert time.monotonic() - connected < FIRST_JPEG_S, "no JPEG frame within the bound"
            data += response.read1(65536)
        first_after = time.monotonic() - connected
        assert service.status(TOKEN)["display_frames"] is True
        # The clip (4 s) ends and plays again on a new source: its frame numbers start again.
        frame_now = lambda: json.loads(http_get(service.url + "/api/v1/detections", TOKEN)[2])["frame"]  # noqa: E731
        highest = frame_now()
        deadline = time.monotonic() + 30
        while frame_now() >= highest:
            assert time.monotonic() < deadline, "the clip did not play again"
            highest = max(highest, frame_now())
            data += response.read1(65536)
        seen = len(mjpeg_parts(data))
        while len(mjpeg_parts(data)) < seen + 3:
            data += response.read1(65536)
        assert service.status(TOKEN)["display_frames"] is True
    for jpeg in mjpeg_parts(data):
        with Image.open(io.BytesIO(jpeg)) as image:
            assert image.format == "JPEG" and image.size == (640, 360)
    wait_for(lambda: service.status(TOKEN)["http_streaming_clients"] == 0, 10, "the viewer gone")
    wait_for(lambda: service.status(TOKEN)["display_frames"] is False, 5, "the valve closed again")
    print(f"first JPEG {first_after:.2f} s after connecting")
    code, _seconds = service.stop()
    assert code == 0, service.stderr
