"""The OpenAI-compatible endpoints: ``POST /v1/audio/transcriptions`` and ``GET /v1/models``, so the
official ``openai`` client (``base_url=http://host:8000/v1``) and tools built on it work. A request runs
`wlk transcribe`'s offline path (beam 5, VAD, word times) on the server's model and takes one session
slot while it runs."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from wlk_cli.errors import InputError, UsageError
from wlk_cli.server.hub import Hub

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MODEL_ALIASES = ("whisper-1",)  # what OpenAI clients send by default: this server's model answers


def openai_error(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def models(hub: Hub) -> Response:
    created = int(hub.started)
    names = [hub.settings.model, *MODEL_ALIASES]
    return JSONResponse(
        {"object": "list", "data": [{"id": n, "object": "model", "created": created, "owned_by": "wlk"} for n in names]}
    )


async def transcriptions(request: Request, hub: Hub) -> Response:
    length = request.headers.get("content-length")
    if length is None:
        return openai_error(411, "a Content-Length is required")
    if not length.isdigit() or int(length) > hub.limits.max_upload_bytes:
        return openai_error(413, f"the upload is larger than {hub.limits.max_upload_bytes // (1 << 20)} MB", "file")
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as e:  # noqa: BLE001 - any parse failure is the client's request
        return openai_error(400, f"the body is not a multipart form: {e}")
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return openai_error(400, "the form has no 'file' (the audio to transcribe)", "file")
        fmt = str(form.get("response_format") or "json")
        if fmt not in FORMATS:
            return openai_error(400, f"response_format {fmt!r} is not one of {', '.join(FORMATS)}", "response_format")
        model = str(form.get("model") or hub.settings.model)
        if model not in (hub.settings.model, *MODEL_ALIASES):
            return openai_error(
                400, f"model {model!r} is not served here (models: {hub.settings.model}, whisper-1)", "model"
            )
        granularities = [str(g) for g in form.getlist("timestamp_granularities[]")] or ["segment"]
        bad = [g for g in granularities if g not in ("word", "segment")]
        if bad:
            return openai_error(
                400, f"timestamp_granularities: {bad[0]!r} is not word or segment", "timestamp_granularities"
            )
        language = str(form.get("language") or "") or None
        prompt = str(form.get("prompt") or "") or None
        data = await upload.read()
    finally:
        await form.close()
    slot = hub.take_slot("transcriptions")
    if slot is None:
        return openai_error(
            503, f"the server is full ({hub.limits.max_sessions} sessions running); try again later",
            headers={"Retry-After": "5"},
        )  # fmt: skip
    try:
        t0 = time.monotonic()
        result = await asyncio.to_thread(_transcribe, hub, data, language, prompt)
    except (InputError, UsageError) as e:
        param = "language" if isinstance(e, UsageError) else "file"
        return openai_error(400, str(e).replace("stdin", "file", 1), param)
    finally:
        hub.give_back(slot)
    words, lang, duration = result
    hub.transcribed(duration, time.monotonic() - t0)
    return _response(fmt, words, lang, duration, granularities)


def _transcribe(hub: Hub, data: bytes, language: str | None, prompt: str | None) -> tuple[list[Any], str | None, float]:
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.decode import read_audio

    if not data:
        raise InputError("file: the upload is empty")
    fd, path = tempfile.mkstemp(prefix="wlk-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        audio, late_error = read_audio(path)
    finally:
        os.unlink(path)
    if late_error is not None and audio.size == 0:
        raise late_error
    whisper = hub.loaded.whisper
    code = whisper.check_language(language or hub.settings.language, hub.settings.task)
    decoded = hub.offline().decode(audio, code, prompt, filter_silence=hub.settings.vad)
    return decoded.words, decoded.language, audio.size / SAMPLE_RATE


def _response(fmt: str, words: list[Any], language: str | None, duration: float, granularities: list[str]) -> Response:
    from wlk_cli.asr.languages import name
    from wlk_cli.sinks.files import render_srt, render_vtt
    from wlk_cli.sinks.segments import sentences

    text = "".join(w.text for w in words).strip()
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt == "srt":
        return PlainTextResponse(render_srt(words))
    if fmt == "vtt":
        return PlainTextResponse(render_vtt(words), media_type="text/vtt")
    if fmt == "json":
        return JSONResponse({"text": text})
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": name(language).lower(),
        "duration": round(duration, 3),
        "text": text,
    }
    if "segment" in granularities:
        body["segments"] = [
            {
                "id": i,
                "seek": 0,
                "start": round(seg[0].start, 3),
                "end": round(seg[-1].end, 3),
                "text": "".join(w.text for w in seg),
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": round(sum(_logprob(w.prob) for w in seg) / len(seg), 4),
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            }
            for i, seg in enumerate(sentences(words))
        ]
    if "word" in granularities:
        body["words"] = [{"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)} for w in words]
    return JSONResponse(body)


def _logprob(p: float) -> float:
    import math

    return math.log(max(p, 1e-6))
