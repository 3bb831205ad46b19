"""Faults of a running service: the source lost and back without a restart (a file removed, an
RTSP server gone and restarted), a real MQTT broker
down at start, stopped and restarted mid-run (detection never stops), SIGTERM within 3 s
publishing `offline`, and the sd_notify messages systemd gets (READY, WATCHDOG, STOPPING)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time

from service_support import MqttListener, Mosquitto, free_port, http_get, wait_for

STOP_REQUIREMENT_S = 3.0


def test_a_removed_file_is_source_lost_then_resumes_when_restored(start_service, bus_clip, tmp_path):
    clip = tmp_path / "clip.avi"
    shutil.copy(bus_clip, clip)
    service = start_service("--source", clip, "--realtime", "--http", "0")
    wait_for(lambda: service.status()["state"] == "running", 60, "running")
    clip.unlink()  # the open file plays to its end; reopening it fails
    lost = wait_for(lambda: (lambda s: s if s["state"] == "source-lost" and "no such file" in s["message"] else None)(
        service.status()), 30, "source-lost")
    assert lost["source_losses"] >= 1
    wait_for(lambda: http_get(service.url + "/healthz")[0] == 503, 15, "/healthz 503")
    assert b"source-lost" in http_get(service.url + "/healthz")[2]
    frames_while_lost = service.status()["frames"]
    shutil.copy(bus_clip, clip)
    wait_for(lambda: service.status()["frames"] > frames_while_lost + 2, 60, "frames after the file is back")
    assert http_get(service.url + "/healthz")[0] == 200
    assert service.process.poll() is None  # the same process throughout
    code, _seconds = service.stop()
    assert code == 0
    assert "retrying the source" in service.stderr


def test_mqtt_broker_down_stopped_and_restarted_never_stops_detection(start_service, tmp_path):
    broker = Mosquitto(tmp_path, free_port())
    url = f"mqtt://127.0.0.1:{broker.port}/cam1"
    service = start_service("--source", "testsrc", "--http", "0", "--mqtt", url)
    try:
        # Down at start: detection runs, results count as unsent.
        wait_for(lambda: service.status()["mqtt"]["unsent"] > 0, 60, "unsent results while the broker is down")
        assert service.status()["state"] == "running"
        broker.start()
        listener = MqttListener(broker.port, "cam1/#")
        wait_for(lambda: len(listener.payloads("cam1/detections")) >= 3, 40, "detections over MQTT")
        assert "running" in listener.payloads("cam1/status")
        result = json.loads(listener.payloads("cam1/detections")[-1])
        assert result["source"] == "testsrc" and "detections" in result and "timing_ms" in result

        broker.stop()
        frames = service.status()["frames"]
        wait_for(lambda: not service.status()["mqtt"]["connected"], 15, "the service to notice the broker is gone")
        unsent = service.status()["mqtt"]["unsent"]
        wait_for(lambda: service.status()["frames"] > frames + 3 and service.status()["mqtt"]["unsent"] > unsent,
                 30, "detection going on, counted unsent, while the broker is down")

        received = len(listener.payloads("cam1/detections"))
        broker.start()  # same port: paho's backoff reconnects both clients
        wait_for(lambda: len(listener.payloads("cam1/detections")) > received + 3, 60, "detections after the restart")
        status = wait_for(lambda: (lambda s: s if s["mqtt"]["connected"] else None)(service.status()), 10, "reconnected")
        assert status["state"] == "running" and status["mqtt"]["published"] > 0

        code, seconds = service.stop(signal.SIGTERM)
        assert code == 0 and seconds <= STOP_REQUIREMENT_S, (code, seconds, service.stderr)
        wait_for(lambda: listener.payloads("cam1/status")[-1:] == ["offline"], 5, "offline on cam1/status")
        # Retained: a client that connects later sees `offline` at once.
        late = MqttListener(broker.port, "cam1/status")
        wait_for(lambda: late.messages[-1:] and late.messages[-1][1:] == ("offline", True), 10, "retained offline")
        late.close()
        listener.close()
    finally:
        broker.stop()


def test_sigterm_stops_within_3_s_with_ready_watchdog_and_stopping_sent_to_systemd(start_service, tmp_path):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = tmp_path / "notify"
    notify.bind(str(notify_path))
    notify.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="1500000")
    service = start_service("--source", "testsrc", "--http", "0", env=env)
    messages = []

    def drain():
        try:
            while True:
                messages.append(notify.recv(4096).decode())
        except socket.timeout:
            pass
        return messages

    wait_for(lambda: any(m.startswith("READY=1") for m in drain()), 30, "READY=1")
    wait_for(lambda: sum(m == "WATCHDOG=1" for m in drain()) >= 3, 10, "watchdog pings")
    wait_for(lambda: service.status()["frames"] >= 2, 60, "frames")
    code, seconds = service.stop(signal.SIGTERM)
    drain()
    notify.close()
    assert code == 0 and seconds <= STOP_REQUIREMENT_S, (seconds, service.stderr)
    assert "STOPPING=1" in messages
    assert messages.index("STOPPING=1") > max(i for i, m in enumerate(messages) if m.startswith("READY=1"))
    print(f"SIGTERM to exit: {seconds:.2f} s")


def test_sigterm_with_a_hung_broker_stops_within_3_s(start_service, mosquitto, tmp_path):
    """A broker that hangs (SIGSTOP: the connection stays up, nothing is acknowledged) while the
    service stops with objects, snapshots and detections queued for it: `offline` waits for it
    at most mqtt.OFFLINE_TIMEOUT_S, and the stop stays within the budget."""
    service = start_service("--source", "testsrc", "--http", "0", "--mqtt", f"mqtt://127.0.0.1:{mosquitto.port}/cam1",
                            "--snapshots", tmp_path / "snaps")
    wait_for(lambda: service.status()["mqtt"]["published"] >= 5, 60, "results over MQTT")
    os.kill(mosquitto.process.pid, signal.SIGSTOP)
    try:
        time.sleep(0.3)  # results keep going to the hung broker's socket
        code, seconds = service.stop(signal.SIGTERM)
    finally:
        os.kill(mosquitto.process.pid, signal.SIGCONT)
    assert code == 0 and seconds <= STOP_REQUIREMENT_S, (seconds, service.stderr)
    print(f"SIGTERM to exit with a hung broker: {seconds:.2f} s")


def make_certificates(folder) -> tuple:
    """A CA and a broker certificate for 127.0.0.1 signed by it (openssl)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "broker.key",
            "-out", "broker.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "broker.pem")
    return folder / "ca.pem", folder / "broker.pem", folder / "broker.key"


