"""A real `wlk serve` for tests: started as its own process on a free loopback port, stopped by pid,
and plain clients of its protocols (``websockets``), as other programs would use them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import ROOT


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(*args: str, tmp: Path, env: dict[str, str] | None = None, port: int = 0) -> Iterator[Server]:
    """`wlk serve --model tiny.en ARGS` on 127.0.0.1; yields once it says its URLs (models loaded)."""
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    threads = os.environ.get("WLK_TEST_THREADS")
    extra = ["--threads", threads] if threads else []
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wlk_cli", "serve", "--model", "tiny.en", "--port", str(port), *extra, *args],
            stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env={**os.environ, **(env or {})},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        found = None
        while found is None:
            text = log.read_text(errors="replace")
            found = re.search(r"page:\s+https?://127\.0\.0\.1:(\d+)/", text)
            if proc.poll() is not None:
                raise AssertionError(f"wlk serve exited {proc.returncode}: {text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"wlk serve did not start: {text}")
            time.sleep(0.1)
        yield Server(proc, int(found.group(1)), log)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pcm16(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return w.readframes(w.getnframes())


@dataclass
class Received:
    messages: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""


async def stream_native(
    url: str,
    audio: bytes,
    start: dict[str, Any] | None = None,
    chunk: int = 3200,
    pace: float = 0.0,
    headers: dict[str, str] | None = None,
    end: bool = True,
) -> Received:
    """Play ``audio`` to ``/v1/stream`` (``pace``: seconds between chunks) and collect every line."""
    import websockets

    got = Received()
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:

        async def send() -> None:
            try:
                if start is not None:
                    await ws.send(json.dumps({"type": "start", **start}))
                for i in range(0, len(audio), chunk):
                    await ws.send(audio[i : i + chunk])
                    if pace:
                        await asyncio.sleep(pace)
                if end:
                    await ws.send(b"")
            except websockets.ConnectionClosed:
                pass

        sender = asyncio.create_task(send())
        try:
            async for m in ws:
                got.messages.append(json.loads(m))
                got.times.append(time.monotonic())
        except websockets.ConnectionClosed:
            pass
        await sender
        got.close_code, got.close_reason = ws.close_code, ws.close_reason or ""
    return got


async def stream_wlk(url: str, data: bytes, chunk: int, pace: float, origin: str | None = None) -> Received:
    """WhisperLiveKit's test client, as it does it: config first, audio frames, an empty frame, read
    until ready_to_stop."""
    import websockets

    got = Received()
    headers = {"Origin": origin} if origin else None
    async with websockets.connect(url, additional_headers=headers) as ws:
        got.messages.append(json.loads(await ws.recv()))
        got.times.append(time.monotonic())
        if got.messages[0].get("type") != "config":  # refused: the close follows the error
            await ws.wait_closed()
            got.close_code = ws.close_code
            return got

        async def send() -> None:
            for i in range(0, len(data), chunk):
                await ws.send(data[i : i + chunk])
                if pace:
                    await asyncio.sleep(pace)
            await ws.send(b"")

        sender = asyncio.create_task(send())
        async for m in ws:
            msg = json.loads(m)
            got.messages.append(msg)
            got.times.append(time.monotonic())
            if msg.get("type") == "ready_to_stop":
                break
        await sender
    got.close_code = ws.close_code
    return got


def words_of(lines: list[dict[str, Any]]) -> str:
    return "".join(w["text"] for e in lines if e["type"] == "transcript" for w in e["confirmed"])


def joined_clips(tmp: Path, gap_s: float = 0.8) -> tuple[Path, str]:
    """The bundled LibriSpeech clips back to back with pauses (~32 s, 65 words): one wrong word is
    1.5 points of WER, not 7 as on one clip."""
    from tests.helpers import clips

    path = tmp / "joined.wav"
    refs = []
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        for clip, ref in clips()[:5]:
            out.writeframes(pcm16(clip) + b"\0\0" * int(gap_s * 16000))
            refs.append(ref)
    return path, " ".join(refs)
