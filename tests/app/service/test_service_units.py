"""The service's pure parts: dropping subscriptions, statistics and health, the token rules, the
MQTT URL, TOML settings with the options' own checks, the sd_notify datagram, and the command
line's usage errors (one line, exit 2, before any model loads)."""
from __future__ import annotations

import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from ssdlite_detect.cli import build_registry, main
from ssdlite_detect.config import ConfigError, settings_from_table
from ssdlite_detect.live.hub import STATE_RUNNING, STATE_SOURCE_LOST, ResultHub
from ssdlite_detect.pubsub import Published, ThreadSubscription
from ssdlite_detect.service.auth import AuthConfigError, read_token_file, required_token
from ssdlite_detect.service.mqtt import MqttUrlError, parse_mqtt_url
from ssdlite_detect.service.notify import Notifier


def long_options():
    return build_registry().long_options


def test_a_full_subscription_drops_its_oldest_and_counts_it():
    subscription = ThreadSubscription(size=2)
    for number in range(5):
        subscription.put(Published(number, time.monotonic()))
    assert subscription.dropped == 3
    assert [subscription.get(0.1), subscription.get(0.1), subscription.get(0.05)] == [3, 4, None]


def test_items_older_than_the_age_limit_are_never_delivered():
    subscription = ThreadSubscription(size=4, max_age=1.0)
    subscription.put(Published("stale", time.monotonic() - 1.5))
    subscription.put(Published("fresh", time.monotonic()))
    assert subscription.get(0.1) == "fresh" and subscription.dropped == 1


def test_a_closed_subscription_wakes_its_reader():
    subscription = ThreadSubscription(size=1)
    subscription.close()
    start = time.monotonic()
    assert subscription.get(5.0) is None and time.monotonic() - start < 1.0


class _Result:
    def __init__(self, frame):
        self.frame = frame
        self.timing_ms = {"inference": 10.0, "latency": 20.0 + frame}


def test_health_follows_frames_and_losses():
    hub = ResultHub("testsrc", "cpu", "model.tflite")
    now = time.monotonic()
    assert hub.healthy(5.0, now)  # starting: the NPU's first compile may take a while
    hub.publish(_Result(0), None)
    assert hub.state == STATE_RUNNING and hub.healthy(5.0)
    assert not hub.healthy(5.0, time.monotonic() + 6)  # running, but no frame for 6 s
    hub.set_state(STATE_SOURCE_LOST, "gone")
    assert hub.healthy(5.0) and not hub.healthy(5.0, time.monotonic() + 6)
    assert hub.source_losses == 1
    status = hub.status()
    assert status["frames"] == 1 and status["state"] == "source-lost" and status["message"] == "gone"


def test_stats_add_up_over_reconnections():
    hub = ResultHub("s", "cpu", "m")
    for frame in (0, 1, 4):  # the first stream processed 3 of its first 5 frames
        hub.publish(_Result(frame), None)
    hub.stats.stream_ended()  # the source is reopened: its frames count from 0 again
    hub.publish(_Result(4), None)  # 4 of the reopened stream's first 5 frames dropped
    assert hub.stats.processed == 4 and hub.stats.dropped == 2 + 4
    assert hub.status()["latency_median_ms"] == 22.5  # of 20, 21, 24, 24


def test_token_rules():
    assert required_token("127.0.0.1", None, False) is None
    assert required_token("::1", None, False) is None
    assert required_token("localhost", None, False) is None
    assert required_token("127.0.0.1", "t" * 16, False) == "t" * 16  # a token given is always required
    assert required_token("0.0.0.0", None, True) is None  # the explicit opt-out
    for host in ("0.0.0.0", "192.168.1.10", "camera.local"):
        with pytest.raises(AuthConfigError, match="--http-token-file"):
            required_token(host, None, False)


def test_token_files(tmp_path):
    good = tmp_path / "good"
    good.write_text("0123456789abcdef0123\nignored\n")
    assert read_token_file(str(good)) == "0123456789abcdef0123"
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(AuthConfigError, match="at least 16"):
        read_token_file(str(short))
    with pytest.raises(AuthConfigError, match="No such file"):
        read_token_file(str(tmp_path / "missing"))


