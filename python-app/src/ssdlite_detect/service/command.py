"""`ssdlite-detect --source SOURCE --http [HOST:]PORT [--mqtt URL]`: the service mode.

The main thread runs asyncio: the aiohttp server, the signal handlers, the systemd watchdog. The
pipeline lives in its own threads, started by the application's on_startup and stopped by its
on_cleanup: the supervisor (DetectionStream, retried when the source is lost), the JPEG encoder
of the live view, the MQTT output. SIGTERM or SIGINT stops everything within STOP_BUDGET_S,
publishing `offline` to MQTT first.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Callable

from ..errors import DetectError
from .annotated import AnnotatedFrameEncoder
from .auth import read_token_file, required_token
from .http import build_app
from .hub import STATE_RUNNING, STATE_STARTING, ResultHub
from .mqtt import MqttPublisher
from .supervisor import Notifier, SourceSupervisor

STOP_BUDGET_S = 3.0     # SIGTERM to exit, the requirement; systemd's TimeoutStopSec is above it
TICK_S = 0.5            # how often the main loop checks the supervisor and pings the watchdog
# Until the first frame the supervisor's heart does not beat: the i.MX 8M Plus VX delegate compiles
# the graph in the first invoke (tens of seconds). The watchdog is fed meanwhile for as long as the
# unit's TimeoutStartSec (180 s) would have allowed a start.
STARTUP_GRACE_S = 180.0


class ServiceError(DetectError):
    """The service cannot start: the HTTP address is taken or not available here."""

    exit_code = 1


def run_service(args, detector, spec, note: Callable[[str], None], error: Callable[[str], None]) -> int:
    """Runs until SIGTERM/SIGINT, --frames or --duration, or an error retrying cannot fix."""
    from ..live.pipeline import KIND_FILE
    from ..live.source import VideoSource
    from ..live.stream import DetectionStream

    host, port = args.http if args.http else (None, None)
    token = read_token_file(args.http_token_file) if args.http_token_file else None
    if host is not None:
        token = required_token(host, token, args.http_unauthenticated)
    first_source = VideoSource(spec, detector.input_size, platform=detector.platform, display=host is not None,
                               connect_timeout=args.connect_timeout, stall_timeout=args.connect_timeout,
                               on_note=note)
    sources = [first_source]

    def open_stream() -> DetectionStream:
        # A stream is not restartable: every attempt gets a new source on the same video chain.
        source = sources.pop() if sources else VideoSource(
            spec, detector.input_size, chain=first_source.chain, display=host is not None,
            connect_timeout=args.connect_timeout, stall_timeout=args.connect_timeout)
        return DetectionStream(detector, source)

    hub = ResultHub(first_source.name, detector.backend, os.path.basename(detector.model_path))
    supervisor = SourceSupervisor(hub, open_stream, max_frames=args.frames, on_note=note,
                                  replay_on_end=spec.kind == KIND_FILE)
    mqtt = MqttPublisher(hub, args.mqtt_target) if args.mqtt_target else None
    encoder = AnnotatedFrameEncoder(hub) if host is not None else None
    notifier = Notifier()
    try:
        return asyncio.run(_serve(args, hub, supervisor, mqtt, encoder, notifier, host, port, token, note, error))
    except DetectError as failure:
        error(str(failure))
        return failure.exit_code


async def _serve(args, hub, supervisor, mqtt, encoder, notifier, host, port, token, note, error) -> int:
    from aiohttp import web

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def start_pipeline(_app) -> None:
        supervisor.start()
        if encoder is not None:
            encoder.start()
        if mqtt is not None:
            mqtt.start()

    async def stop_pipeline(_app) -> None:
        supervisor.stop()
        if mqtt is not None:
            await loop.run_in_executor(None, mqtt.stop)  # `offline` first: it is what others see
        if encoder is not None:
            await loop.run_in_executor(None, encoder.stop)
        await loop.run_in_executor(None, supervisor.join, 2.0)

    app = build_app(hub, token=token, mqtt=mqtt, on_startup=[start_pipeline], on_cleanup=[stop_pipeline])
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        if host is not None:
            site = web.TCPSite(runner, host, port, shutdown_timeout=0.5)
            try:
                await site.start()
            except OSError as failure:
                reason = os.strerror(failure.errno) if failure.errno else str(failure)  # asyncio's text repeats the address
                raise ServiceError(f"--http {host}:{port}: {reason}") from None
            bound_port = runner.addresses[0][1]
            note(f"serving http://{host}:{bound_port}/" + ("" if token is None else " (token required)"))
        notifier.ready(f"detecting on {hub.source_name}")
        await _watch(args, hub, supervisor, notifier, stop)
        notifier.stopping()
    finally:
        await runner.cleanup()
    summary = hub.status()
    note(f"{hub.source_name}: {summary['frames']} frame(s) processed, {summary['dropped']} dropped, "
         f"{summary['source_losses']} source loss(es), up {summary['uptime_s']:.0f} s")
    if supervisor.error is not None:
        error(str(supervisor.error))
        return supervisor.error.exit_code
    return 0


async def _watch(args, hub: ResultHub, supervisor: SourceSupervisor, notifier: Notifier, stop: asyncio.Event) -> None:
    """Until a signal, --duration, or the supervisor's end: pings the watchdog while the
    supervisor's heart beats (a hung invoke or driver gets the service restarted), and reports
    state changes as the unit's STATUS."""
    started = time.monotonic()
    interval = TICK_S if notifier.watchdog_interval is None else min(TICK_S, notifier.watchdog_interval / 3)
    last_status = None
    while not stop.is_set() and not supervisor.finished:
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass
        now = time.monotonic()
        beating = now - supervisor.heartbeat < (notifier.watchdog_interval or 0)
        warming_up = hub.state == STATE_STARTING and now - started < STARTUP_GRACE_S
        if notifier.watchdog_interval is not None and (beating or warming_up):
            notifier.watchdog()
        status = hub.state if hub.state == STATE_RUNNING else f"{hub.state}: {hub.message}"
        if status != last_status:
            notifier.status(status)
            last_status = status
        if args.duration is not None and now - started >= args.duration:
            break
