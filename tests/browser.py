"""Debian's headless ``chromium`` for tests, driven over the DevTools protocol (plain ``websockets``):
a page opened with a fake microphone that plays a WAV file, and JavaScript evaluated in it."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx


def available() -> bool:
    return shutil.which("chromium") is not None


class Page:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._id = 0

    async def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (awaited when it is a promise)."""
        self._id += 1
        call = {
            "id": self._id,
            "method": "Runtime.evaluate",
            "params": {"expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": True},
        }
        await self.ws.send(json.dumps(call))
        while True:
            reply = json.loads(await self.ws.recv())
            if reply.get("id") == self._id:
                result = reply["result"]
                if "exceptionDetails" in result:
                    raise AssertionError(f"{expression}: {result['exceptionDetails']}")
                return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out waiting for {expression}")


@asynccontextmanager
async def open_page(url: str, microphone: Path) -> AsyncIterator[Page]:
    """``url`` in a headless chromium whose microphone plays ``microphone`` once (then silence)."""
    import websockets

    profile = Path(tempfile.mkdtemp(prefix="wlk-chromium-"))
    log = profile / "stderr.log"
    with open(log, "wb") as err:  # a file, not a pipe: chromium writes much, and a full pipe would stop it
        proc = subprocess.Popen(
            [
                "chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}%noloop",
                "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile / 'profile'}",
                "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", url,
            ],
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/", log.read_bytes())
            if m:
                port = int(m.group(1))
            else:
                await asyncio.sleep(0.1)
        assert port is not None, log.read_text(errors="replace")
        target = None
        while target is None and time.monotonic() < deadline:
            pages = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
            target = next((p for p in pages if p.get("type") == "page" and p["url"].startswith(url[:20])), None)
            if target is None:
                await asyncio.sleep(0.2)
        assert target is not None, "the page did not open"
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            yield Page(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