def test_mqtts_publishes_over_tls_to_a_broker_the_system_trusts(start_service, tmp_path):
    ca, certificate, key = make_certificates(tmp_path)
    broker = Mosquitto(tmp_path, free_port())
    plain_port = free_port()  # the test's own listener: plain, on another port
    broker.write_config(
        f"listener {broker.port} 127.0.0.1\ncafile {ca}\ncertfile {certificate}\nkeyfile {key}\n"
        f"listener {plain_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker.start()
    listener = MqttListener(plain_port, "tls/#")
    # The system's CA store, as the board's would hold the broker's CA: Python's ssl reads SSL_CERT_FILE.
    service = start_service("--source", "testsrc", "--http", "0", "--mqtt", f"mqtts://127.0.0.1:{broker.port}/tls",
                            env=dict(os.environ, SSL_CERT_FILE=str(ca)))
    try:
        wait_for(lambda: len(listener.payloads("tls/detections")) >= 2, 60, "detections over TLS")
        assert service.status()["mqtt"]["connected"]
        code, _seconds = service.stop()
        assert code == 0
        wait_for(lambda: listener.payloads("tls/status")[-1:] == ["offline"], 5, "offline over TLS")
    finally:
        listener.close()
        broker.stop()


def test_mqtts_refuses_a_broker_whose_certificate_is_not_trusted(start_service, tmp_path):
    ca, certificate, key = make_certificates(tmp_path)
    broker = Mosquitto(tmp_path, free_port())
    broker.write_config(f"listener {broker.port} 127.0.0.1\ncafile {ca}\ncertfile {certificate}\n"
                             f"keyfile {key}\nallow_anonymous true\n")
    broker.start()
    try:
        service = start_service("--source", "testsrc", "--http", "0", "--mqtt", f"mqtts://127.0.0.1:{broker.port}/tls")
        wait_for(lambda: service.status()["mqtt"]["unsent"] >= 3, 60, "results counted unsent")
        assert not service.status()["mqtt"]["connected"] and service.status()["state"] == "running"
        code, seconds = service.stop()
        assert code == 0 and seconds <= STOP_REQUIREMENT_S
    finally:
        broker.stop()


def test_an_rtsp_server_that_goes_away_and_comes_back(start_service):
    import gi

    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GstRtspServer

    from live.live_media import RTSPServer
    from ssdlite_detect.live import gst as gst_loader

    gst = gst_loader.load()
    port = free_port()
    servers = [RTSPServer(gst, port=port)]
    service = start_service("--source", servers[0].url, "--http", "0", "--connect-timeout", "2")
    try:
        wait_for(lambda: service.status()["state"] == "running", 60, "running on the RTSP stream")
        # The server goes away: its clients are dropped (the media stops) and it stops listening.
        servers[0].server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
        servers.pop().stop()
        lost = wait_for(lambda: (lambda s: s if s["state"] == "source-lost" else None)(service.status()), 30,
                        "source-lost")
        assert "rtsp://127.0.0.1" in lost["source"]
        frames = lost["frames"]
        servers.append(RTSPServer(gst, port=port))  # back on the same address
        wait_for(lambda: service.status()["state"] == "running" and service.status()["frames"] > frames + 2, 60,
                 "frames again from the restarted server")
        assert service.process.poll() is None and service.status()["source_losses"] >= 1
        code, seconds = service.stop()
        assert code == 0 and seconds <= STOP_REQUIREMENT_S
        assert "retrying the source" in service.stderr
    finally:
        for server in servers:
            server.stop()
