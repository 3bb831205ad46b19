"""The service: the detector on a live source for as long as the product runs, serving what it
sees over HTTP (API and live view) and MQTT.

    from ssdlite_detect import Detector
    from ssdlite_detect.live.pipeline import SourceOptions, parse_source
    from ssdlite_detect.service.server import ServiceOptions, run_service

    options = ServiceOptions(SourceOptions(parse_source("camera")), http=("127.0.0.1", 8080))
    exit_status = run_service(options, Detector.open())     # until SIGTERM / SIGINT

The main thread runs asyncio: the aiohttp server, the signal handlers, the systemd watchdog. The
pipeline lives in its own threads, started by the application's on_startup and stopped by its
on_cleanup: the runner (source -> DetectionStream -> hub, the source retried when lost), the JPEG
encoder of the live view, the snapshots, the MQTT outputs. SIGTERM or SIGINT stops everything within
STOP_BUDGET_S: every tracked object ends, its `end` event and last snapshot go out, then `offline`,
the last MQTT message.
"""
from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ..analytics.snapshot_dir import SnapshotDirectory
from ..analytics.snapshots import SnapshotPolicy
from ..analytics.stage import objects_stage
from ..analytics.zones import Regions
from ..errors import DetectError
from ..formatting import format_service_summary
from ..live.hub import STATE_RUNNING, STATE_STARTING, ResultHub
from ..live.pipeline import SourceOptions
from ..live.runner import StreamRunner
from ..live.snapshotter import SnapshotOutput
from .annotated import AnnotatedFrameEncoder
from .auth import required_token
from .connections import ACCEPT_BATCH, LISTEN_BACKLOG, ConnectionGuard, install_one_line_logging, listening_socket
from .http import build_app
from .mqtt import MqttPublisher, MqttTarget
from .mqtt_objects import MqttObjectPublisher
from .mqtt_snapshots import MqttSnapshotPublisher
from .notify import Notifier

STOP_BUDGET_S = 3.0     # SIGTERM to exit, the requirement; systemd's TimeoutStopSec is above it
# How the stop spends that budget, counted from the signal. The runner stops at once and ends
# every object (their `end` events; the snapshots output encodes and publishes their last
# snapshots); the stop waits RUNNER_END_S for it, and until ENDS_S for the outputs to publish what
# they hold. Past that, what is left is dropped (a hung invoke keeps the runner, and its ends are
# lost). Then `offline`, the last message, and the exit: at least STOP_BUDGET_S - ENDS_S - EXIT_S.
RUNNER_END_S = 1.0
ENDS_S = 1.5
EXIT_S = 0.5            # the interpreter's exit after the pipeline stopped (threads, GStreamer)
TICK_S = 0.5            # how often the main loop checks the runner and pings the watchdog
# Until the first frame the runner's heart does not beat: the i.MX 8M Plus VX delegate compiles
# the graph in the first invoke (tens of seconds). The watchdog is fed meanwhile for as long as the
# unit's TimeoutStartSec (180 s) would have allowed a start.
STARTUP_GRACE_S = 180.0


class ServiceError(DetectError):
    """The service cannot start: the HTTP address is taken or not available here."""

    exit_code = 1


@dataclass(frozen=True)
class ServiceOptions:
    """What the service serves, where. http: (host, port) or None (MQTT only; port 0 picks a free
    one); http_token: the token HTTP clients must present (None: none, allowed on loopback or with
    http_unauthenticated); mqtt: the broker and topic prefix, or None. At least one of http, mqtt."""

    source: SourceOptions
    http: Optional[Tuple[str, int]] = None
    http_token: Optional[str] = None
    http_unauthenticated: bool = False
    mqtt: Optional[MqttTarget] = None
    regions: Optional[Regions] = None  # the objects' tracking, zones and lines (None: the defaults)
    regions_from: str = "zones"        # where they came from, for messages
    snapshots: Optional[SnapshotPolicy] = SnapshotPolicy()  # None: no snapshots (and no display branch for MQTT alone)
    snapshot_dir: Optional[SnapshotDirectory] = None  # --snapshots DIR, checked when made

    def __post_init__(self):
        if self.http is None and self.mqtt is None:
            raise ValueError("the service needs http, mqtt or both")
        if self.http is not None:
            required_token(self.http[0], self.http_token, self.http_unauthenticated)  # AuthConfigError


def run_service(options: ServiceOptions, detector, on_note: Callable[[str], None] = lambda _message: None,
                on_error: Callable[[str], None] = lambda _message: None) -> int:
    """Runs until SIGTERM/SIGINT, the source options' frames or duration, or an error retrying
    cannot fix; returns the exit status (errors reported through on_error)."""
    serves_http = options.http is not None
    try:
        stage, detector = objects_stage(options.regions or Regions(), detector, options.regions_from)
    except DetectError as failure:  # a zone's label the model lacks
        on_error(str(failure))
        return failure.exit_code
    # Snapshots need the full-size frames too: with MQTT alone, the display branch runs for them.
    runner = StreamRunner.on_source(detector, options.source, display=serves_http or options.snapshots is not None,
                                    retry=True, on_note=on_note, stage=stage)
    mqtt = MqttPublisher(runner.hub, options.mqtt) if options.mqtt else None
    extras = []  # outputs with start() and stop(), stopped before the MQTT client they may use
    if mqtt is not None:
        extras.append(MqttObjectPublisher(runner.hub, stage, mqtt))
    snapshots = None
    if options.snapshots is not None:
        if options.snapshot_dir is not None:
            options.snapshot_dir.on_note = on_note
        snapshots = SnapshotOutput(runner.hub, options.snapshots, options.snapshot_dir)
        runner.streams.want_display(snapshots)  # every frame, for the service's whole life
        extras.append(snapshots)
        if mqtt is not None:
            extras.append(MqttSnapshotPublisher(runner.hub, mqtt))
    # The live view's full-size frames only while someone watches /stream.mjpeg.
    encoder = (AnnotatedFrameEncoder(runner.hub, stage.resolved_regions, runner.streams.want_display)
               if serves_http else None)
    try:
        return asyncio.run(_serve(options, runner, mqtt, encoder, Notifier(), on_note, on_error, extras,
                                  snapshots.store if snapshots is not None else None))
    except DetectError as failure:
        on_error(str(failure))
        return failure.exit_code