@pytest.mark.parametrize("content, fragment", [
    (b"0123456789abcdef\xff\xfe\n", "not UTF-8 text (byte 0xff at offset 16)"),
    ("0123456789abcdéf0123\n".encode(), "characters of A-Z a-z 0-9"),  # cannot travel in a header or a cookie
    (b"0123456789 abcdef 0123\n", "characters of A-Z a-z 0-9"),
    (b"", "at least 16"),
])
def test_token_files_that_cannot_be_tokens(tmp_path, content, fragment):
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(AuthConfigError, match=re.escape(fragment)):
        read_token_file(str(path))


def test_a_token_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "token"
    os.mkfifo(fifo)  # no writer: open() would block forever
    with pytest.raises(AuthConfigError, match="is a FIFO, not a regular file"):
        read_token_file(str(fifo))


@pytest.mark.parametrize("url, host, port, tls, prefix, user, password", [
    ("mqtt://broker/cam1", "broker", 1883, False, "cam1", None, None),
    ("mqtts://broker.example:8884/site/cam%201", "broker.example", 8884, True, "site/cam%201", None, None),
    ("mqtts://u%40x:p%3Aw@10.0.0.2/a/", "10.0.0.2", 8883, True, "a", "u@x", "p:w"),
])
def test_mqtt_urls(url, host, port, tls, prefix, user, password):
    target = parse_mqtt_url(url)
    assert (target.host, target.port, target.tls, target.prefix, target.username, target.password) == (
        host, port, tls, prefix, user, password)
    assert target.status_topic == f"{prefix}/status" and "p:w" not in target.describe()


@pytest.mark.parametrize("url, fragment", [
    ("http://broker/x", "expected mqtt://"), ("mqtt://broker", "topic prefix"), ("mqtt:///x", "no broker host"),
    ("mqtt://broker:99999/x", "port"), ("mqtt://broker/a/#", "may not contain"),
    ("mqtt://broker:0/x", "port must be in 1-65535"), ("mqtt://[::1/x", "not a valid URL"),
    ("mqtt://bro ker/x", "not a host name"), ("mqtt://b%FF@h/x", "not valid UTF-8"),
])
def test_bad_mqtt_urls(url, fragment):
    with pytest.raises(MqttUrlError, match=re.escape(fragment)):
        parse_mqtt_url(url)


@pytest.mark.parametrize("url", [
    "mqtt://bob:S3cretPW@host:99999", "mqtt://bob:S3cretPW@host:0/x", "mqtt://bob:S3cretPW@host",
    "bob:S3cretPW@host:99", "http://bob:S3cretPW@host/x", "mqtt://bob:S3cr/etPW@host/x", "mqtt://bob:S3cr@tPW@[::1/x",
    "mqtt://bob:S3c%FFretPW@h/x", "mqtt://host/x?password=S3cretPW", "mqtt://bob:S3cretPW@ho st/x",
    # an unencoded "/" in the password ends the host early: host "bob", port 1, the rest a topic
    # that would carry the password to every subscriber (found by test_fuzzing.py)
    "mqtt://bob:1/S3cr@127.0.0.1/cam", "mqtt://bob:S3cr?etPW@host/x", "mqtt://bob:S3cr#etPW@host/x",
    "mqtt://bob:S3cr\netPW@host/x",
])
def test_mqtt_url_errors_never_show_the_password(url):
    with pytest.raises(MqttUrlError) as caught:
        parse_mqtt_url(url)
    assert "S3cr" not in str(caught.value) and "***" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_mqtt_password_is_not_in_the_targets_repr():
    assert "S3cretPW" not in repr(parse_mqtt_url("mqtt://bob:S3cretPW@host/x"))


def test_toml_settings_use_the_options_names_and_checks():
    settings = settings_from_table(long_options(), {
        "source": "camera", "http": "0.0.0.0:8080", "score-threshold": 0.6, "source-size": "1280x720",
        "http-unauthenticated": True, "device": "npu", "threads": 2,
    }, "f.toml")
    assert settings == {"source": "camera", "http": ("0.0.0.0", 8080), "score_threshold": 0.6,
                        "source_size": (1280, 720), "http_unauthenticated": True, "device": "npu", "threads": 2}


