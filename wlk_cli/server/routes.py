"""The Starlette application of `wlk serve`: the page, ``/asr`` (WhisperLiveKit's protocol),
``/v1/stream`` (ours), the OpenAI endpoints, ``/health`` and ``/metrics``.

Every refusal is a status code or a close code with a JSON reason: a WebSocket is accepted, told why in
the protocol's error message, then closed (1008 policy: token, origin, settings; 1013 try again later:
the server is full or loading; 1003: a text frame where audio was due; 1007: bytes that are not audio;
1009: a frame over the limit; 1011: the session failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import IO, Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.network import AudioFormat, NetworkFeed
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.errors import InputError, UsageError, WlkError
from wlk_cli.server import openai_api
from wlk_cli.server.hub import EventSink, Hub, StreamRun
from wlk_cli.server.protocols import WLK_UPDATE_S, LineWriter, WlkState, error_text, status_line, wlk_config
from wlk_cli.server.security import Access

log = logging.getLogger("wlk.server")
WEB = Path(__file__).parent / "web"
RING_S = 120

CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_INVALID, CLOSE_POLICY = 1000, 1003, 1007, 1008
CLOSE_TOO_BIG, CLOSE_ERROR, CLOSE_TRY_LATER = 1009, 1011, 1013
STREAM_SETTINGS_KEYS = ("format", "rate", "channels", "status", "type")


class Refused(Exception):
    """A connection refused before its stream started: the close code and the reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def close_code(error: BaseException) -> int:
    if isinstance(error, InputError):
        return CLOSE_INVALID
    if isinstance(error, UsageError):
        return CLOSE_POLICY
    return CLOSE_ERROR


