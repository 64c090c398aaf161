"""Joining confirmed words and speaker turns.

ASR confirms a word about a second after it is spoken; diart decides who spoke it ``latency`` seconds
later. So a word gets a provisional label when it is confirmed (the speaker of the newest decided turn)
and its final label once the turns covering it are decided: the speaker that overlaps it most. When
that differs from what was emitted, a revision (word id, label) is reported.

Labels are S1, S2, ... in order of first appearance in the decided turns, or the names given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from wlk_cli.diarization.diarizer import Turn
from wlk_cli.events import SpeakerTurn, Word


class SpeakerAttribution:
    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = list(names)
        self._labels: dict[int, str] = {}  # diart speaker index -> label
        self._turns: list[Turn] = []  # decided, in time order
        self._decided_until = 0.0
        self._pending: dict[int, Word] = {}  # emitted words whose turns are not all decided yet

    def label(self, speaker: int) -> str:
        if speaker not in self._labels:
            n = len(self._labels)
            self._labels[speaker] = self.names[n] if n < len(self.names) else f"S{n + 1}"
        return self._labels[speaker]

    @property
    def decided_until(self) -> float:
        return self._decided_until

    def add_turns(self, turns: Sequence[Turn], decided_until: float | None = None) -> list[SpeakerTurn]:
        """Take newly decided turns; returns them with their labels."""
        labelled = []
        for t in sorted(turns, key=lambda t: t.start):
            labelled.append(SpeakerTurn(float(t.start), float(t.end), self.label(t.speaker)))
            self._turns.append(t)
        ends = [t.end for t in turns]
        self._decided_until = max(
            self._decided_until, decided_until if decided_until is not None else max(ends, default=0.0)
        )
        return labelled

    def _best(self, word: Word) -> str | None:
        overlap: dict[int, float] = {}
        for t in reversed(self._turns):
            if t.end < word.start - 30.0:
                break
            o = min(t.end, word.end) - max(t.start, word.start)
            if o > 0:
                overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
        if overlap:
            return self.label(max(overlap, key=lambda s: overlap[s]))
        near = min(
            self._turns[-200:], key=lambda t: min(abs(t.start - word.end), abs(t.end - word.start)), default=None
        )
        return None if near is None else self.label(near.speaker)

    def assign(self, words: Sequence[Word]) -> list[Word]:
        """Label newly confirmed words (finally if decided, else provisionally) and remember the rest."""
        out = []
        for w in words:
            label = self._best(w) if self._turns else None
            labelled = dataclasses.replace(w, speaker=label)
            if w.end > self._decided_until and w.id is not None:
                self._pending[w.id] = labelled
            out.append(labelled)
        return out

    def revisions(self) -> list[tuple[int, str]]:
        """(word id, label) for pending words now decided whose label differs from the one emitted."""
        changed = []
        for word_id, w in list(self._pending.items()):
            if w.end > self._decided_until:
                continue
            del self._pending[word_id]
            label = self._best(w)
            if label is not None and label != w.speaker:
                changed.append((word_id, label))
        self._turns = self._turns[-2000:]  # bounded memory over long sessions
        return changed

    def finish(self) -> list[tuple[int, str]]:
        self._decided_until = float("inf")
        return self.revisions()
