"""The HTTP API and the live view page: one aiohttp web.Application.

Handlers only read the hub's shared state or subscribe to it; the pipeline runs elsewhere (the
runner's thread), started and stopped by `on_startup`/`on_cleanup`. Every streaming client
(`/stream.mjpeg`, `/api/v1/events`) has its own small dropping queue, and a write that does not
complete within WRITE_TIMEOUT_S ends that client's connection: a stalled client costs one queue
and one connection, never a frame of detection.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from importlib import resources
from typing import Callable, Optional

from aiohttp import web

from ..live.hub import MAX_AGE_S, ResultHub
from .auth import COOKIE, OPEN_PATHS, presented_token, token_matches
from .metrics import CONTENT_TYPE, render_metrics
from .subscription import AsyncSubscription

WRITE_TIMEOUT_S = 10.0
EVENT_QUEUE = 32          # results an SSE client may lag behind before its oldest are dropped
MJPEG_BOUNDARY = "ssdliteframe"
HEALTH_GRACE_S = 5.0      # /healthz turns 503 after this long without frames
# The kernel's send buffer of a streaming connection. Linux grows it up to 4 MB on its own: seconds
# of video queued for a slow client, all stale by the time they arrive. A few frames' worth keeps
# what a slow client sees recent; the rest drops in its queue here.
STREAM_SEND_BUFFER = 128 * 1024


def _page(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


@web.middleware
async def _require_token(request: web.Request, handler):
    token = request.app["token"]
    if token is None or request.path in OPEN_PATHS:
        return await handler(request)
    if token_matches(token, presented_token(request.headers, request.cookies)):
        return await handler(request)
    if request.path == "/" and request.method == "GET":
        raise web.HTTPSeeOther("login")
    raise web.HTTPUnauthorized(text="a token is needed: Authorization: Bearer TOKEN, or log in at /login\n",
                               headers={"WWW-Authenticate": 'Bearer realm="ssdlite-detect"'})


async def index(_request: web.Request) -> web.Response:
    return web.Response(body=_page("index.html"), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def login_form(request: web.Request) -> web.Response:
    return web.Response(body=_page("login.html"), content_type="text/html", charset="utf-8")


async def login(request: web.Request) -> web.Response:
    token = request.app["token"]
    form = await request.post()
    presented = str(form.get("token", ""))
    if token is not None and not token_matches(token, presented):
        raise web.HTTPSeeOther("login?failed=1")
    response = web.HTTPSeeOther("./")
    if token is not None:
        response.set_cookie(COOKIE, presented, httponly=True, samesite="Strict", path="/")
    raise response


async def detections(request: web.Request) -> web.Response:
    latest = request.app["hub"].results.latest
    if latest is None:
        return web.json_response({"error": "no frame processed yet"}, status=404)
    result, _frame = latest.payload
    return web.json_response(result.to_dict())


async def status(request: web.Request) -> web.Response:
    hub: ResultHub = request.app["hub"]
    body = hub.status()
    body["http_streaming_clients"] = request.app["streaming_clients"]
    if request.app["display_frames"] is not None:
        body["display_frames"] = request.app["display_frames"]()
    guard = request.app.get("connections")
    if guard is not None:
        body["http_connections"] = {"open": guard.open, "cap": guard.cap, "timed_out": guard.timed_out,
                                    "evicted": guard.evicted, "refused": guard.refused}
    if request.app["snapshots"] is not None:
        body["snapshots"] = request.app["snapshots"].describe()
    mqtt = request.app["mqtt"]
    if mqtt is not None:
        body["mqtt"] = {"connected": mqtt.connected, "published": mqtt.published, "unsent": mqtt.unsent}
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    text = render_metrics(request.app["hub"], request.app["mqtt"], request.app["streaming_clients"])
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    hub: ResultHub = request.app["hub"]
    if hub.healthy(request.app["health_grace"]):
        return web.Response(text=f"ok {hub.state}\n")
    # Open to anyone: the state only, never the message (it names the source: user, host, path).
    return web.Response(status=503, text=f"unhealthy {hub.state}\n")


async def _stream(request: web.Request, topic_name: str, queue_size: int, content_type: str,
                  prologue: Optional[bytes], chunk: Callable[[object], Optional[bytes]]) -> web.StreamResponse:
    """Subscribes to a hub topic and writes `chunk(item)` for each item until the client goes,
    a write stalls, or the service stops. HEAD: the headers only."""
    headers = {"Content-Type": content_type, "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    app = request.app
    topic = getattr(app["hub"], topic_name)
    subscription = topic.subscribe(AsyncSubscription(asyncio.get_running_loop(), queue_size, MAX_AGE_S))
    app["subscriptions"].add(subscription)
    response = web.StreamResponse(headers=headers)
    app["streaming_clients"] += 1
    try:
        await response.prepare(request)
        connection = request.transport.get_extra_info("socket") if request.transport is not None else None
        if connection is not None:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
        if prologue:
            await asyncio.wait_for(response.write(prologue), WRITE_TIMEOUT_S)
        while True:
            item = await subscription.get()
            if item is None:
                break
            data = chunk(item)
            if data is not None:
                await asyncio.wait_for(response.write(data), WRITE_TIMEOUT_S)
    except (ConnectionResetError, asyncio.TimeoutError):
        pass  # the client went away or stopped reading: its connection ends here
    finally:
        app["streaming_clients"] -= 1
        app["subscriptions"].discard(subscription)
        topic.unsubscribe(subscription)
    return response


def _sse_event(item) -> bytes:
    result, _frame = item
    return f"id: {result.frame}\nevent: result\ndata: {json.dumps(result.to_dict())}\n\n".encode()


def _sse_object_event(item) -> bytes:
    event, _frame = item
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


async def tracked_objects(request: web.Request) -> web.Response:
    stage = request.app["objects"]
    return web.json_response({"objects": stage.objects() if stage is not None else []})


async def object_counts(request: web.Request) -> web.Response:
    stage = request.app["objects"]
    return web.json_response(stage.counts() if stage is not None else {"zones": {}, "lines": {}})


SNAPSHOT_NAME = re.compile(r"^(\d{1,12})\.jpg$")


async def snapshot(request: web.Request) -> web.Response:
    """GET /api/v1/snapshots/<track_id>.jpg: the object's best snapshot so far (it may improve:
    no-cache); 400 for a name that is not a track id, 404 for an object without one (unknown, or
    no longer among the last N kept)."""
    match = SNAPSHOT_NAME.match(request.match_info["name"])
    if match is None:
        return web.json_response({"error": "expected /api/v1/snapshots/<track_id>.jpg, e.g. 12.jpg"}, status=400)
    store = request.app["snapshots"]
    found = store.get(int(match.group(1))) if store is not None else None
    if found is None:
        return web.json_response({"error": f"no snapshot of object {int(match.group(1))}"}, status=404)
    return web.Response(body=found.jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-cache"})


async def snapshot_list(request: web.Request) -> web.Response:
    """GET /api/v1/snapshots: the kept snapshots (newest last), without their bytes."""
    store = request.app["snapshots"]
    return web.json_response({"snapshots": [s.to_dict() for s in store.snapshots()] if store is not None else []})


async def object_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, "events", EVENT_QUEUE, "text/event-stream", b"retry: 1000\n\n", _sse_object_event)


def _mjpeg_part(jpeg: bytes) -> bytes:
    return (f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            + jpeg + b"\r\n")


async def events(request: web.Request) -> web.StreamResponse:
    # The "retry" field: a browser reconnects after 1 s when the service restarts.
    return await _stream(request, "results", EVENT_QUEUE, "text/event-stream", b"retry: 1000\n\n", _sse_event)


async def stream_mjpeg(request: web.Request) -> web.StreamResponse:
    return await _stream(request, "jpegs", 1, f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
                         None, _mjpeg_part)


async def _close_streams(app: web.Application) -> None:
    # on_shutdown: streaming handlers return at once instead of holding the shutdown.
    for subscription in list(app["subscriptions"]):
        subscription.close()


def build_app(hub: ResultHub, token: Optional[str] = None, mqtt=None, health_grace: float = HEALTH_GRACE_S,
              on_startup=(), on_cleanup=(), objects=None, snapshots=None,
              display_frames: Optional[Callable[[], bool]] = None) -> web.Application:
    """The application. on_startup/on_cleanup: coroutines (app) -> None that start and stop the
    pipeline and the other outputs with the server; objects: the runner's ObjectStage (the
    tracked objects and counts), or None; snapshots: the SnapshotStore, or None; display_frames():
    whether the source delivers full-size frames now (the status's `display_frames`), or None."""
    app = web.Application(middlewares=[_require_token])
    app["hub"] = hub
    app["token"] = token
    app["mqtt"] = mqtt
    app["objects"] = objects
    app["snapshots"] = snapshots
    app["display_frames"] = display_frames
    app["health_grace"] = health_grace
    app["streaming_clients"] = 0
    app["subscriptions"] = set()
    app["started"] = time.monotonic()
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_get("/stream.mjpeg", stream_mjpeg)
    app.router.add_get("/api/v1/detections", detections)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/objects", tracked_objects)
    app.router.add_get("/api/v1/objects/events", object_events)
    app.router.add_get("/api/v1/counts", object_counts)
    app.router.add_get("/api/v1/snapshots", snapshot_list)
    app.router.add_get("/api/v1/snapshots/{name}", snapshot)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.on_startup.extend(on_startup)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.extend(on_cleanup)
    return app
