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

from service_support import TOKEN, free_port, wait_for

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
        return state if state["width"] > 0 and "bus" in state["labels"] and len(frame_numbers) >= 3 else None

    state = wait_for(frames_and_a_bus, 60, "rendered frames and a bus in the detection list", interval=0.3)
    assert state["width"] == 640 and state["state"] == "running"  # the annotated clip, at its own size

    screenshot = tmp_path / "live-view.png"
    screenshot.write_bytes(base64.b64decode(browser.command("GET", "/screenshot")))
    print(f"live view screenshot: {screenshot}")
    with Image.open(screenshot) as image:
        # The video area holds the grey street and the bus, not an empty dark page.
        colours = image.convert("RGB").resize((100, 80)).getcolors(10000)
        assert colours is not None and len(colours) > 50
    code, _seconds = service.stop()
    assert code == 0
