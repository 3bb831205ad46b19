"""Device rehearsal: the image's app, installed as the recipes install it, on aarch64.

For each root (bookworm: the board's Python, numpy, Pillow and GStreamer with TFLite 2.14;
bullseye: the board's TFLite 2.10.0 on Python 3.9) and each board persona (i.MX 93, i.MX 8M
Plus), the installed /usr/bin/ssdlite-detect runs under qemu-user in a chroot, and its output is
compared with the same app on x86 on the same inputs: raw model outputs and detections must be
identical. Every module the aarch64 runs import must come from a package the app's RDEPENDS
bring into the image. In the bookworm root the service mode runs too (HTTP from the host, MQTT to
the host's mosquitto, sd_notify, SIGTERM), its imports checked against the service package's
RDEPENDS.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device_root import PERSONAS, WORK_IN_ROOT
from installed_tree import REFERENCE_BUNDLE_NAME, REPO
from rehearsal_inputs import CLIP_FRAMES
from rehearsal_report import record_timing
from board_packages import runtime_closure, unpackaged_imports, unpackaged_plugins

# The service tests' own helpers (a real mosquitto, bounded waits, HTTP without raising).
sys.path.insert(0, str(REPO / "tests" / "app" / "service"))
from service_support import Mosquitto, free_port, http_get, wait_for  # noqa: E402

APP_BIN = "/usr/bin/ssdlite-detect"
INT8_MODEL = f"{REFERENCE_BUNDLE_NAME}_int8.tflite"
MODEL_IN_ROOT = f"/usr/share/ssdlite-mobilenetv2/{INT8_MODEL}"
INPUTS = f"{WORK_IN_ROOT}/inputs"
GOOD_IMAGES = ("bus.jpg", "crop.png", "mirror.png")
LAYER_FONT = "/usr/share/fonts/truetype/DejaVuSans.ttf"
DELEGATES = {"imx93": "/usr/lib/libethosu_delegate.so", "imx8mp": "/usr/lib/libvx_delegate.so"}
FALLBACK_BACKEND = {"imx93": "ethos-u", "imx8mp": "vx"}

# The raw SSD outputs (box encodings, class scores) the app's Detector gets for each image, as
# digests: run by the same script on both sides, with the app's own loading and preprocessing.
# Its first line is what the app sees of the board (differs from x86 by design).
RAW_OUTPUTS_SCRIPT = """
import hashlib, json, os, platform, sys
from ssdlite_detect import Detector
from ssdlite_detect.device import detect_platform
print(json.dumps({"machine": platform.machine(), "cores": os.cpu_count(), "soc": detect_platform().soc}))
detector = Detector.open(sys.argv[1], device="cpu")
for path in sys.argv[2:]:
    boxes, scores = detector.infer(detector.preprocess(detector.load(path).image))
    print(json.dumps({"image": os.path.basename(path), "dtype": [str(boxes.dtype), str(scores.dtype)],
                      "boxes": hashlib.sha256(boxes.tobytes()).hexdigest(),
                      "scores": hashlib.sha256(scores.tobytes()).hexdigest()}))
