"""Fakes for unit-testing logic without a model. Never used by the product."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from wlk_cli.asr.base import AsrResult, AsrSegment, AsrWord
from wlk_cli.events import Word

SR = 16000
SCALE = 1e-6  # marker audio: each sample holds its absolute index times SCALE


def marker_audio(start_sample: int, n: int) -> np.ndarray:
    """Audio whose samples encode their own absolute position, so a fake ASR knows where it is."""
    return (np.arange(start_sample, start_sample + n, dtype=np.float64) * SCALE).astype(np.float32)


def buffer_span(audio: np.ndarray) -> tuple[float, float]:
    start = round(float(audio[0]) / SCALE) / SR if audio.size else 0.0
    return start, start + audio.size / SR


@dataclass
class StreamASR:
    """Returns the scripted words of a stream that lie wholly inside the buffer it is given.

    ``words`` are (start, end, text) in stream time; ``segment_gap`` closes a Whisper segment after a
    word followed by a gap this long; ``mangle`` may rewrite each hypothesis (to script disagreements).
    """

    words: Sequence[tuple[float, float, str]]
    segment_gap: float = 0.3
    prob: float = 0.9
    mangle: Callable[[int, list[AsrWord]], list[AsrWord]] | None = None
    name: str = "fake"
    calls: list[tuple[float, float, str]] = field(default_factory=list)
    language: str | None = "en"

    def transcribe(self, audio: np.ndarray, prompt: str = "") -> AsrResult:
        start, end = buffer_span(audio)
        self.calls.append((start, end, prompt))
        inside = [w for w in self.words if w[0] >= start - 1e-6 and w[1] <= end + 1e-6]
        words = [AsrWord(s - start, e - start, t, self.prob) for s, e, t in inside]
        if self.mangle is not None:
            words = self.mangle(len(self.calls) - 1, words)
        segments: list[AsrSegment] = []
        current: list[AsrWord] = []
        for i, w in enumerate(words):
            current.append(w)
            nxt = words[i + 1] if i + 1 < len(words) else None
            if nxt is not None and nxt.start - w.end >= self.segment_gap:
                segments.append(AsrSegment(current[0].start, w.end, tuple(current)))
                current = []
        if current:
            segments.append(AsrSegment(current[0].start, float("inf"), tuple(current)))
        return AsrResult(segments=segments, language="en")


@dataclass
class ScriptedASR:
    """Returns the given hypotheses in turn (word lists of (start, end, text) relative to the buffer)."""

    hypotheses: list[list[tuple[float, float, str]]]
    probs: dict[str, float] = field(default_factory=dict)
    name: str = "scripted"
    language: str | None = "en"
    calls: int = 0

    def transcribe(self, audio: np.ndarray, prompt: str = "") -> AsrResult:
        hyp = self.hypotheses[min(self.calls, len(self.hypotheses) - 1)]
        self.calls += 1
        words = tuple(AsrWord(s, e, t, self.probs.get(t.strip(), 0.5)) for s, e, t in hyp)
        return AsrResult(segments=[AsrSegment(0.0, float("inf"), words)] if words else [], language="en")


def sentence_stream(
    n_words: int, word_s: float = 0.3, gap_every: int = 8, gap_s: float = 0.5
) -> list[tuple[float, float, str]]:
    """A stream of distinct words, a sentence end and a pause every ``gap_every`` words."""
    out = []
    t = 0.2
    for i in range(n_words):
        text = f" w{i}" + ("." if (i + 1) % gap_every == 0 else "")
        out.append((round(t, 3), round(t + word_s - 0.05, 3), text))
        t += word_s + (gap_s if (i + 1) % gap_every == 0 else 0.0)
    return out


class ScriptedSession:
    """A SessionControl that plays scripted events to the TUI, for rendering and key tests only."""

    def __init__(self, events: list[object], hold: bool = True) -> None:
        import threading

        self.source_label = "scripted"
        self.model = "tiny.en"
        self.policy = "local-agreement"
        self.events = events
        self.hold = hold
        self.paused_calls: list[bool] = []
        self.saved = 0
        self.named: list[str] = []
        self.stop_calls: list[bool | None] = []
        self.stopped = threading.Event()

    def run(self, sinks: list[object]) -> object:
        from wlk_cli.events import EndStats, FinalEvent, StatusEvent, TranscriptEvent

        for ev in self.events:
            for s in sinks:
                if isinstance(ev, TranscriptEvent):
                    s.transcript(ev)  # type: ignore[attr-defined]
                elif isinstance(ev, FinalEvent):
                    s.final(ev)  # type: ignore[attr-defined]
                elif isinstance(ev, StatusEvent):
                    s.status(ev)  # type: ignore[attr-defined]
        if self.hold:
            self.stopped.wait(30)
        return EndStats(10.0, 10.0, 1.0, 1.0, 0, None, None, None, None, 0.0, 0.0, "en")

    def pause(self, paused: bool) -> None:
        self.paused_calls.append(paused)

    def save(self) -> list[object]:
        self.saved += 1
        return []

    def name_speaker(self, name: str) -> str:
        from wlk_cli.errors import UsageError

        if name == "S9":
            raise UsageError("speaker name 'S9' is how wlk labels unknown speakers; choose another")
        self.named.append(name)
        return f"S1 is {name} now"

    def stop(self, interrupted: bool | None = None) -> None:
        self.stop_calls.append(interrupted)
        self.stopped.set()


@dataclass
class FakeWord:
    start: float
    end: float
    word: str
    probability: float = 0.9


@dataclass
class FakeSegment:
    end: float
    words: list[FakeWord]


@dataclass
class FakeInfo:
    language: str = "en"


@dataclass
class ScriptedWhisper:
    """faster-whisper's ``WhisperModel.transcribe`` on marker audio: the scripted words (start, end, text in
    stream seconds) that lie wholly inside the audio it is given, times from its start; ``deaf``: stream
    stretches (start, end) whose words it does not hear on a first pass over a longer stretch (as Whisper
    skips words at a window's end), but hears when given a clip of at most ``deaf_over_s`` seconds."""

    words: Sequence[tuple[float, float, str]]
    deaf: Sequence[tuple[float, float]] = ()
    deaf_over_s: float = 20.0
    calls: list[tuple[float, float, str | None]] = field(default_factory=list)

    def transcribe(self, audio: np.ndarray, **kwargs: object) -> tuple[list[FakeSegment], FakeInfo]:
        start, end = buffer_span(audio)
        self.calls.append((start, end, kwargs.get("initial_prompt")))  # type: ignore[arg-type]
        deaf = end - start > self.deaf_over_s
        clips = kwargs.get("clip_timestamps") or [0.0, end - start]
        spans = list(zip(clips[::2], clips[1::2], strict=True))  # type: ignore[index]
        out = []
        for a, b, text in self.words:
            if a < start - 1e-6 or b > end + 1e-6:
                continue
            if not any(start + x - 1e-6 <= a and b <= start + y + 1e-6 for x, y in spans):
                continue
            if deaf and any(a < y and b > x for x, y in self.deaf):
                continue
            out.append(FakeWord(a - start, b - start, text))
        return ([FakeSegment(out[-1].end, out)] if out else []), FakeInfo()

    def clip(self, audio: np.ndarray, language: str | None, prompt: str | None) -> list[Word]:
        """The same as a ``ClipDecoder`` (an utterance or a stretch decoded again)."""
        segments, _ = self.transcribe(audio, initial_prompt=prompt)
        return [Word(w.start, w.end, w.word, w.probability) for s in segments for w in s.words]
