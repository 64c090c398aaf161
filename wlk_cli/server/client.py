"""`wlk file --server URL` and `wlk listen --server URL`: capture, the TUI and the files stay here; the
models run on a `wlk serve` elsewhere, over ``/v1/stream``.

:class:`RemoteSession` is a session for the front ends (the TUI's ``SessionControl``, ``run_session``):
it sends the local feed's audio (float32 PCM, 16 kHz) and turns the server's JSON lines back into the
events every sink takes, so the terminal, the TUI and the files behave as they do with local models.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from wlk_cli.config import ENGINE_FIELDS, OPTS, Settings
from wlk_cli.errors import InputError, UsageError, WlkError
from wlk_cli.events import EndStats, FinalEvent, SessionInfo, SpeakersEvent, StatusEvent, TranscriptEvent, Word
from wlk_cli.session import StreamControls
from wlk_cli.sinks.base import SinkFanout

NOT_SENT = {"speed", "formats"}  # the local clock's pace, the local files


@dataclass(frozen=True)
class RemoteOptions:
    url: str
    token: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    """Engine settings the user gave on the command line: the server must already run them."""

    def stream_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss", "http", "https"):
            raise UsageError(f"server: {self.url!r} is not a ws://, wss://, http:// or https:// URL")
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = parts.path.rstrip("/")
        if not path.endswith("/v1/stream"):
            path += "/v1/stream"
        return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _word(d: dict[str, Any]) -> Word:
    return Word(d["start"], d["end"], d["text"], d.get("prob", 1.0), d.get("speaker"), d.get("id"))


def _stats(d: dict[str, Any]) -> EndStats:
    known = {f.name for f in fields(EndStats)} - {"extra"}
    return EndStats(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})


def _error_for(code: int | None, message: str) -> WlkError:
    if code == 1007:
        return InputError(message)
    if code == 1008:
        return UsageError(message)
    return WlkError(message)


class RemoteSession(StreamControls):
    """One stream transcribed by a remote server; the same controls as a local session."""

    def __init__(
        self,
        remote: RemoteOptions,
        settings: Settings,
        feed: Any,
        source_label: str,
        file_sink: Any | None,
        total_s: float | None = None,
        extra_sinks: list[Any] | None = None,
    ) -> None:
        super().__init__(settings, feed, source_label, file_sink, total_s, extra_sinks)
        self.remote = remote
        self.url = remote.stream_url()
        self.feed_error: WlkError | None = None
        self._started = False  # the server's session line came

    # -- the stream -------------------------------------------------------------------------------
    def start_message(self) -> dict[str, Any]:
        values = {n: v for n, v in self.settings.as_dict().items() if n in OPTS and n not in NOT_SENT}
        stream = {n: v for n, v in values.items() if n not in ENGINE_FIELDS}
        # a file's words are all wanted (at any --speed); a live source keeps up by --max-lag, as here
        stream["max_lag"] = self.settings.max_lag if self.feed.live else 0.0
        return {"type": "start", "format": "f32le", "rate": 16000, "channels": 1, "status": True,
                **stream, **self.remote.engine}  # fmt: skip

    def run(self, sinks: list[Any]) -> EndStats:
        """Stream to the server until the feed ends (or :meth:`stop`); Ctrl-C ends it the same way."""
        all_sinks = [*sinks, *self.extra_sinks, *([self.file_sink] if self.file_sink is not None else [])]
        fan = SinkFanout(all_sinks)
        outcome: list[Any] = []

        def loop() -> None:
            try:
                outcome.append(asyncio.run(self._stream(fan)))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                outcome.append(e)

        worker = threading.Thread(target=loop, name="wlk-remote", daemon=True)
        self.feed.start()
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            self.stop(interrupted=True)
            worker.join(30)
        result = outcome[0] if outcome else WlkError("the connection to the server did not finish")
        if isinstance(result, BaseException):
            raise result
        if self.feed_error is not None:  # what was sent before it is transcribed and written
            raise self.feed_error
        if self.interrupted:
            result.interrupted = True
        return result  # type: ignore[no-any-return]

    async def _stream(self, fan: SinkFanout) -> EndStats:
        import websockets

        headers = {"Authorization": f"Bearer {self.remote.token}"} if self.remote.token else None
        try:
            ws = await websockets.connect(self.url, additional_headers=headers, max_size=None, open_timeout=20)
        except (OSError, asyncio.TimeoutError, websockets.InvalidURI, websockets.InvalidHandshake) as e:
            raise WlkError(f"server: cannot connect to {self.url}: {e}") from None
        async with ws:
            await ws.send(json.dumps(self.start_message()))
            sender = asyncio.create_task(self._send_audio(ws))
            try:
                stats, error = await self._receive(ws, fan)
            finally:
                self.feed.stop()
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
        if stats is None and self._started:
            self.save()  # the connection broke: what was transcribed until then is kept in the files
        if error is not None:
            raise _error_for(ws.close_code, f"server: {error}")
        if stats is None:
            reason = ws.close_reason or {1012: "the server is restarting"}.get(ws.close_code or 0, "connection lost")
            raise _error_for(ws.close_code, f"server: {reason} (close code {ws.close_code})")
        return stats

    async def _send_audio(self, ws: Any) -> None:
        import websockets

        ring = self.feed.ring
        pos = 0
        try:
            while True:
                more = await asyncio.to_thread(self.feed.wait_beyond, pos, 0.25)
                if ring.end > pos:
                    start, audio = ring.read(pos)
                    pos = start + audio.size
                    await ws.send(np.asarray(audio, dtype="<f4").tobytes())
                elif not more:
                    break
            await ws.send(b"")
        except websockets.ConnectionClosed:
            pass
        except WlkError as e:  # the local input broke (a decode error, a lost device): end what was sent
            self.feed_error = e
            await ws.send(b"")

    async def _receive(self, ws: Any, fan: SinkFanout) -> tuple[EndStats | None, str | None]:
        import websockets

        stats: EndStats | None = None
        error: str | None = None
        try:
            async for text in ws:
                e = json.loads(text)
                kind = e.get("type")
                if kind == "session":
                    info = {k: v for k, v in e.items() if k not in ("type", "version", "source")}
                    if self.file_sink is not None:
                        self.file_sink.meta["model"] = info.get("model", self.model)
                    self.model = info.get("model", self.model)
                    info["speed"] = self.settings.speed  # the local clock's pace
                    fan.start(SessionInfo(self.source_label, {**info, "server": self.url}))
                    self._started = True
                elif kind == "transcript":
                    fan.transcript(
                        TranscriptEvent(
                            e["seq"], e["wall_s"], e["audio_s"], tuple(map(_word, e["confirmed"])),
                            tuple(map(_word, e["tentative"])), e.get("language"), e.get("utterance_end", False),
                        )
                    )  # fmt: skip
                elif kind == "final":
                    fan.final(
                        FinalEvent(
                            e["seq"], e["wall_s"], e["utterance"], tuple(e["replaces"]), tuple(map(_word, e["words"])),
                            e.get("language"), e.get("kept_live"),
                        )
                    )  # fmt: skip
                elif kind == "speakers":
                    updates = tuple((u["id"], u["speaker"]) for u in e["updates"])
                    fan.speakers(SpeakersEvent(e["seq"], e["wall_s"], updates))
                elif kind == "status":
                    fan.status(
                        StatusEvent(
                            wall_s=self.feed.wall_now(), audio_s=e["audio_s"] or 0.0, lag_s=e["lag_s"] or 0.0,
                            total_s=self.total_s,
                            speech=e.get("speech"), level_db=self.feed.level_db, latency_s=e.get("latency_s"),
                            dropped_frames=self.feed.dropped_frames, diarization_lag_s=e.get("diarization_lag_s"),
                            dropped_audio_s=e.get("dropped_audio_s") or 0.0,
                        )
                    )  # fmt: skip
                elif kind == "end":
                    stats = _stats(e["stats"])
                    stats.dropped_frames = self.feed.dropped_frames
                    stats.interrupted = stats.interrupted or self.interrupted  # stopped here (Ctrl-C, q)
                    fan.end(stats)
                elif kind == "error":
                    error = e.get("error", "unknown error")
        except websockets.ConnectionClosed:
            pass
        return stats, error