@pytest.mark.parametrize("table, fragment", [
    ({"sauce": "camera"}, "unknown setting 'sauce'"),
    ({"config": "other.toml"}, "unknown setting 'config'"),
    ({"score-threshold": 1.5}, "must be in [0, 1]"),
    ({"device": "gpu"}, "expected one of auto, cpu, npu"),
    ({"realtime": "yes"}, "expected true or false"),
    ({"http": "host:port"}, "expected [HOST:]PORT"),
    ({"source": ["a", "b"]}, "expected a string or a number"),
])
def test_bad_toml_settings_name_the_file_and_the_key(table, fragment):
    with pytest.raises(ConfigError) as caught:
        settings_from_table(long_options(), table, "f.toml")
    assert str(caught.value).startswith("f.toml: ") and fragment in str(caught.value)


def run_main(capsys, *args):
    with pytest.raises(SystemExit) as caught:
        main([str(a) for a in args])
    return caught.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, fragment", [
    (["--http", "8080", "photo.jpg"], "--http needs --source"),
    (["--mqtt", "mqtt://b/x", "photo.jpg"], "--mqtt needs --source"),
    (["--source", "testsrc", "--http", "0.0.0.0:8080"], "needs --http-token-file"),
    (["--source", "testsrc", "--http", "80800"], "expected [HOST:]PORT"),
    (["--source", "testsrc", "--mqtt", "mqtt://broker"], "topic prefix"),
    (["--source", "testsrc", "--http", "0", "--json"], "--json is for the terminal"),
    (["--source", "testsrc", "--mqtt", "mqtt://b/x", "--http-unauthenticated"], "need --http"),
])
def test_service_usage_errors_are_one_line_exit_2(capsys, args, fragment):
    code, err = run_main(capsys, *args)
    lines = [line for line in err.splitlines() if line.startswith("ssdlite-detect: error")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def test_config_file_settings_and_errors(capsys, tmp_path):
    config = tmp_path / "service.toml"
    config.write_text('source = "testsrc"\nhttp = "0.0.0.0:8080"\n')
    code, err = run_main(capsys, "--config", config)
    assert code == 2 and "needs --http-token-file" in err  # the file's settings were checked like options
    config.write_text('source = "testsrc"\nhttp = [\n')
    code, err = run_main(capsys, "--config", config)
    assert code == 2 and "not valid TOML" in err and "Traceback" not in err
    code, err = run_main(capsys, "--config", tmp_path / "missing.toml")
    assert code == 2 and "missing.toml: No such file" in err


@pytest.mark.parametrize("text, fragment", [
    (b'source = "caf\xe9"\n', "not UTF-8 text (byte 0xe9"),
    (b"a = " + b"[" * 100_000 + b"\n", "nested too deeply"),
    (b'source = "testsrc"\nmqtt = ["mqtt://bob:S3cretPW@host/x"]\n', "mqtt = a TOML list: expected a string or a number"),
    (b'source = "testsrc"\nhttp = "bob:S3cretPW@0.0.0.0:http"\n', "expected [HOST:]PORT"),
    (b'source = "testsrc"\nhttp = "bob:S3cretPW@0.0.0.0:80"\n', "--http bob:***@0.0.0.0: listening beyond"),
])
def test_config_files_that_cannot_be_read_are_one_line_without_secrets(capsys, tmp_path, text, fragment):
    config = tmp_path / "service.toml"
    config.write_bytes(text)
    code, err = run_main(capsys, "--config", config)
    lines = [line for line in err.splitlines() if line.startswith("ssdlite-detect: error")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err and "S3cr" not in err


@pytest.mark.parametrize("where", ["command line", "config"])
def test_an_mqtt_url_error_never_prints_the_password(capsys, tmp_path, where):
    url = "mqtt://bob:S3cretPW@host:99999"
    if where == "config":
        config = tmp_path / "service.toml"
        config.write_text(f'source = "testsrc"\nmqtt = "{url}"\n')
        code, err = run_main(capsys, "--config", config)
    else:
        code, err = run_main(capsys, "--source", "testsrc", "--mqtt", url)
    lines = [line for line in err.splitlines() if line.startswith("ssdlite-detect: error")]
    assert code == 2 and len(lines) == 1 and "mqtt://bob:***@host:99999" in lines[0], err
    assert "S3cretPW" not in err


def test_the_command_line_wins_over_the_file(tmp_path):
    from ssdlite_detect.cli import parse_arguments

    config = tmp_path / "service.toml"
    config.write_text('source = "testsrc"\nscore-threshold = 0.7\nhttp = 8080\n')
    args = parse_arguments(build_registry(), ["--config", str(config), "--score-threshold", "0.3"])
    assert (args.source, args.score_threshold, args.http) == ("testsrc", 0.3, ("127.0.0.1", 8080))


def test_the_board_config_file_parses_to_valid_settings():
    from pathlib import Path

    board_file = Path(__file__).resolve().parents[3] / "meta-ssdlite/recipes-ml/python3-ssdlite-detect/files/ssdlite-detect.toml"
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11")
    import tomllib

    settings = settings_from_table(long_options(), tomllib.loads(board_file.read_text()), str(board_file))
    assert settings["source"] == "camera" and settings["http"] == ("127.0.0.1", 8080)


BOARD_FILES = Path(__file__).resolve().parents[3] / "meta-ssdlite/recipes-ml/python3-ssdlite-detect/files"
# A commented-out example in the board's file: "# key = value", "# [[zones]]", "# [tracking]";
# prose comments never start with a lowercase key and " = ", nor with "[".
EXAMPLE_LINE = re.compile(r"^# ((?:[a-z][a-z0-9_-]* = |\[).*)$")


def uncommented_examples(text: str) -> str:
    return "\n".join(match[1] if (match := EXAMPLE_LINE.match(line)) else line for line in text.splitlines())


def test_the_board_config_examples_uncommented_are_a_valid_service_config(tmp_path):
    """Every example the board's file documents, uncommented at once, is a config the service
    accepts (the options' own parsers, the service's option rules, the zones and lines against the
    model's labels and a frame): an example goes stale, or a table lands above a key, and this fails."""
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11")
    import tomllib

    from ssdlite_detect.analytics.zones import check_labels
    from ssdlite_detect.cli import parse_arguments
    from ssdlite_detect.commands import service
    from ssdlite_detect.labels import COCO_LABELS

    text = uncommented_examples((BOARD_FILES / "ssdlite-detect.toml").read_text())
    example = tomllib.loads(text)
    documented = {"mqtt", "mqtt-detections", "mqtt-discovery", "http-token-file", "snapshots", "snapshots-max-mb",
                  "snapshot-objects", "classes", "source-size", "zones", "lines", "tracking"}
    assert documented <= set(example), documented - set(example)
    # The snapshots directory is inside the unit's StateDirectory, the one place ProtectSystem=strict leaves writable.
    unit = (BOARD_FILES / "ssdlite-detect.service").read_text()
    state = re.search(r"^StateDirectory=(\S+)$", unit, re.M)
    assert state and example["snapshots"].startswith(f"/var/lib/{state[1]}/"), example["snapshots"]
    config = tmp_path / "ssdlite-detect.toml"  # the board's directory cannot be created here
    config.write_text(text.replace(f'"{example["snapshots"]}"', f'"{tmp_path / "snapshots"}"'))
    registry = build_registry()
    args = parse_arguments(registry, ["--config", str(config)])
    command = service.check(registry.parser, args)
    assert command.mqtt.discovery_prefix == example["mqtt-discovery"] and command.mqtt.detections is False
    assert command.snapshots.max_objects == example["snapshot-objects"]
    assert command.snapshot_dir is not None and (tmp_path / "snapshots").is_dir()
    check_labels(command.regions, COCO_LABELS, str(config))
    width, height = args.source_size
    regions = command.regions.resolve(width, height, str(config))  # the points inside the frame
    assert [zone.name for zone in regions.zones] == [zone["name"] for zone in example["zones"]]
    assert [line.name for line in regions.lines] == [line["name"] for line in example["lines"]]
    assert all(0 <= x <= width and 0 <= y <= height for zone in regions.zones for x, y in zone.points)
    assert command.regions.tracking.lost_s == example["tracking"]["lost_s"]


def test_the_notify_socket_protocol_without_python_systemd(tmp_path, monkeypatch):
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    receiver.settimeout(2)
    monkeypatch.setitem(sys.modules, "systemd", None)  # as on a host without python-systemd
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "4000000",
                         "WATCHDOG_PID": str(os.getpid())})
    assert notifier.enabled and notifier.watchdog_interval == 4.0
    notifier.ready("detecting")
    notifier.watchdog()
    assert receiver.recv(100) == b"READY=1\nSTATUS=detecting" and receiver.recv(100) == b"WATCHDOG=1"
    receiver.close()
    assert not Notifier({}).enabled  # not started by systemd: nothing sent
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None