"""


def _json_lines(text: str) -> dict:
    """JSON Lines output keyed by image file name, without what differs by design (the path
    and the timings)."""
    results = {}
    for line in text.splitlines():
        result = json.loads(line)
        name = Path(result.pop("image")).name
        result.pop("timing_ms", None)
        results[name] = result
    return results


TESTSRC_FRAMES = 2


def _has_gstreamer(device_root) -> bool:
    """Only the bookworm root carries GStreamer (the board's 1.22); see setup-arm64-root.sh."""
    return device_root.python_version == "3.11"


@pytest.fixture(scope="session")
def board_runs(device_root):
    """Every aarch64 run of the rehearsal, per (persona, case), run once per root."""
    raw_script = device_root.host_path(f"{WORK_IN_ROOT}/raw_outputs.py")
    raw_script.write_text(RAW_OUTPUTS_SCRIPT)
    cases = {
        # A batch with a truncated image, annotated output, and --device auto on a board whose
        # delegate is missing (falls back to the CPU).
        "stills --json --output": [APP_BIN, "--json", "--output", f"{WORK_IN_ROOT}/annotated", INPUTS],
        "--benchmark 3": [APP_BIN, "--benchmark", "3", "--json", f"{INPUTS}/bus.jpg"],
        "--device npu": [APP_BIN, "--device", "npu", f"{INPUTS}/bus.jpg"],
        "raw outputs": ["/usr/bin/python3", str(Path(WORK_IN_ROOT) / "raw_outputs.py"), MODEL_IN_ROOT,
                        *(f"{INPUTS}/{name}" for name in GOOD_IMAGES)],
    }
    if _has_gstreamer(device_root):
        cases.update({case: [APP_BIN, *arguments] for case, arguments in live_cases(INPUTS).items()})
    runs = {}
    for persona in PERSONAS:
        for case, argv in cases.items():
            run = device_root.run(argv, persona)
            record_timing(device_root.name, case, persona.name, run.seconds)
            runs[persona.name, case] = run
    return runs


def live_cases(inputs: str) -> dict:
    return {
        "live clip": ["--source", f"{inputs}/bus.avi", "--json", "--frames", str(CLIP_FRAMES)],
        "live testsrc": ["--source", "testsrc", "--json", "--frames", str(TESTSRC_FRAMES)],
    }


@pytest.fixture(scope="session")
def x86_runs(device_root, x86_python, inputs, tmp_path_factory):
    """The same app on x86 with the same TFLite version, model bundle (model, labels, model.json)
    and inputs."""
    python = str(x86_python(device_root.name))
    model = str(device_root.bundle / INT8_MODEL)
    environment = {"PYTHONPATH": str(REPO / "python-app" / "src"), "PATH": "/usr/bin:/bin"}

    def run(*arguments):
        return subprocess.run([python, *map(str, arguments)], capture_output=True, text=True, env=environment, check=False)

    cli = ("-m", "ssdlite_detect.cli", "--model", model, "--device", "cpu")
    runs = {
        "stills": run(*cli, "--json", "--output", tmp_path_factory.mktemp("x86-annotated"), inputs),
        "raw": run("-c", RAW_OUTPUTS_SCRIPT, model, *(inputs / name for name in GOOD_IMAGES)),
    }
    assert runs["raw"].returncode == 0, runs["raw"].stderr
    if _has_gstreamer(device_root):
        for case, arguments in live_cases(str(inputs)).items():
            runs[case] = run(*cli, *arguments)
    return runs


@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_stills_detections_are_identical_to_x86(board_runs, x86_runs, persona):
    run = board_runs[persona, "stills --json --output"]
    x86 = x86_runs["stills"]
    # The truncated image fails alone; the others are still processed.
    assert (run.returncode, x86.returncode) == (1, 1), run.stderr
    board, host = _json_lines(run.stdout), _json_lines(x86.stdout)
    assert sorted(board) == sorted(GOOD_IMAGES)
    assert board == host
    assert all(result["backend"] == "cpu" for result in board.values())
    assert any(d["label"] == "bus" for d in board["bus.jpg"]["detections"])


@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_a_truncated_image_and_a_missing_delegate_are_one_line_each(board_runs, persona):
    lines = board_runs[persona, "stills --json --output"].stderr.splitlines()
    assert "Traceback" not in "\n".join(lines)
    fallback = [line for line in lines if "falling back to cpu" in line]
    errors = [line for line in lines if line.startswith("ssdlite-detect: error: ")]
    assert len(fallback) == 1 and fallback[0].startswith(f"ssdlite-detect: {FALLBACK_BACKEND[persona]} unavailable")
    assert DELEGATES[persona] in fallback[0]
    assert len(errors) == 1 and "truncated.jpg" in errors[0]
    assert len(lines) == 2, lines


@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_raw_model_outputs_are_bit_identical_to_x86(board_runs, x86_runs, persona):
    run = board_runs[persona, "raw outputs"]
    assert run.returncode == 0, run.stderr
    seen, *board = [json.loads(line) for line in run.stdout.splitlines()]
    _, *host = [json.loads(line) for line in x86_runs["raw"].stdout.splitlines()]
    expected = next(p for p in PERSONAS if p.name == persona)
    # The persona reached the app: SoC from sysfs/device tree, cores (its thread count) from sysfs.
    assert seen == {"machine": "aarch64", "cores": expected.cores, "soc": persona}
    assert [entry["image"] for entry in board] == list(GOOD_IMAGES)
    assert board == host


@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_benchmark_reports_every_stage(board_runs, device_root, persona):
    run = board_runs[persona, "--benchmark 3"]
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["runs"], report["backend"]) == (3, "cpu")
    assert set(report["stages"]) >= {"preprocess", "inference", "postprocess", "total"}
    record_timing(device_root.name, "benchmark median total (qemu)", persona, report["stages"]["total"]["median_ms"] / 1000)


