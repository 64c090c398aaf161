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


WLK_WEB = Path(__file__).parent.parent / "data" / "whisperlivekit-web"


@pytest.mark.parametrize("pcm", [False, True], ids=["mediarecorder-webm", "audioworklet-pcm"])
def test_whisperlivekit_page_unmodified(tmp_path: Path, pcm: bool) -> None:
    """WhisperLiveKit's own page (v0.2.25), served from another origin that the server allows, pointed at
    our /asr: WebM from MediaRecorder, or (--pcm-input) its AudioWorklet's 16 kHz PCM."""
    import functools
    import http.server
    import threading

    clip, ref = joined_clips(tmp_path)
    seconds = _duration(clip)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WLK_WEB))
    static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=static.serve_forever, daemon=True).start()
    page = f"http://127.0.0.1:{static.server_address[1]}"
    args = ["--allowed-origins", page, *(["--pcm-input"] if pcm else [])]
    try:
        with serve(*args, tmp=tmp_path) as s:

            async def drive() -> str:
                async with browser.open_page(page + "/live_transcription.html", clip) as tab:
                    # the page's script sets its default URL when it runs, after the input exists
                    await tab.wait_for("document.readyState === 'complete' && typeof websocketUrl === 'string'", 30)
                    url = s.ws + "/asr"
                    await tab.evaluate(
                        "(() => { const i = document.getElementById('websocketInput');"
                        f" i.value = {url!r}; i.dispatchEvent(new Event('change')); }})()"
                    )
                    await tab.wait_for(f"websocketUrl === {url!r}", 10)
                    await tab.evaluate("document.getElementById('recordButton').click()")
                    await asyncio.sleep(seconds + 2.5)
                    await tab.evaluate("document.getElementById('recordButton').click()")  # stop
                    await tab.wait_for("!document.getElementById('recordButton').classList.contains('recording')", 30)
                    await asyncio.sleep(3.0)  # ready_to_stop, the last state
                    return str(
                        await tab.evaluate(
                            "[...document.querySelectorAll('#linesTranscript .textcontent')]"
                            ".map(e => e.textContent).join(' ')"
                        )
                    )

            text = asyncio.run(drive())
    finally:
        static.shutdown()
    assert wer(ref, text) <= 0.15, text