def build_app(hub: Hub, access: Access) -> Starlette:
    def protected(request: Request) -> Response | None:
        why = access.token_error(request.headers, request.query_params)
        if why is None:
            return None
        hub.refused("token")
        return JSONResponse({"error": why}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def index(request: Request) -> Response:
        return FileResponse(WEB / "index.html")

    async def health(request: Request) -> Response:
        body = hub.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    async def metrics(request: Request) -> Response:
        return protected(request) or PlainTextResponse(hub.prometheus(), media_type="text/plain; version=0.0.4")

    async def models(request: Request) -> Response:
        return protected(request) or openai_api.models(hub)

    async def transcriptions(request: Request) -> Response:
        refusal = protected(request)
        if refusal is not None:
            return openai_api.openai_error(401, json.loads(bytes(refusal.body))["error"])
        return await openai_api.transcriptions(request, hub)

    async def files(request: Request) -> Response:
        return protected(request) or await render_file(request, hub)

    async def asr(ws: WebSocket) -> None:
        await _serve_stream(ws, hub, access, native=False)

    async def stream(ws: WebSocket) -> None:
        await _serve_stream(ws, hub, access, native=True)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no such route: {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    routes = [
        Route("/", index),
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/v1/models", models),
        Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
        Route("/v1/files/{fmt}", files, methods=["POST"]),
        WebSocketRoute("/asr", asr),
        WebSocketRoute("/v1/stream", stream),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


FILE_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "txt": "text/plain", "json": "application/json"}


async def render_file(request: Request, hub: Hub) -> Response:
    """``POST /v1/files/{srt,vtt,txt,json}`` with ``{"words": [...]}`` (the confirmed words of a stream's
    transcript lines, speakers applied): the file `wlk file` would write, for the page's downloads."""
    from wlk_cli.events import Word
    from wlk_cli.sinks.files import render_json, render_srt, render_txt, render_vtt

    fmt = request.path_params["fmt"]
    if fmt not in FILE_TYPES:
        return JSONResponse({"error": f"format {fmt!r} is not one of {', '.join(FILE_TYPES)}"}, status_code=400)
    body = await request.body()
    if len(body) > hub.limits.max_upload_bytes:
        return JSONResponse({"error": "the body is too large"}, status_code=413)
    try:
        doc = json.loads(body)
        words = [
            Word(float(w["start"]), float(w["end"]), str(w["text"]), float(w.get("prob", 1.0)), w.get("speaker"), i)
            for i, w in enumerate(doc["words"])
        ]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": 'the body must be {"words": [{"start", "end", "text", ...}, ...]}'}, 400)
    if fmt == "srt":
        text = render_srt(words)
    elif fmt == "vtt":
        text = render_vtt(words)
    elif fmt == "txt":
        text = render_txt(words)
    else:
        meta = {"language": doc.get("language"), "model": hub.settings.model, "duration": words[-1].end if words else 0}
        text = render_json(words, meta)
    return Response(text, media_type=FILE_TYPES[fmt] + "; charset=utf-8")


# -- streams ---------------------------------------------------------------------------------------
async def _serve_stream(ws: WebSocket, hub: Hub, access: Access, native: bool) -> None:
    kind = "stream" if native else "asr"
    await ws.accept()
    slot: int | None = None
    try:
        why = access.token_error(ws.headers, ws.query_params)
        if why is not None:
            hub.refused("token")
            raise Refused(CLOSE_POLICY, why)
        why = access.origin_error(ws.headers)
        if why is not None:
            hub.refused("origin")
            raise Refused(CLOSE_POLICY, why)
        if not hub.ready:
            hub.refused("loading")
            raise Refused(CLOSE_TRY_LATER, "the server is still loading its models; try again in a moment")
        slot = hub.take_slot(kind)
        if slot is None:
            raise Refused(
                CLOSE_TRY_LATER,
                f"the server is full: {hub.limits.max_sessions} sessions are running (--max-sessions); try again later",
            )
        first: bytes | None = None
        want_status = False
        if native:
            settings, fmt, want_status, first = await _native_start(ws, hub)
        else:
            language = ws.query_params.get("language")
            settings = hub.stream_settings({"language": language} if language else {}, where="query")
            fmt = AudioFormat("s16le") if hub.pcm_input else AudioFormat("container")
    except (Refused, WlkError, WebSocketDisconnect) as e:
        if slot is not None:
            hub.give_back(slot)
        if isinstance(e, Refused):
            await _refuse(ws, native, e.code, e.reason)
        elif isinstance(e, WlkError):
            hub.refused("settings")
            await _refuse(ws, native, CLOSE_POLICY, str(e))
        return

    loop = asyncio.get_running_loop()
    feed = NetworkFeed(fmt, RingBuffer(SAMPLE_RATE * RING_S), name="the audio stream")
    try:
        run = StreamRun(hub, settings, feed, kind, loop)
    except WlkError as e:  # a setting only the session can check (an unknown voice profile in --speakers)
        hub.give_back(slot)
        hub.refused("settings")
        await _refuse(ws, native, CLOSE_POLICY, str(e))
        return
    sinks: list[Any] = [EventSink(run.put)]
    if native:
        from wlk_cli.sinks.jsonl import JsonlSink

        sinks.insert(0, JsonlSink(cast(IO[str], LineWriter(lambda line: run.put(("line", line))))))
    if not native:
        await ws.send_text(json.dumps(wlk_config(hub.pcm_input)))
    hub.start(slot, run, sinks)
    if first:
        feed.receive(first)
    receiver = asyncio.create_task(_receive(ws, run, hub, native))
    try:
        if native:
            outcome = await _send_native(ws, run, hub, receiver, want_status)
        else:
            outcome = await _send_wlk(ws, run, hub, receiver)
    finally:
        if not receiver.done():
            receiver.cancel()
        with contextlib.suppress(BaseException):
            await receiver
    code, reason = outcome
    await _close(ws, code, reason)


async def _refuse(ws: WebSocket, native: bool, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_text(error_text(reason, native, code))
    await _close(ws, code, reason)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.DISCONNECTED or ws.client_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await ws.close(code, _short(reason))


def _short(reason: str) -> str:
    """A close reason fits in 123 bytes."""
    data = reason.encode()
    return reason if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


async def _native_start(ws: WebSocket, hub: Hub) -> tuple[Any, AudioFormat, bool, bytes | None]:
    """The optional first ``{"type": "start", ...}`` frame of ``/v1/stream``: per-stream settings and the
    audio format. A binary first frame is audio, with the server's settings."""
    try:
        msg = await asyncio.wait_for(ws.receive(), hub.limits.idle_s)
    except asyncio.TimeoutError:
        raise Refused(CLOSE_POLICY, f"nothing sent for {hub.limits.idle_s:.0f} s: the stream is closed") from None
    if msg["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(msg.get("code", 1000))
    if msg.get("bytes") is not None:
        return hub.stream_settings({}), AudioFormat(), False, msg["bytes"]
    try:
        start = json.loads(msg.get("text") or "")
    except json.JSONDecodeError:
        raise UsageError("start: the first text frame must be a JSON object") from None
    if not isinstance(start, dict) or start.get("type") != "start":
        raise UsageError('start: the first text frame must be {"type": "start", ...}')
    try:
        fmt = AudioFormat(
            str(start.get("format", "container")), int(start.get("rate", SAMPLE_RATE)), int(start.get("channels", 1))
        ).check()
    except (TypeError, ValueError):
        raise UsageError("start: rate and channels must be integers") from None
    except InputError as e:
        raise UsageError(f"start: {e}") from None
    values = {k: v for k, v in start.items() if k not in STREAM_SETTINGS_KEYS}
    return hub.stream_settings(values), fmt, bool(start.get("status", False)), None


async def _receive(ws: WebSocket, run: StreamRun, hub: Hub, native: bool) -> tuple[int, str] | None:
    """Feed the client's frames to the stream until it ends it; returns how the connection must close
    when the client broke a rule (None when it ended the stream or went away)."""
    limits = hub.limits
    started = time.monotonic()
    ended = False
    while True:
        timeout = None if ended else min(limits.idle_s, max(0.0, started + limits.max_session_s - time.monotonic()))
        try:
            msg = await asyncio.wait_for(ws.receive(), timeout)
        except asyncio.TimeoutError:
            run.feed.end()
            if time.monotonic() - started >= limits.max_session_s:
                return CLOSE_POLICY, f"session length limit reached ({limits.max_session_s:.0f} s)"
            return CLOSE_POLICY, f"no audio for {limits.idle_s:.0f} s: the stream is closed"
        if msg["type"] == "websocket.disconnect":
            if not ended:
                code = msg.get("code", 1000)
                if code == CLOSE_TOO_BIG:
                    hub.refused("frame_size")
                run.stop()
            return None
        if ended:
            continue  # audio after the end is ignored
        data = msg.get("bytes")
        if data is not None:
            if len(data) > limits.max_frame_bytes:
                run.feed.end()
                return CLOSE_TOO_BIG, f"a frame of {len(data)} bytes is over the limit of {limits.max_frame_bytes}"
            if not data:
                run.feed.end()
                ended = True
            else:
                run.feed.receive(data)
            continue
        text = msg.get("text") or ""
        if native:
            try:
                command = json.loads(text)
            except json.JSONDecodeError:
                command = None
            if isinstance(command, dict) and command.get("type") == "stop":
                run.feed.end()
                ended = True
                continue
            run.feed.end()
            return CLOSE_UNSUPPORTED, 'text frames after the start must be {"type": "stop"}'
        run.feed.end()
        return CLOSE_UNSUPPORTED, "send audio as binary frames (an empty one ends the stream)"


class _Sender:
    """Sends to a client with a deadline: one that reads nothing for ``send_timeout_s`` is cut off."""

    def __init__(self, ws: WebSocket, run: StreamRun, hub: Hub) -> None:
        self.ws = ws
        self.run = run
        self.hub = hub
        self.gone = False

    async def send(self, text: str) -> None:
        if self.gone:
            return
        if self.run.queue.qsize() > self.hub.limits.max_queue:
            raise _TooSlow
        try:
            await asyncio.wait_for(self.ws.send_text(text), self.hub.limits.send_timeout_s)
        except asyncio.TimeoutError:
            raise _TooSlow from None
        except Exception:  # noqa: BLE001 - the client went away: the stream ends, nothing more is sent
            self.gone = True
            self.run.stop()


class _TooSlow(Exception):
    pass


async def _outcome(receiver: asyncio.Task[tuple[int, str] | None], error: BaseException | None) -> tuple[int, str]:
    if error is not None:
        return close_code(error), str(error)
    broken = await receiver if receiver.done() else None
    return broken or (CLOSE_NORMAL, "the stream ended")


async def _send_native(
    ws: WebSocket, run: StreamRun, hub: Hub, receiver: asyncio.Task[tuple[int, str] | None], want_status: bool
) -> tuple[int, str]:
    out = _Sender(ws, run, hub)
    dropped = 0.0
    try:
        while True:
            kind, payload = await run.queue.get()
            if kind == "line":
                await out.send(payload)
            elif kind == "status":
                if want_status or payload.dropped_audio_s > dropped:
                    dropped = payload.dropped_audio_s
                    await out.send(json.dumps(status_line(payload)))
            elif kind == "done":
                if payload is not None:
                    await out.send(error_text(str(payload), native=True, code=close_code(payload)))
                return await _outcome(receiver, payload)
    except _TooSlow:
        return await _cut_off(run, hub)


async def _send_wlk(
    ws: WebSocket, run: StreamRun, hub: Hub, receiver: asyncio.Task[tuple[int, str] | None]
) -> tuple[int, str]:
    out = _Sender(ws, run, hub)
    state = WlkState(run.session.settings.speaker_names)
    sent = ""
    last = 0.0
    dirty = False
    try:
        while True:
            wait = None if not dirty else max(0.0, last + WLK_UPDATE_S - time.monotonic())
            try:
                kind, payload = await asyncio.wait_for(run.queue.get(), wait)
            except asyncio.TimeoutError:
                kind, payload = "tick", None
            if kind == "transcript":
                state.transcript(payload)
            elif kind == "final":
                state.final(payload)
            elif kind == "speakers":
                state.speakers(payload)
            elif kind == "status":
                state.status(payload)
            elif kind == "done":
                if payload is not None:
                    state.error = str(payload)
                text = json.dumps(state.snapshot(), ensure_ascii=False)
                if text != sent:
                    await out.send(text)
                if payload is not None:
                    await out.send(error_text(str(payload), native=False))
                await out.send(json.dumps({"type": "ready_to_stop"}))
                return await _outcome(receiver, payload)
            else:
                if kind != "tick":
                    continue
            if time.monotonic() - last < WLK_UPDATE_S:
                dirty = True
                continue
            text = json.dumps(state.snapshot(), ensure_ascii=False)
            dirty = False
            if text != sent:
                sent, last = text, time.monotonic()
                await out.send(text)
    except _TooSlow:
        return await _cut_off(run, hub)


async def _cut_off(run: StreamRun, hub: Hub) -> tuple[int, str]:
    run.stop()
    hub.refused("slow_client")
    while (await run.queue.get())[0] != "done":  # the stream finishes; its events go nowhere
        pass
    return CLOSE_POLICY, "the client does not read what is sent: cut off"