@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_npu_without_its_delegate_exits_4_with_one_line(board_runs, persona):
    run = board_runs[persona, "--device npu"]
    assert run.returncode == 4
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssdlite-detect: error: "), run.stderr
    assert DELEGATES[persona] in lines[0]


def test_labels_are_drawn_with_the_layer_font(board_runs, device_root):
    """The image ships no font but the one the app's RDEPENDS bring in (setup-arm64-root.sh
    removed Debian's): annotated copies must use it, not Pillow's tiny bitmap fallback."""
    assert device_root.files_matching("usr/share/fonts/**/*.*") == [LAYER_FONT]
    for persona in PERSONAS:
        run = board_runs[persona.name, "stills --json --output"]
        # Pillow loads its FreeType module only for TrueType fonts.
        assert "PIL._imagingft" in run.modules, persona.name
        annotated = sorted(p.name for p in device_root.host_path(f"{WORK_IN_ROOT}/annotated").iterdir())
        assert annotated == sorted(GOOD_IMAGES)


def _frames(text: str) -> list:
    """Per-frame JSON objects without what differs by design (timings; the source's path)."""
    frames = []
    for line in text.splitlines():
        frame = json.loads(line)
        assert {"source", "frame", "pts_ms", "width", "height", "backend", "detections"} <= set(frame)
        assert "latency" in frame.pop("timing_ms")
        frame["source"] = Path(frame["source"]).name
        frames.append(frame)
    return frames


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)  # GStreamer 1.22, the board's
@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_live_clip_frames_are_identical_to_x86(board_runs, x86_runs, device_root, persona):
    """Every frame of a file is processed (no drops for files), so frame by frame: same pixels
    out of GStreamer's software decoder and scaler, same detections."""
    run, x86 = board_runs[persona, "live clip"], x86_runs["live clip"]
    assert (run.returncode, x86.returncode) == (0, 0), run.stderr + x86.stderr
    board, host = _frames(run.stdout), _frames(x86.stdout)
    assert [f["frame"] for f in board] == list(range(len(board))) and len(board) == CLIP_FRAMES
    assert board == host
    assert any(d["label"] == "bus" for d in board[0]["detections"])
    # Notes (the missing hardware scaler and delegate) and the summary: whole lines, no traceback.
    assert "Traceback" not in run.stderr
    assert f"{CLIP_FRAMES} frame(s) processed" in run.stderr.splitlines()[-1]


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)
@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_live_testsrc_detections_are_identical_to_x86(board_runs, x86_runs, device_root, persona):
    """testsrc is live: which of its (identical) frames get processed depends on speed, so the
    frames are compared by content, not by number."""
    run, x86 = board_runs[persona, "live testsrc"], x86_runs["live testsrc"]
    assert (run.returncode, x86.returncode) == (0, 0), run.stderr + x86.stderr
    board, host = _frames(run.stdout), _frames(x86.stdout)
    assert len(board) == len(host) == TESTSRC_FRAMES
    drop_timing = [{k: v for k, v in f.items() if k not in ("frame", "pts_ms")} for f in board + host]
    assert all(frame == drop_timing[0] for frame in drop_timing)
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)  # the board's Python, 3.11
def test_the_precompiled_modules_are_used_as_installed(board_runs, device_root):
    """python_pep517 precompiles the app at build time (a chroot has no /dev/shm for a parallel
    compileall, and the board should not compile at first start). Python rewrites a .pyc it
    finds stale, so unchanged bytes after all the runs mean the installed ones were used."""
    installed = sorted(device_root.app_tree.rglob("*.pyc"))
    assert installed
    for pyc in installed:
        in_root = device_root.path / pyc.relative_to(device_root.app_tree)
        assert in_root.read_bytes() == pyc.read_bytes(), in_root
    package = device_root.host_path(device_root.site_packages) / "ssdlite_detect"
    assert len(list(package.rglob("*.pyc"))) == len(installed)


