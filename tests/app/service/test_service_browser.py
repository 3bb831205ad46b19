"""A real browser on the live view: headless Chromium (Debian's, driven through chromedriver's
W3C WebDriver API) logs in with the token, and the test checks that the MJPEG frames render and
the detection list updates with the bus the reference SSD finds. The screenshot is kept under
pytest's temporary directory (its path is printed)."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.request

import pytest
from PIL import Image

from live.live_media import THERE_AND_BACK_ZONES, encode_clip, there_and_back_frames
from service_support import TOKEN, free_port, http_get, wait_for
from ssdlite_detect.draw import LINE_COLOUR, ZONE_COLOUR
from ssdlite_detect.live import gst as gst_loader

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1000,800"]


class WebDriver:
    """The few W3C WebDriver commands the test needs, over chromedriver's HTTP API."""

    def __init__(self, port: int, user_data_dir):
        self.base = f"http://127.0.0.1:{port}"
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": CHROMIUM_FLAGS + [f"--user-data-dir={user_data_dir}"]}}}}
        self.session = self._call("POST", "/session", capabilities)["sessionId"]

    def _call(self, method: str, path: str, body=None):
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def command(self, method: str, path: str, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def element(self, css: str) -> str:
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def script(self, code: str):
        return self.command("POST", "/execute/sync", {"script": code, "args": []})

    def quit(self) -> None:
        self._call("DELETE", f"/session/{self.session}")


@pytest.fixture
def browser(tmp_path):
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    port = free_port()
    process = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_for(listening, 20, "chromedriver")
        driver = WebDriver(port, tmp_path / "chromium-profile")
        yield driver
        driver.quit()
    finally:
        process.terminate()
        process.wait(10)


def test_the_live_view_logs_in_renders_frames_and_updates_the_detections(start_service, bus_clip, token_file,
                                                                         browser, tmp_path):
    service = start_service("--source", bus_clip, "--realtime", "--http", "0", "--http-token-file", token_file)
    browser.command("POST", "/url", {"url": service.url + "/"})
    wait_for(lambda: browser.command("GET", "/url").endswith("/login"), 20, "the redirect to the login page")
    browser.command("POST", f"/element/{browser.element('#token')}/value", {"text": TOKEN})
    browser.command("POST", f"/element/{browser.element('button')}/click")
    wait_for(lambda: browser.script("return document.getElementById('stream') !== null"), 20, "the live view")

    frame_numbers = set()

    def frames_and_a_bus():
        state = browser.script(
            "return {frame: document.getElementById('frame').textContent,"
            " labels: [...document.querySelectorAll('#detections li')].map(li => li.firstChild.textContent),"
            " width: document.getElementById('stream').naturalWidth,"
            " state: document.getElementById('state').textContent}")
        if state["frame"].isdigit():
            frame_numbers.add(int(state["frame"]))
        # The page polls the status every 2 s: frames and detections can arrive before it says running.
        ready = state["width"] > 0 and "bus" in state["labels"] and len(frame_numbers) >= 3 and state["state"] == "running"
        return state if ready else None

    state = wait_for(frames_and_a_bus, 60, "rendered frames, a bus in the detection list, state running", interval=0.3)
    assert state["width"] == 640  # the annotated clip, at its own size

    screenshot = tmp_path / "live-view.png"
    screenshot.write_bytes(base64.b64decode(browser.command("GET", "/screenshot")))
    print(f"live view screenshot: {screenshot}")
    with Image.open(screenshot) as image:
        # The video area holds the grey street and the bus, not an empty dark page.
        colours = image.convert("RGB").resize((100, 80)).getcolors(10000)
        assert colours is not None and len(colours) > 50
    code, _seconds = service.stop()
    assert code == 0


def _near(colour, target, tolerance=60) -> bool:
    return sum(abs(a - b) for a, b in zip(colour, target)) <= tolerance


def test_the_live_view_shows_the_zones_lines_track_ids_and_counts(start_service, bus_image, token_file, browser,
                                                                  tmp_path):
    """The bus driving across a line and into a zone and back (the clip of test_service_objects):
    the MJPEG frames have the zone (amber) and the line (cyan) drawn, the list gives the bus its
    track id, the counts table the zone's and the line's counts as /api/v1/counts has them."""
    clip = encode_clip(gst_loader.load(), there_and_back_frames(bus_image), tmp_path / "there-and-back.avi",
                       "videoconvert ! jpegenc quality=95 ! avimux")
    zones = tmp_path / "zones.toml"
    zones.write_text(THERE_AND_BACK_ZONES)
    service = start_service("--source", clip, "--http", "0", "--http-token-file", token_file, "--zones", zones)
    browser.command("POST", "/url", {"url": service.url + "/login"})
    browser.command("POST", f"/element/{browser.element('#token')}/value", {"text": TOKEN})
    browser.command("POST", f"/element/{browser.element('button')}/click")
    wait_for(lambda: browser.script("return document.getElementById('stream') !== null"), 20, "the live view")

    def tracked_bus_and_a_count():
        state = browser.script(
            "return {tracks: [...document.querySelectorAll('#detections li')]"
            "          .map(li => [li.firstChild.textContent, (li.querySelector('.track') || {}).textContent]),"
            " counts: [...document.querySelectorAll('#count-rows tr')].map(tr => [...tr.cells].map(c => c.textContent)),"
            " hidden: document.getElementById('counts').hidden,"
            " width: document.getElementById('stream').naturalWidth}")
        last.update(state)
        tracked = [track for label, track in state["tracks"] if label == "bus" and track]
        counted = any(cells[1] == "bus" for cells in state["counts"])  # in the zone now, or crossed the line
        return state if tracked and counted and state["width"] > 0 else None

    last: dict = {}
    try:
        state = wait_for(tracked_bus_and_a_count, 120, "a tracked bus in the list and a count of it",
                         interval=0.3)
    except AssertionError as error:
        raise AssertionError(f"{error}; the page showed {last}") from None
    assert not state["hidden"]
    names = [cells[0] for cells in state["counts"] if cells[0]]
    assert names == ["zone right", "line middle"], state["counts"]
    track = next(track for label, track in state["tracks"] if label == "bus")
    assert track.startswith("#") and track[1:].isdigit()
    api_ids = {o["track_id"] for o in json.loads(http_get(service.url + "/api/v1/objects", TOKEN)[2])["objects"]}
    assert int(track[1:]) in api_ids or api_ids == set()  # the bus may have just left the frame

    screenshot = tmp_path / "live-view-zones.png"
    screenshot.write_bytes(base64.b64decode(browser.command("GET", "/screenshot")))
    print(f"live view screenshot: {screenshot}")
    rect = browser.script("const r = document.getElementById('stream').getBoundingClientRect();"
                          "return [r.left, r.top, r.right, r.bottom].map(Math.round)")
    with Image.open(screenshot) as image:
        video = image.convert("RGB").crop(rect)
        colours = video.getcolors(video.width * video.height)
    amber = sum(count for count, colour in colours if _near(colour, ZONE_COLOUR))
    cyan = sum(count for count, colour in colours if _near(colour, LINE_COLOUR))
    # The zone's outline (about 3 px around 360x360 of a 720x360 frame, scaled to the page) and the line.
    assert amber > 300 and cyan > 100, (amber, cyan)
    code, _seconds = service.stop()
    assert code == 0
