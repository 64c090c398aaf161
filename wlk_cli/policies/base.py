"""The streaming policy protocol: insert audio, step, finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.events import Word


@dataclass
class PolicyUpdate:
    """Words confirmed by this call (append-only) and the whole tentative tail after it."""

    confirmed: list[Word] = field(default_factory=list)
    tentative: list[Word] = field(default_factory=list)


class StreamingPolicy(Protocol):
    """Turns a growing audio buffer into confirmed and tentative words.

    The pipeline inserts contiguous audio of the current utterance, calls ``step`` when ``ready``,
    and ``finish`` when a pause ends the utterance or the stream ends.
    """

    def insert_audio(self, audio: np.ndarray, start: float) -> None:
        """Append audio whose first sample is at stream time ``start`` (seconds)."""
        ...

    def ready(self) -> bool:
        """True when enough new audio arrived for another iteration."""
        ...

    def step(self) -> PolicyUpdate:
        """Run one iteration on the buffer."""
        ...

    def finish(self) -> PolicyUpdate:
        """Commit everything left and empty the buffer (end of utterance or stream)."""
        ...

    def reset_context(self) -> None:
        """Forget the text used to prompt the model (after a long silence)."""
        ...

    @property
    def transcribed_until(self) -> float:
        """Stream time up to which audio has been through the model."""
        ...


class AudioBuffer:
    """The uncommitted audio of a policy, with the stream time of its first sample; an iteration is due
    once ``min_chunk_size`` seconds of new audio are in. A policy owns one and changes it only through
    these methods.

    Audio lost upstream becomes silence (stream times stay true); audio that overlaps what is held is
    cut to its new part.
    """

    def __init__(self, min_chunk_size: float) -> None:
        self._audio = np.zeros(0, dtype=np.float32)
        self._offset = 0.0  # stream time of self._audio[0]
        self._new_samples = 0  # inserted since the last iteration
        self._min_chunk_samples = min_chunk_size * SAMPLE_RATE
        self._transcribed_until = 0.0

    @property
    def audio(self) -> np.ndarray:
        """The samples held (read them, do not change them)."""
        return self._audio

    @property
    def offset(self) -> float:
        """Stream time of the first sample held."""
        return self._offset

    @property
    def duration(self) -> float:
        return self._audio.size / SAMPLE_RATE

    @property
    def end(self) -> float:
        """Stream time just after the last sample held."""
        return self._offset + self.duration

    @property
    def empty(self) -> bool:
        return self._audio.size == 0

    @property
    def has_new(self) -> bool:
        """Audio came in since the last iteration."""
        return self._new_samples > 0

    @property
    def transcribed_until(self) -> float:
        """Stream time up to which the buffer has been through the model (``transcribed`` marks it)."""
        return self._transcribed_until

    def ready(self) -> bool:
        return self._new_samples >= self._min_chunk_samples

    def insert(self, audio: np.ndarray, start: float) -> None:
        if self._audio.size == 0:
            self._offset = start
        else:
            gap = int(round((start - self._offset) * SAMPLE_RATE)) - self._audio.size
            if gap > 0:
                audio = np.concatenate([np.zeros(gap, dtype=np.float32), audio])
            elif gap < 0:
                audio = audio[-gap:]
        if audio.size:
            self._audio = np.concatenate([self._audio, audio.astype(np.float32, copy=False)])
            self._new_samples += audio.size

    def consumed(self) -> None:
        """An iteration began: the audio in so far is not new any more."""
        self._new_samples = 0

    def transcribed(self) -> float:
        """A pass went over everything held (and consumed it); returns the stream time it reached."""
        self._new_samples = 0
        self._transcribed_until = self.end
        return self._transcribed_until

    def index(self, t: float) -> int:
        """The sample index of stream time ``t`` in the buffer (clamped to it)."""
        return max(0, min(int(round((t - self._offset) * SAMPLE_RATE)), self._audio.size))

    def since(self, t: float) -> np.ndarray:
        """The samples from stream time ``t`` on."""
        return self._audio[self.index(t) :]

    def cut_before(self, t: float) -> int:
        """Drop the audio before stream time ``t``; returns the samples dropped."""
        k = self.index(t)
        self._audio = self._audio[k:]
        self._offset += k / SAMPLE_RATE
        return k

    def clear(self) -> None:
        """Drop everything (the end of an utterance); the next insert sets the stream time afresh."""
        self._audio = np.zeros(0, dtype=np.float32)
        self._new_samples = 0


class BufferedPolicy:
    """What every policy shares: its :class:`AudioBuffer` and the protocol methods that are the
    buffer's (a policy changes the buffer only through its methods)."""

    def __init__(self, min_chunk_size: float) -> None:
        self.buffer = AudioBuffer(min_chunk_size)

    def insert_audio(self, audio: np.ndarray, start: float) -> None:
        self.buffer.insert(audio, start)

    def ready(self) -> bool:
        return self.buffer.ready()

    @property
    def transcribed_until(self) -> float:
        return self.buffer.transcribed_until

    @property
    def buffer_duration(self) -> float:
        return self.buffer.duration
