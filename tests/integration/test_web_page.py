"""Our web page in Debian's headless chromium, its microphone a LibriSpeech recording played in real
time (chromium's fake capture device), against a real `wlk serve`: the words appear in the page."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import browser
from tests.helpers import wer
from tests.server import Server, joined_clips, serve

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not browser.available(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("--max-sessions", "2", tmp=tmp_path_factory.mktemp("srv")) as s:
        yield s


def _duration(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_page_transcribes_the_microphone(server: Server, tmp_path: Path) -> None:
    clip, ref = joined_clips(tmp_path)
    seconds = _duration(clip)

    async def drive() -> tuple[str, str, dict[str, str]]:
        async with browser.open_page(server.http + "/", clip) as page:
            await page.wait_for("document.readyState === 'complete' && !!window.wlk", 30)
            await page.evaluate("document.getElementById('toggle').click()")
            await page.wait_for("document.getElementById('toggle').textContent === 'Stop'", 30)
            await asyncio.sleep(seconds + 2.0)  # the recording plays in real time, then silence
            await page.evaluate("document.getElementById('toggle').click()")
            await page.wait_for("window.wlk.done()", 60)
            text = await page.evaluate("window.wlk.text()")
            status = await page.evaluate("document.getElementById('status').textContent")
            shown = await page.evaluate("document.getElementById('transcript').textContent")
            files = {}
            for fmt in ("srt", "vtt", "txt", "json"):
                post = (
                    "{method: 'POST', headers: {'Content-Type': 'application/json'},"
                    " body: JSON.stringify({words: window.wlk.words()})}"
                )
                body = await page.evaluate(f"fetch('v1/files/{fmt}', {post}).then(r => r.text())")
                files[fmt] = body
            return text, status + "|" + shown, files

    text, shown, files = asyncio.run(drive())
    assert wer(ref, text) <= 0.15, text
    assert text.split()[-1] in shown and shown.startswith("done"), shown
    assert "-->" in files["srt"] and files["vtt"].startswith("WEBVTT") and text.split()[0] in files["txt"]
    assert '"segments"' in files["json"]
    assert httpx.get(server.http + "/health").json()["sessions"] == 0
