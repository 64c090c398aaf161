"""`wlk serve` for real: the tiny.en model on LibriSpeech clips, through plain `websockets` clients
speaking WhisperLiveKit's protocol and ours, and every refusal with its code and JSON reason."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import clips, wer, wlk
from tests.server import Server, joined_clips, pcm16, serve, stream_native, stream_wlk, words_of

pytestmark = pytest.mark.slow
TIME = re.compile(r"^\d+:\d\d:\d\d\.\d\d$")
WLK_KEYS = {
    "status", "lines", "buffer_transcription", "buffer_diarization", "buffer_translation",
    "remaining_time_transcription", "remaining_time_diarization",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("--max-sessions", "2", "--idle-timeout", "3", tmp=tmp_path_factory.mktemp("srv")) as s:
        yield s


@pytest.fixture(scope="module")
def pcm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("--pcm-input", "--max-sessions", "2", tmp=tmp_path_factory.mktemp("srv")) as s:
        yield s


def _clip(i: int = 0) -> tuple[Path, str]:
    return clips()[i]


def _wlk_text(messages: list[dict[str, Any]]) -> str:
    states = [m for m in messages if "type" not in m]
    return " ".join(line["text"] for line in states[-1]["lines"])


def _check_wlk_session(got: Any, pcm: bool, ref: str) -> None:
    assert got.messages[0] == {"type": "config", "useAudioWorklet": pcm, "mode": "full"}
    assert got.messages[-1] == {"type": "ready_to_stop"}
    states = got.messages[1:-1]
    assert states and all("type" not in m and WLK_KEYS <= m.keys() for m in states), states[:3]
    assert all(a != b for a, b in zip(states, states[1:])), "an update that did not change the state"
    for line in states[-1]["lines"]:
        assert line["speaker"] == 1 and TIME.match(line["start"]) and TIME.match(line["end"]), line
        assert line["start"] <= line["end"]
    assert states[-1]["status"] == "active_transcription"
    assert wer(ref, _wlk_text(got.messages)) <= 0.15, _wlk_text(got.messages)


def test_whisperlivekit_client_pcm(pcm_server: Server, tmp_path: Path) -> None:
    path, ref = joined_clips(tmp_path)
    got = asyncio.run(stream_wlk(pcm_server.ws + "/asr", pcm16(path), chunk=16000, pace=0.25))
    _check_wlk_session(got, pcm=True, ref=ref)
    # at most one update per 50 ms (as received: network delays only bunch them closer)
    span = got.times[-2] - got.times[1]
    assert len(got.messages) - 2 <= span / 0.05 + 2


def test_whisperlivekit_client_webm(server: Server, tmp_path: Path) -> None:
    path, ref = joined_clips(tmp_path)
    webm = tmp_path / "clip.webm"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(path), "-c:a", "libopus", "-b:a", "32k", str(webm)], check=True
    )
    got = asyncio.run(stream_wlk(server.ws + "/asr", webm.read_bytes(), chunk=4000, pace=0.25))  # ~real time
    _check_wlk_session(got, pcm=False, ref=ref)


def test_native_stream_gives_the_lines_of_wlk_file(server: Server) -> None:
    path, ref = _clip(0)
    got = asyncio.run(
        stream_native(server.ws + "/v1/stream", pcm16(path), {"format": "s16le", "rate": 16000}, pace=0.02)
    )
    assert got.close_code == 1000, got.close_reason
    kinds = [m["type"] for m in got.messages]
    assert kinds[0] == "session" and kinds[-1] == "end" and "transcript" in kinds
    assert wer(ref, words_of(got.messages)) <= 0.15
    r = wlk("file", str(path), "--model", "tiny.en", "--speed", "0", "--format", "jsonl", "--no-files")
    local = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert "final" in kinds  # the final pass's lines come over the connection too
    for kind in ("session", "transcript", "final", "end"):
        ours = next(m for m in got.messages if m["type"] == kind)
        theirs = next(m for m in local if m["type"] == kind)
        assert ours.keys() == theirs.keys(), kind
    assert got.messages[-1]["stats"].keys() == local[-1]["stats"].keys()


def test_native_stream_settings_per_session_and_status_lines(server: Server) -> None:
    path, _ = _clip(3)
    start = {"format": "s16le", "min_chunk_size": 1.0, "status": True, "language": "en"}
    got = asyncio.run(stream_native(server.ws + "/v1/stream", pcm16(path), start, pace=0.02))
    session = got.messages[0]
    assert session["min_chunk_size"] == 1.0 and session["language"] == "en"
    status = [m for m in got.messages if m["type"] == "status"]
    assert status and {"lag_s", "dropped_audio_s", "audio_s"} <= status[0].keys()


@pytest.mark.parametrize(
    ("start", "needle"),
    [
        ({"model": "base"}, "engine settings cannot be set per session: model"),
        ({"beam_size": 3, "threads": 4}, "engine settings cannot be set per session: threads"),
        ({"speed": 2}, "speed cannot be set per session"),
        ({"nonsense": 1}, "unknown setting(s): nonsense"),
        ({"min_chunk_size": -1}, "min_chunk_size"),
        ({"format": "mp3"}, "format"),
        ({"diarization": True, "speakers": ["Nobody"]}, "no voice profile named 'Nobody'"),
    ],
)
def test_native_start_refuses_bad_settings(server: Server, start: dict[str, Any], needle: str) -> None:
    got = asyncio.run(stream_native(server.ws + "/v1/stream", b"", start))
    assert got.close_code == 1008
    assert got.messages[0]["type"] == "error" and needle in got.messages[0]["error"], got.messages
    assert asyncio.run(_healthy(server))


async def _healthy(server: Server) -> bool:
    async with httpx.AsyncClient() as c:
        r = await c.get(server.http + "/health")
        return bool(r.json()["status"] in ("ok", "full"))


def test_full_server_refuses_at_once_and_others_go_on(server: Server) -> None:
    path, ref = _clip(4)
    audio = pcm16(path)

    async def scenario() -> tuple[Any, Any, float, Any, dict[str, Any]]:
        import websockets

        first = asyncio.create_task(
            stream_native(server.ws + "/v1/stream", audio, {"format": "s16le"}, chunk=3200, pace=0.1)
        )
        second = asyncio.create_task(
            stream_native(server.ws + "/v1/stream", audio, {"format": "s16le"}, chunk=3200, pace=0.1)
        )
        await asyncio.sleep(1.5)  # both running
        t0 = time.monotonic()
        async with websockets.connect(server.ws + "/asr") as ws:
            refusal = json.loads(await ws.recv())
            try:
                await ws.recv()
            except websockets.ConnectionClosed:
                pass
            refused_in = time.monotonic() - t0
            code = ws.close_code
        async with httpx.AsyncClient() as c:
            health = (await c.get(server.http + "/health")).json() | {
                "code": (await c.get(server.http + "/health")).status_code
            }
        return await first, await second, refused_in, (refusal, code), health

    first, second, refused_in, (refusal, code), health = asyncio.run(scenario())
    assert code == 1013 and refusal["status"] == "error" and "full" in refusal["error"]
    assert refused_in < 1.0  # (the bar of 100 ms is measured by benchmarks/server_bench.py)
    assert health["status"] == "full" and health["code"] == 503 and health["sessions"] == 2
    for got in (first, second):
        assert got.close_code == 1000 and wer(ref, words_of(got.messages)) <= 0.15
    metrics = httpx.get(server.http + "/metrics").text
    assert re.search(r'wlk_refused_total\{reason="capacity"\} [1-9]', metrics), metrics


def test_client_that_goes_away_frees_its_slot(server: Server) -> None:
    async def scenario() -> None:
        import websockets

        for _ in range(3):  # more than --max-sessions: each one's slot must come back
            async with websockets.connect(server.ws + "/v1/stream") as ws:
                await ws.send(json.dumps({"type": "start", "format": "s16le"}))
                await ws.send(pcm16(_clip(0)[0])[:32000])
                await asyncio.sleep(0.3)
            # closed without an end frame

    asyncio.run(scenario())
    deadline = time.monotonic() + 10
    while httpx.get(server.http + "/health").json()["sessions"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(server.http + "/health").json()["sessions"] == 0


def test_bad_frames_close_cleanly(server: Server) -> None:
    async def text_on_asr() -> tuple[Any, int | None]:
        import websockets

        async with websockets.connect(server.ws + "/asr") as ws:
            await ws.recv()  # config
            await ws.send("hello")
            msgs = []
            try:
                async for m in ws:
                    msgs.append(json.loads(m))
            except websockets.ConnectionClosed:
                pass
        return msgs, ws.close_code

    msgs, code = asyncio.run(text_on_asr())
    assert code == 1003 and any(m.get("type") == "ready_to_stop" for m in msgs)
    junk = asyncio.run(stream_native(server.ws + "/v1/stream", bytes(range(256)) * 64, None, chunk=4096))
    assert junk.close_code == 1007 and junk.messages[-1]["type"] == "error", junk.messages
    assert "not audio FFmpeg can read" in junk.messages[-1]["error"]
    huge = asyncio.run(stream_native(server.ws + "/v1/stream", b"\0" * (2 << 20), {"format": "s16le"}, chunk=2 << 20))
    assert huge.close_code == 1009
    t0 = time.monotonic()
    idle = asyncio.run(stream_native(server.ws + "/v1/stream", b"", {"format": "s16le"}, end=False))
    assert idle.close_code == 1008 and "no audio for 3 s" in idle.close_reason
    assert 2.5 < time.monotonic() - t0 < 15
    assert idle.messages[-1]["type"] == "end"
    assert asyncio.run(_healthy(server))


def test_http_errors_are_json(server: Server) -> None:
    r = httpx.get(server.http + "/nowhere")
    assert r.status_code == 404 and "no such route" in r.json()["error"]
    r = httpx.get(server.http + "/v1/audio/transcriptions")
    assert r.status_code == 405 and "GET is not allowed" in r.json()["error"]
    page = httpx.get(server.http + "/")
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_token_and_origin(tmp_path: Path) -> None:
    with serve("--api-token", "s3cret", "--allowed-origins", "https://app.example", tmp=tmp_path) as s:
        audio = pcm16(_clip(0)[0])[:16000]
        none = asyncio.run(stream_native(s.ws + "/v1/stream", audio, {"format": "s16le"}))
        assert none.close_code == 1008 and "token is required" in none.messages[0]["error"]
        wrong = asyncio.run(stream_native(s.ws + "/v1/stream?token=nope", audio, {"format": "s16le"}))
        assert wrong.close_code == 1008 and "wrong" in wrong.messages[0]["error"]
        bearer = asyncio.run(
            stream_native(s.ws + "/v1/stream", audio, {"format": "s16le"}, headers={"Authorization": "Bearer s3cret"})
        )
        assert bearer.close_code == 1000 and bearer.messages[-1]["type"] == "end"
        url = s.ws + "/asr?token=s3cret"
        evil = asyncio.run(stream_wlk(url, audio, 16000, 0, origin="https://evil.example"))
        assert evil.messages[0]["status"] == "error" and "not allowed" in evil.messages[0]["error"]
        assert evil.close_code == 1008
        listed = asyncio.run(stream_wlk(url, b"", 16000, 0, origin="https://app.example"))
        same = asyncio.run(stream_wlk(url, b"", 16000, 0, origin=s.http))
        assert listed.messages[0]["type"] == same.messages[0]["type"] == "config"
        assert httpx.get(s.http + "/metrics").status_code == 401
        assert httpx.get(s.http + "/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(s.http + "/health").status_code == 200  # for load balancers


def test_port_in_use_and_bad_options(server: Server, tmp_path: Path) -> None:
    from tests.helpers import one_line_error

    r = wlk("serve", "--model", "tiny.en", "--port", str(server.port), timeout=60)
    one_line_error(r, 1, "cannot listen", str(server.port))
    r = wlk("serve", "--model", "tiny.en", "--ssl-certfile", "x.pem", timeout=60)
    one_line_error(r, 2, "both --ssl-certfile and --ssl-keyfile")
    r = wlk("serve", "--model", "nonexistent-model", "--port", "0", timeout=60)
    assert r.returncode == 4 and "Traceback" not in r.stderr.decode()


def test_tls(tmp_path: Path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with serve("--ssl-certfile", str(cert), "--ssl-keyfile", str(key), tmp=tmp_path) as s:
        assert "https://127.0.0.1" in s.stderr() and "wss://127.0.0.1" in s.stderr()
        https = f"https://127.0.0.1:{s.port}"
        assert httpx.get(https + "/health", verify=ssl.create_default_context(cafile=str(cert))).status_code == 200

        async def wss() -> tuple[dict[str, Any], int | None]:
            import websockets

            context = ssl.create_default_context(cafile=str(cert))
            async with websockets.connect(f"wss://127.0.0.1:{s.port}/asr", ssl=context) as ws:
                config = json.loads(await ws.recv())
                await ws.send(b"")
                async for m in ws:
                    if json.loads(m).get("type") == "ready_to_stop":
                        break
            return config, ws.close_code

        config, code = asyncio.run(wss())
        assert config["type"] == "config" and code == 1000
