"""The server's application without models (Starlette's TestClient, in process): what it answers
while its models load, its protocol state, its access rules."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from wlk_cli.config import Settings
from wlk_cli.events import SpeakersEvent, StatusEvent, TranscriptEvent, Word
from wlk_cli.server.hub import Hub, Limits, default_max_sessions
from wlk_cli.server.protocols import OPEN_WORDS, WlkState, wlk_time
from wlk_cli.server.routes import build_app
from wlk_cli.server.security import Access


def test_while_loading_health_is_503_and_streams_are_refused_with_1013() -> None:
    hub = Hub(None, Settings(model="tiny.en"), Limits(max_sessions=2))
    client = TestClient(build_app(hub, Access()))
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "loading"
    with client.websocket_connect("/asr") as ws:
        msg = json.loads(ws.receive_text())
        closed = ws.receive()
    assert msg["status"] == "error" and "loading" in msg["error"] and closed["code"] == 1013
    assert 'wlk_refused_total{reason="loading"} 1' in client.get("/metrics").text


def test_origin_and_token_rules() -> None:
    access = Access("tok", ("https://app.example",))
    assert access.token_error({}, {}) and access.token_error({"authorization": "Bearer nope"}, {})
    assert access.token_error({"authorization": "Bearer tok"}, {}) is None
    assert access.token_error({}, {"token": "tok"}) is None
    assert access.origin_error({}) is None  # not a browser
    assert access.origin_error({"origin": "http://h:8000", "host": "h:8000"}) is None  # same origin
    assert access.origin_error({"origin": "https://app.example", "host": "h:8000"}) is None
    assert "not allowed" in (access.origin_error({"origin": "https://evil.example", "host": "h:8000"}) or "")
    assert Access(allowed_origins=("*",)).origin_error({"origin": "https://any.example", "host": "h"}) is None


def _ev(seq: int, words: list[Word], tentative: list[Word], end: bool = False) -> TranscriptEvent:
    return TranscriptEvent(seq, 0.0, 0.0, tuple(words), tuple(tentative), "en", end)


def test_whisperlivekit_state_lines_by_speaker_and_pause() -> None:
    st = WlkState()
    assert st.snapshot()["status"] == "no_audio_detected"
    w = [Word(0.5, 0.9, " Hello", 0.9, "S1", 0), Word(1.0, 1.4, " there.", 0.9, "S1", 1)]
    st.transcript(_ev(0, w, [Word(1.5, 1.8, " How", 0.5)], end=True))
    st.transcript(_ev(1, [Word(2.0, 2.4, " Yes.", 0.9, "S2", 2), Word(3.0, 3.2, " Sure.", 0.9, "S2", 3)], []))
    st.status(StatusEvent(0.0, 3.3, 0.44, diarization_lag_s=1.26))
    snap = st.snapshot()
    assert [(x["speaker"], x["text"]) for x in snap["lines"]] == [(1, "Hello there."), (2, "Yes. Sure.")]
    assert snap["lines"][0]["start"] == "0:00:00.50" and snap["lines"][1]["end"] == "0:00:03.20"
    assert snap["buffer_transcription"] == "" and snap["remaining_time_transcription"] == 0.4
    assert snap["remaining_time_diarization"] == 1.3 and snap["status"] == "active_transcription"
    st.speakers(SpeakersEvent(2, 0.0, ((3, "S1"),)))  # a revision splits the second line
    assert [x["speaker"] for x in st.snapshot()["lines"]] == [1, 2, 1]
    assert wlk_time(3725.5) == "1:02:05.50"


def test_whisperlivekit_state_keeps_old_lines_as_text() -> None:
    st = WlkState()
    n = 3 * OPEN_WORDS
    words = [Word(i * 0.5, i * 0.5 + 0.3, " word." if i % 10 == 9 else " word", 0.9, None, i) for i in range(n)]
    for k in range(0, n, 50):
        st.transcript(_ev(k, words[k : k + 50], [], end=True))
    snap = st.snapshot()
    assert len(st._words) <= OPEN_WORDS and sum(len(x["text"].split()) for x in snap["lines"]) == n


@pytest.mark.parametrize(("model", "policy", "final", "cpus", "want"), [
    ("tiny.en", "local-agreement", "off", 2, 4), ("base", "local-agreement", "off", 2, 2),
    ("base", "simulstreaming", "off", 2, 1), ("tiny.en", "local-agreement", "on", 2, 3),
    ("base", "local-agreement", "on", 2, 1), ("tiny.en", "local-agreement", "on", 8, 14),
])  # fmt: skip
def test_default_capacity(model: str, policy: str, final: str, cpus: int, want: int) -> None:
    """The final pass's CPU counts in what a server takes on."""
    assert default_max_sessions(Settings(model=model, policy=policy, final=final), cpus, "cpu") == want