class _HangingStream:
    """A stream that delivers one result, then hangs the way a stuck NPU invoke would."""

    def __init__(self, release: "threading.Event"):
        self.release = release

    def results_with_frames(self):
        yield _Result(0), None
        self.release.wait(30)

    def stop(self):
        self.release.set()


class _HangingStreams:
    name = "hanging"

    def __init__(self, release):
        self.release = release

    def open(self, _max_frames, _duration):
        return _HangingStream(self.release)


def test_the_watchdog_is_fed_only_while_the_runner_beats(tmp_path, monkeypatch):
    import asyncio
    import threading

    from ssdlite_detect.live.runner import StreamRunner
    from ssdlite_detect.service.server import _watch

    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    receiver.settimeout(0.05)
    # python-systemd's notify() reads NOTIFY_SOCKET from the process environment itself.
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "600000")
    notifier = Notifier()
    hub = ResultHub("hanging", "cpu", "m")
    release = threading.Event()
    runner = StreamRunner(_HangingStreams(release), hub, retry=True)
    runner.start()

    def pings_between(start: float, end: float) -> int:
        count = 0
        while time.monotonic() < end:
            try:
                count += receiver.recv(100) == b"WATCHDOG=1" and time.monotonic() >= start
            except socket.timeout:
                pass
        return count

    async def watch_for(seconds: float):
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await _watch(hub, runner, notifier, stop)

    watcher = threading.Thread(target=asyncio.run, args=(watch_for(2.0),))
    watcher.start()
    now = time.monotonic()
    early, late = pings_between(now, now + 0.5), pings_between(now + 1.0, now + 2.0)
    watcher.join()
    runner.stop()
    runner.join(5)
    receiver.close()
    assert hub.stats.processed == 1
    assert early >= 1   # the result just arrived: the heart beats
    assert late == 0    # 0.6 s after the last beat, the hang stops the pings: systemd restarts the service


