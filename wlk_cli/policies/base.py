"""The streaming policy protocol: insert audio, step, finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

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