class _DeafClient:
    """A WebSocket whose sends never complete: a client that reads nothing (its TCP window is full)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        await asyncio.Event().wait()


class _Run:
    """What the sending side reads of a stream: its queue; stop() ends it the way a session does."""

    def __init__(self, events: int) -> None:
        self.queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        for i in range(events):
            self.queue.put_nowait(("line", json.dumps({"type": "transcript", "seq": i})))
        self.stopped = False
        self.session = SimpleNamespace(settings=Settings())

    def stop(self) -> None:
        self.stopped = True
        self.queue.put_nowait(("done", None))


@pytest.mark.parametrize("protocol", ["native", "wlk"])
def test_a_client_that_reads_nothing_is_cut_off(protocol: str) -> None:
    from wlk_cli.server import routes

    hub = Hub(None, Settings(model="tiny.en"), Limits(max_sessions=1, send_timeout_s=0.2))
    run = _Run(3)
    if protocol == "wlk":
        run.queue = asyncio.Queue()
        run.queue.put_nowait(("status", StatusEvent(0.0, 1.0, 0.3)))
    ws = _DeafClient()

    async def go() -> tuple[int, str]:
        receiver = asyncio.get_running_loop().create_future()
        send = (
            routes._send_native(ws, run, hub, receiver, False)
            if protocol == "native"
            else routes._send_wlk(ws, run, hub, receiver)
        )  # type: ignore[arg-type]
        return await asyncio.wait_for(send, 5)

    t0 = time.monotonic()
    code, reason = asyncio.run(go())
    assert (code, reason) == (1008, "the client does not read what is sent: cut off")
    assert 0.2 <= time.monotonic() - t0 < 2 and run.stopped and len(ws.sent) == 1
    assert hub.metrics.refused_total == {"slow_client": 1}


def test_a_client_far_behind_is_cut_off_without_waiting() -> None:
    from wlk_cli.server import routes

    hub = Hub(None, Settings(model="tiny.en"), Limits(max_sessions=1, send_timeout_s=30, max_queue=10))
    run = _Run(50)
    ws = _DeafClient()

    async def go() -> tuple[int, str]:
        receiver = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(routes._send_native(ws, run, hub, receiver, False), 5)  # type: ignore[arg-type]

    code, _ = asyncio.run(go())
    assert code == 1008 and run.stopped and ws.sent == []


class _SlowToEnd:
    """A stream whose thread ends ``finishing`` s after it is stopped (its final passes still running)."""

    def __init__(self, finishing: float) -> None:
        self.finishing = finishing
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.stopped.wait()
        time.sleep(self.finishing)

    def start(self, sinks: list[object], finished: object) -> None:
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def stop(self) -> None:
        self.stopped.set()


def test_shutdown_waits_for_every_stream_thread_and_says_when_one_is_left() -> None:
    """A stream's thread still inside the model when the interpreter exits aborts the server (SIGABRT
    instead of exit 130): at shutdown the hub stops every stream and waits for its thread."""
    hub = Hub(None, Settings(model="tiny.en"), Limits(max_sessions=3))
    runs = [_SlowToEnd(0.3), _SlowToEnd(0.1)]
    for run in runs:
        slot = hub.take_slot("native")
        assert slot is not None
        hub.start(slot, run, [])  # type: ignore[arg-type]
    assert hub.drain(5.0) and all(r.stopped.is_set() and not r.running for r in runs)
    stuck = _SlowToEnd(30.0)
    slot = hub.take_slot("native")
    assert slot is not None
    hub.start(slot, stuck, [])  # type: ignore[arg-type]
    t0 = time.monotonic()
    assert not hub.drain(0.3) and stuck.running
    assert time.monotonic() - t0 < 2
