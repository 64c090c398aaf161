"""The ASR backend protocol: transcribe a short buffer of audio with word timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

FRAME_S = 0.02  # one Whisper encoder frame, and the step of its timestamp tokens
TOKENS_PER_S = 12.0  # more tokens than this per second of audio (plus TOKEN_SLACK) is a runaway decoder
TOKEN_SLACK = 16
PROMPT_CHARS = 200  # of the text before, given to Whisper as its prompt (live passes, finals, refills)


def token_budget(seconds: float, per_s: float = TOKENS_PER_S) -> int:
    """The most tokens a decoding pass over ``seconds`` of audio may produce (both policies)."""
    return int(per_s * seconds) + TOKEN_SLACK


@dataclass(frozen=True)
class AsrWord:
    """A word with times in seconds from the start of the audio passed to ``transcribe``."""

    start: float
    end: float
    text: str
    prob: float


@dataclass(frozen=True)
class AsrSegment:
    """A run of words the model closed with a timestamp (Whisper's segment)."""

    start: float
    end: float
    words: tuple[AsrWord, ...]


@dataclass
class AsrResult:
    segments: list[AsrSegment] = field(default_factory=list)
    language: str | None = None
    language_prob: float | None = None
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0

    @property
    def words(self) -> list[AsrWord]:
        return [w for s in self.segments for w in s.words]


class AsrBackend(Protocol):
    """A speech recogniser that a streaming policy calls on its current buffer."""

    name: str
    """Model identity for the session line and the output files."""

    def transcribe(self, audio: np.ndarray, prompt: str = "") -> AsrResult:
        """Transcribe 16 kHz mono float32 audio (at most 30 s), conditioned on ``prompt`` text."""
        ...

    @property
    def language(self) -> str | None:
        """The language in use: fixed by the user, or detected once enough speech was heard."""
        ...
