"""Value types that flow through the pipeline. Imports nothing of the package.

All times are seconds of stream audio unless the name says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One word as the model spells it (leading space included)."""

    start: float
    end: float
    text: str
    prob: float
    speaker: str | None = None
    """Speaker label (S1, S2, ... or a name from --speaker-names); None without diarization."""
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "prob": round(self.prob, 4),
            "speaker": self.speaker,
        }


@dataclass(frozen=True)
class SessionInfo:
    """What a sink learns before the first transcript event."""

    source: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class TranscriptEvent:
    """Newly confirmed words (append-only) and the whole current tentative tail."""

    seq: int
    wall_s: float
    audio_s: float
    confirmed: tuple[Word, ...]
    tentative: tuple[Word, ...]
    language: str | None = None
    utterance_end: bool = False
    """A pause (or the end of the stream) closed the utterance: its words are all confirmed now."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "transcript",
            "seq": self.seq,
            "wall_s": round(self.wall_s, 3),
            "audio_s": round(self.audio_s, 3),
            "confirmed": [w.to_dict() for w in self.confirmed],
            "tentative": [w.to_dict() for w in self.tentative],
            "utterance_end": self.utterance_end,
        }


@dataclass(frozen=True)
class FinalEvent:
    """An utterance's final words (the final pass): they replace its confirmed words (``replaces``: their
    ids, none when the live pass confirmed none) once; a final utterance never changes again (only its
    words' speakers may, by ``speakers`` events). Ids are listed, not given as a range: the finals of
    earlier utterances may take ids while an utterance's live words are confirmed. ``kept_live``: why
    the final pass's words were not taken (the live words, with their ids, are final then)."""

    seq: int
    wall_s: float
    utterance: int
    replaces: tuple[int, ...]
    words: tuple[Word, ...]
    language: str | None = None
    kept_live: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "final",
            "seq": self.seq,
            "wall_s": round(self.wall_s, 3),
            "utterance": self.utterance,
            "replaces": list(self.replaces),
            "words": [w.to_dict() for w in self.words],
            "kept_live": self.kept_live,
        }


def apply_final(words: list[Word], event: FinalEvent) -> list[Word]:
    """``words`` (in time order, with ids) with the final words of ``event`` in place of those it replaces."""
    gone = set(event.replaces)
    kept = [w for w in words if w.id not in gone]
    if not event.words:
        return kept
    at = event.words[0].start
    k = next((i for i, w in enumerate(kept) if w.start > at), len(kept))
    if gone:  # where the replaced words were (times may differ a little between the passes)
        k = next((i for i, w in enumerate(words) if w.id in gone), k)
    return [*kept[:k], *event.words, *kept[k:]]


@dataclass(frozen=True)
class StatusEvent:
    """Progress of the stream: how much audio was released, processed and how far behind."""

    wall_s: float
    audio_s: float
    lag_s: float
    total_s: float | None = None
    speech: bool | None = None
    """VAD state: in an utterance or in silence (None without VAD)."""
    level_db: float | None = None
    """Input level of the newest block (live capture)."""
    latency_s: float | None = None
    """Confirmation latency of the newest confirmed word."""
    processing_s: float | None = None
    """Seconds spent in the model so far."""
    dropped_frames: int = 0
    """Blocks lost or overflowed at the source."""
    diarization_lag_s: float | None = None
    """How far speaker decisions trail the newest audio (None without diarization)."""
    dropped_audio_s: float = 0.0
    """Audio shed so far because the stream fell too far behind (live input, --max-lag)."""


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of stream time the diarizer gave to one speaker."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakersEvent:
    """Diarization revised the speaker of words already emitted: ``updates`` holds (word id, new label)."""

    seq: int
    wall_s: float
    updates: tuple[tuple[int, str], ...]
    refined: bool = False
    """The changes of a refine (the whole session clustered again), not of a decision coming in."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "speakers",
            "seq": self.seq,
            "wall_s": round(self.wall_s, 3),
            "updates": [{"id": i, "speaker": s} for i, s in self.updates],
            "refined": self.refined,
        }


@dataclass
class EndStats:
    """Summary of a finished (or interrupted) stream."""

    audio_duration_s: float
    processing_time_s: float
    real_time_factor: float
    cpu_time_s: float
    words: int
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p90_s: float | None
    first_word_latency_s: float | None
    max_lag_s: float
    dropped_audio_s: float
    language: str | None
    dropped_frames: int = 0
    interrupted: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        d: dict[str, Any] = {
            "audio_duration_s": r(self.audio_duration_s),
            "processing_time_s": r(self.processing_time_s),
            "real_time_factor": r(self.real_time_factor),
            "cpu_time_s": r(self.cpu_time_s),
            "words": self.words,
            "latency_mean_s": r(self.latency_mean_s),
            "latency_p50_s": r(self.latency_p50_s),
            "latency_p90_s": r(self.latency_p90_s),
            "first_word_latency_s": r(self.first_word_latency_s),
            "max_lag_s": r(self.max_lag_s),
            "dropped_audio_s": r(self.dropped_audio_s),
            "dropped_frames": self.dropped_frames,
            "language": self.language,
            "interrupted": self.interrupted,
            "error": self.error,
        }
        d.update(self.extra)
        return d