async def _serve(options: ServiceOptions, runner: StreamRunner, mqtt, encoder, notifier: Notifier,
                 note: Callable[[str], None], error: Callable[[str], None], extras=(), snapshots=None) -> int:
    from aiohttp import web

    hub = runner.hub
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def start_pipeline(_app) -> None:
        runner.start()
        if encoder is not None:
            encoder.start()
        if mqtt is not None:
            mqtt.start()
        for extra in extras:
            extra.start()

    stopping_at = []  # when the stop began (the signal, or the runner's end)

    def left(until: float) -> float:
        return max(0.0, stopping_at[0] + until - time.monotonic())

    async def stop_pipeline(_app) -> None:
        if not stopping_at:  # the start failed (the HTTP port)
            stopping_at.append(time.monotonic())
        runner.stop()
        # The runner ends every object as it stops and closes its topics after them: the outputs
        # publish those `end` events and snapshots (each drains what it holds) before `offline`.
        await loop.run_in_executor(None, runner.join, min(RUNNER_END_S, left(ENDS_S)))
        for extra in extras:  # in order: the snapshots output before the MQTT one it feeds
            await loop.run_in_executor(None, extra.stop, left(ENDS_S))
        if mqtt is not None:  # `offline`, the last message: it is what others see
            await loop.run_in_executor(None, mqtt.stop, left(STOP_BUDGET_S - EXIT_S))
        if encoder is not None:
            await loop.run_in_executor(None, encoder.stop, left(STOP_BUDGET_S - EXIT_S))
        await loop.run_in_executor(None, runner.join, left(STOP_BUDGET_S - EXIT_S))

    token = required_token(options.http[0], options.http_token, options.http_unauthenticated) if options.http else None
    app = build_app(hub, token=token, mqtt=mqtt, on_startup=[start_pipeline], on_cleanup=[stop_pipeline],
                    objects=runner.stage, snapshots=snapshots,
                    display_frames=lambda: runner.streams.display_wanted)
    # aiohttp's protocol objects come from server.server once set up; the guard asks for one per connection.
    guard = ConnectionGuard(loop, lambda: server.server())
    app.middlewares.insert(0, guard.middleware())
    app["connections"] = guard
    install_one_line_logging()
    server = web.AppRunner(app, handle_signals=False, access_log=None)
    await server.setup()
    listener = None
    try:
        if options.http is not None:
            host, port = options.http
            try:
                sock = listening_socket(host, port)
                listener = await loop.create_server(guard.factory, sock=sock, backlog=ACCEPT_BATCH)
                sock.listen(LISTEN_BACKLOG)  # create_server set the kernel's queue to ACCEPT_BATCH
            except OSError as failure:
                reason = failure.strerror or str(failure)  # also a name that does not resolve (socket.gaierror)
                raise ServiceError(f"--http {host}:{port}: {reason}") from None
            bound_port = listener.sockets[0].getsockname()[1]
            note(f"serving http://{host}:{bound_port}/" + ("" if token is None else " (token required)"))
        notifier.ready(f"detecting on {hub.source_name}")
        await _watch(hub, runner, notifier, stop)
        stopping_at.append(time.monotonic())
        runner.stop()  # the objects end (and their events go out) while HTTP closes
        notifier.stopping()
    finally:
        if listener is not None:  # what aiohttp's TCPSite.stop does: no new connections, then the open ones
            listener.close()
            await server.shutdown()
            await server.server.shutdown(0.5)
        await server.cleanup()
    note(format_service_summary(hub.status()))
    if runner.error is not None:
        error(str(runner.error))
        return runner.error.exit_code
    return 0


async def _watch(hub: ResultHub, runner: StreamRunner, notifier: Notifier, stop: asyncio.Event) -> None:
    """Until a signal or the runner's end (an error, or --frames / --duration reached): pings the
    watchdog while the runner's heart beats (a hung invoke or driver gets the service restarted),
    and reports state changes as the unit's STATUS."""
    started = time.monotonic()
    interval = TICK_S if notifier.watchdog_interval is None else min(TICK_S, notifier.watchdog_interval / 3)
    last_status = None
    while not stop.is_set() and not runner.finished:
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass
        now = time.monotonic()
        beating = now - runner.heartbeat < (notifier.watchdog_interval or 0)
        warming_up = hub.state == STATE_STARTING and now - started < STARTUP_GRACE_S
        if notifier.watchdog_interval is not None and (beating or warming_up):
            notifier.watchdog()
        status = hub.state if hub.state == STATE_RUNNING else f"{hub.state}: {hub.message}"
        if status != last_status:
            notifier.status(status)
            last_status = status