def _imports_of(board_runs, persona: str, cases) -> dict:
    """Modules (name -> file) the installed app imported in the persona's runs of `cases`."""
    imported = {}
    for (name, case), run in board_runs.items():
        if name == persona and case in cases and run.argv[0] == APP_BIN:
            imported.update(run.modules)
    return imported


STILL_CASES = ("stills --json --output", "--benchmark 3", "--device npu")


# The board's package split is that of Python 3.11: the bookworm root's.
@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)
@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_every_module_the_stills_import_comes_from_the_rdepends(board_runs, device_root, machine_rdepends, persona):
    """Dynamic version of tests/layer's static check: what the runs really imported on aarch64
    against poky's package split."""
    imported = _imports_of(board_runs, persona.name, STILL_CASES)
    assert {"numpy", "PIL.Image", "PIL._imagingft", "tflite_runtime.interpreter", "ssdlite_detect.cli"} <= set(imported)
    assert unpackaged_imports(imported, machine_rdepends(persona.machine), "3.11") == {}


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)
@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_every_module_the_live_mode_imports_comes_from_the_rdepends(board_runs, device_root, machine_rdepends, persona):
    imported = _imports_of(board_runs, persona.name, tuple(live_cases(INPUTS)))
    assert {"gi", "gi.repository.Gst", "gi.repository.GstApp", "ssdlite_detect.live"} <= set(imported)
    assert unpackaged_imports(imported, machine_rdepends(persona.machine), "3.11") == {}


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)
@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_every_gstreamer_plugin_the_live_mode_loads_is_in_the_rdepends(board_runs, device_root, machine_rdepends,
                                                                     gstreamer_plugin_owners, persona):
    """The same for GStreamer: each plugin a live run loaded, as the package poky splits it into."""
    plugins = {}
    for (name, case), run in board_runs.items():
        if name == persona.name and case in live_cases(INPUTS):
            plugins.update(run.plugins)
    assert {"app", "videotestsrc", "jpeg", "avi"} <= set(plugins)
    assert unpackaged_plugins(plugins, machine_rdepends(persona.machine), gstreamer_plugin_owners) == {}


@pytest.fixture(scope="session")
def machine_rdepends(tmp_path_factory):
    """RDEPENDS of every package the app recipe builds for `machine` (the main, -live and
    -service packages). They are allarch, the same for every machine (tests/layer): what the app
    imports must be covered here, not by packagegroup-ssdlite, which adds only what differs per SoC
    (delegates, NPU driver and firmware, NXP's GStreamer elements: nothing a run imports here)."""
    from installed_tree import layer_recipes

    def rdepends(machine: str):
        top = tmp_path_factory.mktemp(f"rdepends-{machine}")
        (top / "common-licenses").mkdir()
        rd = layer_recipes.parse_recipe(layer_recipes.APP_RECIPE, machine, top)
        return sorted({
            dependency
            for package in rd.getVar("PACKAGES").split() if package.startswith(rd.getVar("PN"))
            for dependency in (rd.getVar(f"RDEPENDS:{package}") or "").split()
        })

    return rdepends


