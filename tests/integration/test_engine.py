"""One engine, many streams (#13): streams share the engine's models and keep their own state, so two
streams side by side give each clip's transcript exactly as when it runs alone."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import clips
from wlk_cli.config import Settings, build_settings
from wlk_cli.engine import Engine
from wlk_cli.errors import UsageError
from wlk_cli.events import TranscriptEvent
from wlk_cli.session import Session


class Words:
    """A sink that keeps the confirmed words (and the language each event names)."""

    def __init__(self) -> None:
        self.words: list[tuple[float, float, str]] = []
        self.languages: set[str | None] = set()

    def transcript(self, event: TranscriptEvent) -> None:
        self.words += [(round(w.start, 3), round(w.end, 3), w.text) for w in event.confirmed]
        if event.confirmed:
            self.languages.add(event.language)

    def __getattr__(self, name: str) -> Any:  # start, status, speakers, turns, end: not needed here
        return lambda *a, **k: None


def stream(engine: Engine, settings: Settings, path: Path) -> Words:
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.clock import AudioClock
    from wlk_cli.audio.decode import AudioDecoder
    from wlk_cli.audio.ring import RingBuffer

    decoder = AudioDecoder(str(path))
    clock = AudioClock(decoder.blocks(), RingBuffer(SAMPLE_RATE * 120), settings.chunk_ms, 0.0)
    sink = Words()
    Session(engine, settings, clock, decoder.name, None, decoder.duration_s).run([sink])  # type: ignore[list-item]
    return sink


def side_by_side(engine: Engine, jobs: list[tuple[Settings, Path]]) -> list[Words]:
    out: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = stream(engine, *jobs[i])
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return out


@pytest.mark.parametrize("policy", ["local-agreement", "simulstreaming"])
def test_two_streams_side_by_side_give_what_each_gives_alone(policy: str) -> None:
    settings = build_settings(None, {"model": "tiny.en", "policy": policy, "speed": 0.0})
    engine = Engine(settings, streams=2)
    (a, _), (b, _) = clips()[0], clips()[3]
    alone = [stream(engine, settings, a).words, stream(engine, settings, b).words]
    together = [w.words for w in side_by_side(engine, [(settings, a), (settings, b)])]
    assert all(len(w) >= 8 for w in alone)
    assert together == alone


def test_each_stream_keeps_its_own_language_and_settings(tmp_path: Path) -> None:
    from tests.integration.test_language import GERMAN, speak

    german = speak(tmp_path, GERMAN, "de")
    english, _ = clips()[1]
    base = build_settings(None, {"model": "base", "speed": 0.0})
    engine = Engine(base, streams=2)
    short_pauses = build_settings(None, {"model": "base", "speed": 0.0, "min_silence_ms": 300, "language": "auto"})
    de, en = side_by_side(engine, [(base, german), (short_pauses, english)])
    assert de.languages == {"de"} and en.languages == {"en"}


def test_a_second_stream_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build_settings(None, {"model": "tiny.en", "policy": "simulstreaming", "speed": 0.0})
    engine = Engine(settings)
    engine.prepare(settings)
    loaded = (engine.whisper, engine.decoder(), engine.vad_model())

    def no_loading(*a: object, **k: object) -> None:
        raise AssertionError("a stream loaded a model")

    import faster_whisper
    import onnxruntime

    import wlk_cli.asr.torch_whisper

    monkeypatch.setattr(faster_whisper, "WhisperModel", no_loading)
    monkeypatch.setattr(wlk_cli.asr.torch_whisper, "load", no_loading)
    monkeypatch.setattr(onnxruntime, "InferenceSession", no_loading)
    one, two = engine.stream(settings), engine.stream(settings)
    assert one.asr is not two.asr and one.policy is not two.policy and one.vad is not two.vad
    assert one.asr.model is two.asr.model is loaded[0]
    assert one.policy.decoder is two.policy.decoder is loaded[1]
    assert one.vad.model.model is two.vad.model.model is loaded[2]


def test_engine_settings_cannot_change_per_stream() -> None:
    engine = Engine(build_settings(None, {"model": "tiny.en"}))
    with pytest.raises(UsageError, match="engine settings cannot change per stream: model='base'"):
        engine.stream(build_settings(None, {"model": "base"}))
    engine.stream(build_settings(None, {"model": "tiny.en", "language": "en", "frame_threshold": 10}))  # may change