def test_a_taken_http_port_is_one_line_and_exit_1(capsys, reference):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        code = main(["--model", str(reference / "coco_ssd_mobilenet_v1_raw.tflite"),
                     "--labels", str(reference / "coco_labels.txt"), "--device", "cpu",
                     "--source", "testsrc", "--http", str(taken.getsockname()[1])])
    finally:
        taken.close()
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 1 and len(errors) == 1 and "Address already in use" in errors[0], err
    assert "Traceback" not in err


def test_the_jpeg_encoder_takes_results_only_while_someone_watches():
    """AnnotatedFrameEncoder subscribes to the results (and wants full-size frames) when the
    first /stream.mjpeg client subscribes to the JPEGs and lets both go when the last leaves:
    with nobody watching, publishing a result hands it to no subscriber and wakes nobody."""
    from ssdlite_detect.service.annotated import AnnotatedFrameEncoder

    hub = ResultHub("testsrc", "cpu", "model.tflite")
    wanted = []
    encoder = AnnotatedFrameEncoder(hub, want_display=lambda owner, flag: wanted.append(flag))

    def settles(condition):
        deadline = time.monotonic() + 2.0
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        return condition()

    encoder.start()
    try:
        time.sleep(0.1)
        assert hub.results.subscriber_count == 0 and wanted == []
        viewer = hub.jpegs.subscribe(ThreadSubscription(size=1))
        assert settles(lambda: hub.results.subscriber_count == 1) and wanted == [True]
        hub.jpegs.unsubscribe(viewer)
        assert settles(lambda: hub.results.subscriber_count == 0) and wanted == [True, False]
        hub.jpegs.subscribe(ThreadSubscription(size=1))  # a viewer again, there when it stops
        assert settles(lambda: hub.results.subscriber_count == 1)
    finally:
        encoder.stop()
    assert hub.results.subscriber_count == 0 and wanted[-1] is False