def test_the_check_relies_on_no_catch_all_package(machine_rdepends):
    """tensorflow-lite RDEPENDS on "python3", which python3-modules (the whole standard library)
    provides: on today's image no stdlib module can be missing. The dynamic check above does not
    count that catch-all, so the app's own RDEPENDS must cover what it imports; this names the
    packages that still pull in the whole library, so a change there is noticed."""
    _, via_catch_all = runtime_closure(machine_rdepends("imx93evk"))
    assert via_catch_all == {"tensorflow-lite"}


# --- the service mode (bookworm: aiohttp, paho-mqtt and python-systemd are Debian's, the board's
# versions) ------------------------------------------------------------------------------------
SERVICE_PACKAGE = "python3-ssdlite-detect-service"
# Model load, the first pipeline and the first inference under qemu on a busy 2-core host.
SERVICE_START_TIMEOUT = 180.0
# The board's bound is 3 s (issue 9); qemu runs Python about an order of magnitude slower and the
# host is shared, so only a hang or a lost signal fails here. The time itself is reported.
SERVICE_STOP_TIMEOUT = 30.0
MQTT_PREFIX = "rehearsal"
# The x86 app env's paho (the board's 1.6.1) takes one detections message off the broker.
MQTT_TAKE_ONE = (
    "import sys, paho.mqtt.subscribe as subscribe\n"
    "message = subscribe.simple(sys.argv[1], hostname='127.0.0.1', port=int(sys.argv[2]), msg_count=1)\n"
    "print(message.payload.decode())\n"
)


class NotifySocket:
    """systemd's end of sd_notify: a datagram socket in the root's /tmp, which the chroot sees as
    the same file, keeping every state the service sends."""

    def __init__(self, device_root, name: str):
        self.path_in_root = f"{WORK_IN_ROOT}/{name}"
        host_path = device_root.host_path(self.path_in_root)
        if host_path.exists():
            host_path.unlink()
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(host_path))
        self.socket.settimeout(0.2)
        self.states = []
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.states.append(self.socket.recv(4096).decode())
            except socket.timeout:
                continue

    def close(self) -> None:
        self._closed.set()
        self._reader.join(5)
        self.socket.close()


def _json_or_none(url: str):
    """The JSON body of a 200 answer; None while the service is not listening or has no frame."""
    try:
        code, _headers, body = http_get(url, timeout=10)
    except OSError:
        return None
    return json.loads(body) if code == 200 else None


@pytest.fixture(scope="session")
def service_runs(device_root, x86_python, tmp_path_factory):
    """Per persona: the installed ssdlite-detect as a service on testsrc, queried over HTTP from
    the host (the chroot shares the host's network), publishing to the host's mosquitto, telling
    a notify socket its states, then stopped with SIGTERM."""
    folder = tmp_path_factory.mktemp("rehearsal-service")
    broker = Mosquitto(folder, free_port())
    broker.start()
    results = {}
    try:
        for persona in PERSONAS:
            results[persona.name] = _run_service(device_root, persona, broker.port, str(x86_python("bookworm")), folder)
    finally:
        broker.stop()
    return results


