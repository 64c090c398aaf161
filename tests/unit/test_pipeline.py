"""The pipeline on fakes (no model): what reaches the policy, what reaches the sinks, what the end says (#13).

The feed is the real file clock at --speed 0 (no threads, no sleeping); the VAD is the real controller
with a scripted speech probability (loud windows are speech); the policy and the sink are fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from wlk_cli.audio.clock import AudioClock
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.events import SessionInfo, Word
from wlk_cli.pipeline import RESET_CONTEXT_AFTER_S, Pipeline, SpeechGate
from wlk_cli.policies.base import PolicyUpdate
from wlk_cli.vad import VoiceActivityController

SR = 16000


def loudness_vad() -> VoiceActivityController:
    """The real controller on a fake model: a window is speech when it is loud."""
    return VoiceActivityController(lambda w: 0.9 if float(np.abs(w).mean()) > 0.1 else 0.01, min_silence_ms=300)


def audio_of(*parts: tuple[str, float]) -> np.ndarray:
    """("speech"|"silence", seconds) parts, one after the other."""
    out = [np.full(int(s * SR), 0.5 if kind == "speech" else 0.0, dtype=np.float32) for kind, s in parts]
    return np.concatenate(out)


@dataclass
class FakePolicy:
    """Keeps the audio it is given; shows one tentative word per step; confirms one word per utterance."""

    spans: list[tuple[float, float]] = field(default_factory=list)  # each insert: (start, end) in seconds
    resets: int = 0
    steps: int = 0
    fail_at_step: int | None = None
    _buffer: list[tuple[float, float]] = field(default_factory=list)
    _new: int = 0
    _until: float = 0.0

    def insert_audio(self, audio: np.ndarray, start: float) -> None:
        self.spans.append((start, start + audio.size / SR))
        self._buffer.append(self.spans[-1])
        self._new += audio.size

    def ready(self) -> bool:
        return self._new >= 0.5 * SR

    def step(self) -> PolicyUpdate:
        self.steps += 1
        if self.fail_at_step == self.steps:
            raise RuntimeError("the model broke")
        self._new = 0
        start, end = self._buffer[0][0], self._buffer[-1][1]
        self._until = end
        return PolicyUpdate(tentative=[Word(start, end, " maybe", 0.5)])

    def finish(self) -> PolicyUpdate:
        if not self._buffer:
            return PolicyUpdate()
        start, end = self._buffer[0][0], self._buffer[-1][1]
        self._buffer, self._new, self._until = [], 0, end
        # two words that overlap (as alignment noise does): the pipeline must put them in order
        return PolicyUpdate(confirmed=[Word(start, end - 0.1, " said", 0.9), Word(start + 0.05, end, " it", 0.9)])

    def reset_context(self) -> None:
        self.resets += 1

    @property
    def transcribed_until(self) -> float:
        return self._until


@dataclass
class RecordingSink:
    events: list[object] = field(default_factory=list)
    ended: list[object] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)

    def start(self, session: object) -> None:
        self.events.append(session)

    def transcript(self, event: object) -> None:
        self.events.append(event)

    def final(self, event: object) -> None:
        self.events.append(event)

    def status(self, event: object) -> None:
        self.statuses.append(event)

    def speakers(self, event: object) -> None:
        self.events.append(event)

    def turns(self, turns: object, since: object = None) -> None:
        pass

    def end(self, stats: object) -> None:
        self.ended.append(stats)

    @property
    def transcripts(self) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if hasattr(e, "confirmed")]


def run(audio: np.ndarray, policy: FakePolicy, vad: VoiceActivityController | None):  # type: ignore[no-untyped-def]
    clock = AudioClock([audio], RingBuffer(SR * 120), 100, 0.0)
    sink = RecordingSink()
    stats = Pipeline(clock, policy, sink, vad).run(SessionInfo(source="fake", settings={}))
    return stats, sink


def test_only_speech_reaches_the_policy_and_each_pause_ends_an_utterance() -> None:
    audio = audio_of(("silence", 1.0), ("speech", 2.0), ("silence", 1.0), ("speech", 1.5), ("silence", 0.5))
    policy = FakePolicy()
    stats, sink = run(audio, policy, loudness_vad())
    fed = sum(e - s for s, e in policy.spans)
    assert 3.5 <= fed <= 4.3  # the speech (3.5 s) and the VAD's padding, not the silences
    assert all(s >= 0.8 for s, _ in policy.spans)  # nothing of the first second's silence
    ends = [e for e in sink.transcripts if e.utterance_end and e.confirmed]
    assert len(ends) == 2
    words = [w for e in sink.transcripts for w in e.confirmed]
    assert [w.id for w in words] == [0, 1, 2, 3] and stats.words == 4
    assert all(a.end <= b.start for a, b in zip(words, words[1:])), "times repaired: ordered, no overlap"
    assert policy.resets == 0  # a 1 s pause keeps the context


def test_a_long_silence_starts_a_fresh_context() -> None:
    audio = audio_of(("speech", 1.0), ("silence", RESET_CONTEXT_AFTER_S + 1), ("speech", 1.0))
    policy = FakePolicy()
    run(audio, policy, loudness_vad())
    assert policy.resets == 1


def test_the_same_tentative_tail_is_sent_once() -> None:
    policy = FakePolicy()
    _, sink = run(audio_of(("speech", 3.0)), policy, loudness_vad())
    tails = [e.tentative for e in sink.transcripts if not e.confirmed]
    assert policy.steps >= 4 and len(tails) == len(set(tails))  # each shown tail differs from the last


def test_without_a_vad_all_audio_is_one_contiguous_utterance() -> None:
    audio = audio_of(("silence", 1.0), ("speech", 1.0), ("silence", 1.0))
    policy = FakePolicy()
    stats, sink = run(audio, policy, None)
    assert policy.spans[0][0] == 0.0 and policy.spans[-1][1] == pytest.approx(3.0)
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(policy.spans, policy.spans[1:]))
    assert stats.words == 2 and sink.transcripts[-1].utterance_end


def test_silence_ends_with_a_note_and_no_words() -> None:
    stats, sink = run(audio_of(("silence", 2.0)), FakePolicy(), loudness_vad())
    assert stats.words == 0 and stats.extra["note"] == "no speech found" and not sink.transcripts
    assert stats.latency_mean_s is None and stats.audio_duration_s == pytest.approx(2.0)


def test_an_error_mid_stream_still_finishes_what_was_heard_and_ends_the_sinks() -> None:
    audio = audio_of(("speech", 1.0), ("silence", 1.0), ("speech", 2.0))
    policy = FakePolicy(fail_at_step=2)
    clock = AudioClock([audio], RingBuffer(SR * 120), 100, 0.0)
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="the model broke"):
        Pipeline(clock, policy, sink, loudness_vad()).run(SessionInfo(source="fake", settings={}))
    assert len(sink.ended) == 1 and sink.ended[0].error == "the model broke"  # type: ignore[attr-defined]
    assert sum(len(e.confirmed) for e in sink.transcripts) >= 2  # the first utterance and the flush


def test_the_gate_feeds_an_open_utterance_as_it_grows() -> None:
    gate = SpeechGate(loudness_vad())
    speech = np.full(SR, 0.5, dtype=np.float32)
    steps = gate.consume(speech, SR)
    assert gate.in_speech and steps[0].__class__.__name__ == "UtteranceStart"
    fed = [s for s in steps if s.__class__.__name__ == "Feed"]
    assert fed and fed[-1].end == gate.vad.position  # type: ignore[union-attr]
    assert [s.__class__.__name__ for s in gate.flush()] == ["Feed"] and not gate.in_speech


@dataclass
class SlowPolicy(FakePolicy):
    """A pass costs wall time in proportion to the audio held (as LocalAgreement's does)."""

    cost: float = 0.01  # wall seconds per second of audio held

    def step(self) -> PolicyUpdate:
        import time

        time.sleep(self.cost * sum(e - s for s, e in self._buffer))
        return super().step()


def _live_run(max_lag: float) -> tuple[Any, RecordingSink, list[float]]:
    # 60 s of speech fed 20x faster than real time: each pass takes longer as the audio it covers grows
    clock = AudioClock([audio_of(("speech", 60.0))], RingBuffer(SR * 120), 100, 20.0)
    clock.live = True  # as a microphone or a network stream: it does not wait for the pipeline
    sink = RecordingSink()
    pipeline = Pipeline(clock, SlowPolicy(), sink, loudness_vad(), max_lag=max_lag)
    clock.start()
    stats = pipeline.run(SessionInfo(source="fake", settings={}))
    return stats, sink, [ev.lag_s for ev in sink.statuses]


def test_a_live_stream_that_falls_behind_sheds_audio_and_says_so() -> None:
    stats, sink, lags = _live_run(max_lag=0.2)  # wall seconds: 4 s of this 20x audio
    assert stats.dropped_audio_s > 1.0 and max(lags) >= 0  # type: ignore[attr-defined]
    assert stats.max_lag_s < 4.0 + 2.0  # type: ignore[attr-defined]  # bounded: one pass beyond the limit
    words = [w for e in sink.transcripts for w in e.confirmed]
    assert words[-1].end > 55.0  # transcription went on to the newest audio
    assert any(ev.dropped_audio_s > 0 for ev in sink.statuses)  # said while it runs
    behind, _, _ = _live_run(max_lag=0.0)
    assert behind.dropped_audio_s == 0.0 and behind.max_lag_s > 8.0  # type: ignore[attr-defined]