def _run_service(device_root, persona, mqtt_port: int, x86_python: str, folder: Path) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    notify = NotifySocket(device_root, f"notify-{persona.name}")
    stdout, stderr = open(folder / f"{persona.name}.out", "w+"), open(folder / f"{persona.name}.err", "w+")
    argv = [APP_BIN, "--source", "testsrc", "--http", f"127.0.0.1:{port}",
            "--mqtt", f"mqtt://127.0.0.1:{mqtt_port}/{MQTT_PREFIX}"]
    running = device_root.start(argv, persona, env={"NOTIFY_SOCKET": notify.path_in_root}, stdout=stdout, stderr=stderr)
    result = {}
    try:
        def first_frames():
            assert running.process.poll() is None, "the service exited:\n" + (folder / f"{persona.name}.err").read_text()
            status = _json_or_none(url + "/api/v1/status")
            return status if status and status.get("frames", 0) > 0 else None

        result["status"] = wait_for(first_frames, SERVICE_START_TIMEOUT, f"{persona.name}: frames in /api/v1/status", 1.0)
        result["first_frame_seconds"] = time.monotonic() - running.started
        result["detections"] = _json_or_none(url + "/api/v1/detections")
        subscriber = subprocess.run([x86_python, "-c", MQTT_TAKE_ONE, f"{MQTT_PREFIX}/detections", str(mqtt_port)],
                                    capture_output=True, text=True, timeout=60, check=False)
        assert subscriber.returncode == 0, f"{persona.name}: no MQTT message: {subscriber.stderr.strip()}"
        result["mqtt"] = json.loads(subscriber.stdout)
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        try:
            running.process.wait(SERVICE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{persona.name}: the service did not exit within {SERVICE_STOP_TIMEOUT:g} s of SIGTERM") from None
        result["stop_seconds"] = time.monotonic() - signalled
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        notify.close()
        stdout.seek(0)
        stderr.seek(0)
        result["run"] = running.finish(stdout.read(), stderr.read())
        stdout.close()
        stderr.close()
    result["notify"] = notify.states
    record_timing(device_root.name, "service: first frame", persona.name, result["first_frame_seconds"])
    record_timing(device_root.name, "service: SIGTERM to exit", persona.name, result["stop_seconds"])
    return result


def _same_frame(result: dict) -> dict:
    """A --json result without what differs between frames and runs (number, time, timings)."""
    return {key: value for key, value in result.items() if key not in ("frame", "pts_ms", "timing_ms")}


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)
@pytest.mark.parametrize("persona", [p.name for p in PERSONAS])
def test_the_service_serves_testsrc_detections_and_stops_on_sigterm(service_runs, x86_runs, device_root, persona):
    """The installed service under qemu: running with frames, the latest result in the --json
    shape with x86's detections of the same (identical) testsrc frames, the same on MQTT, READY
    and STOPPING told to systemd, and exit 0 after SIGTERM."""
    service = service_runs[persona]
    run = service["run"]
    assert run.returncode == 0, run.stderr
    assert service["status"]["state"] == "running" and service["status"]["backend"] == "cpu"
    latest = service["detections"]
    assert set(latest) == {"source", "frame", "pts_ms", "width", "height", "backend", "detections", "timing_ms"}
    host = _frames(x86_runs["live testsrc"].stdout)[0]
    assert _same_frame(latest) == _same_frame(host)
    assert _same_frame(service["mqtt"]) == _same_frame(host)
    assert service["notify"][0].startswith("READY=1\n") and "STOPPING=1" in service["notify"], service["notify"]
    assert "Traceback" not in run.stderr
    assert "frame(s) processed" in run.stderr.splitlines()[-1]


@pytest.mark.parametrize("device_root", ["bookworm"], indirect=True)
@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_every_module_the_service_imports_comes_from_the_service_rdepends(service_runs, device_root,
                                                                          package_rdepends, persona):
    """As for the stills and the live mode, against the service package's own RDEPENDS (with
    those of the app packages it names): what an image with the service package gets."""
    imported = service_runs[persona.name]["run"].modules
    assert {"aiohttp.web", "multidict", "yarl", "paho.mqtt.client", "systemd.daemon",
            "ssdlite_detect.service.server", "ssdlite_detect.live"} <= set(imported)
    assert unpackaged_imports(imported, package_rdepends(persona.machine, SERVICE_PACKAGE), "3.11") == {}


@pytest.fixture(scope="session")
def package_rdepends(tmp_path_factory):
    """RDEPENDS of one package the app recipe builds for `machine`, with those of the recipe's
    own packages it names (the service package names the live one, which names the app)."""
    from installed_tree import layer_recipes

    def rdepends(machine: str, package: str):
        top = tmp_path_factory.mktemp(f"package-rdepends-{machine}")
        (top / "common-licenses").mkdir()
        rd = layer_recipes.parse_recipe(layer_recipes.APP_RECIPE, machine, top)
        own = set(rd.getVar("PACKAGES").split())
        found, pending = set(), [package]
        while pending:
            name = pending.pop()
            for dependency in (rd.getVar(f"RDEPENDS:{name}") or "").split():
                if dependency not in found:
                    found.add(dependency)
                    if dependency in own:
                        pending.append(dependency)
        return sorted(found)

    return rdepends
