"""Joining confirmed words and speaker turns.

ASR confirms a word about a second after it is spoken; diart decides who spoke it ``latency`` seconds
later. So a word gets a provisional label when it is confirmed (the speaker of the newest decided turn)
and its final label once the turns covering it are decided: the speaker that overlaps it most (in
overlapped speech, the one heard longest over the word). When that differs from what was emitted, a
revision (word id, label) is reported.

A refine (``refine.py``) replaces the turns it covers; its speakers are matched to the labels shown by
the time they share, so names stay, and every word it covers is labelled again. Later live turns of a
diart speaker go to the label its time went to.

Labels are S1, S2, ... in order of first appearance in the decided turns, or the names given.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

import numpy as np

from wlk_cli.diarization.diarizer import Turn
from wlk_cli.diarization.refine import Refined, RefinedTurn, match
from wlk_cli.events import SpeakerTurn, Word

MAX_TURNS = 4000  # decided turns kept (older words are final by then)
MAX_WORDS = 20000  # words kept for a refine to label again (about two hours of speech)
_NEW = 1000  # speaker numbers for refined speakers no live one matched (diart's stay below)


class SpeakerAttribution:
    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = list(names)
        self._labels: dict[int, str] = {}  # speaker number -> label
        self._alias: dict[int, int] = {}  # diart speaker -> speaker number, after a refine
        self._turns: list[Turn] = []  # decided, by start
        self._starts: list[float] = []
        self._decided_until = 0.0
        self._pending: dict[int, Word] = {}  # emitted words whose turns are not all decided yet
        self._words: dict[int, Word] = {}  # emitted words with their labels now, for a refine
        self._new = _NEW
        self._known: dict[int, str] = {}  # speaker number -> the known voice it is
        self._renamed = False  # a label already shown was replaced by a name

    def label(self, speaker: int) -> str:
        """A speaker's label: its known voice's name, else the first of ``names`` / S1, S2, ... that no
        speaker shows now (a label freed by naming its speaker is given again, so the unknown voices
        read S1, S2, ... with none missing)."""
        if speaker not in self._labels:
            if speaker in self._known:
                self._labels[speaker] = self._known[speaker]
            else:
                taken = set(self._labels.values())
                n = 0
                while self._unknown_label(n) in taken:
                    n += 1
                self._labels[speaker] = self._unknown_label(n)
        return self._labels[speaker]

    def _unknown_label(self, n: int) -> str:
        return self.names[n] if n < len(self.names) else f"S{n + 1}"

    def shown_turns(self) -> list[SpeakerTurn]:
        """Every decided turn kept (the last ``MAX_TURNS``), with its label now."""
        return [SpeakerTurn(float(t.start), float(t.end), self.label(t.speaker)) for t in self._turns]

    def take_renamed(self) -> bool:
        """Whether a label already given was replaced by a name since the last call: the turns sent with
        the old label need sending again (``shown_turns``)."""
        renamed, self._renamed = self._renamed, False
        return renamed

    def name(self, names: dict[int, str], refined: bool = False) -> list[tuple[int, str]]:
        """Known voices found: diart's speakers (or, ``refined``, speaker numbers) -> profile names.
        Returns (word id, name) for the words already labelled otherwise."""
        changed = []
        numbers = {speaker if refined else self._alias.get(speaker, speaker) for speaker in names}
        for speaker, name in names.items():
            number = speaker if refined else self._alias.get(speaker, speaker)
            if self._known.get(number) == name:
                continue
            # a name moves off a speaker no longer given it (two speakers named alike both keep it)
            for other in [n for n, v in self._known.items() if v == name and n not in numbers]:
                del self._known[other]
            self._known[number] = name
            old = self._labels.get(number)
            self._labels[number] = name
            if old is None or old == name:
                continue
            self._renamed = True
            for word_id, w in list(self._words.items()):
                if w.speaker == old:
                    changed.append((word_id, name))
                    self._relabel(word_id, name)
        return changed

    def _relabel(self, word_id: int, label: str) -> None:
        """A word already labelled gets another label (and a word not yet sent, the new one)."""
        self._words[word_id] = dataclasses.replace(self._words[word_id], speaker=label)
        if word_id in self._pending:
            self._pending[word_id] = self._words[word_id]

    @property
    def decided_until(self) -> float:
        return self._decided_until

    def _insert(self, t: Turn) -> None:
        k = bisect.bisect_right(self._starts, t.start)
        self._turns.insert(k, t)
        self._starts.insert(k, t.start)

    def add_turns(self, turns: Sequence[Turn], decided_until: float | None = None) -> list[SpeakerTurn]:
        """Take newly decided turns; returns them with their labels."""
        labelled = []
        for t in sorted(turns, key=lambda t: t.start):
            t = Turn(t.start, t.end, self._alias.get(t.speaker, t.speaker))
            labelled.append(SpeakerTurn(float(t.start), float(t.end), self.label(t.speaker)))
            self._insert(t)
        ends = [t.end for t in turns]
        self._decided_until = max(
            self._decided_until, decided_until if decided_until is not None else max(ends, default=0.0)
        )
        return labelled

    def _best(self, word: Word) -> str | None:
        overlap: dict[int, float] = {}
        k = bisect.bisect_left(self._starts, word.end)
        for t in reversed(self._turns[max(0, k - 400) : k]):  # turns that start before the word ends
            o = min(t.end, word.end) - max(t.start, word.start)
            if o > 0:
                overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
        if overlap:
            return self.label(max(overlap, key=lambda s: overlap[s]))
        near = self._turns[max(0, k - 100) : k + 100]
        best = min(near, key=lambda t: min(abs(t.start - word.end), abs(t.end - word.start)), default=None)
        return None if best is None else self.label(best.speaker)

    def _keep(self, w: Word) -> None:
        if w.id is not None:
            self._words[w.id] = w
            if len(self._words) > MAX_WORDS:
                del self._words[next(iter(self._words))]

    def assign(self, words: Sequence[Word]) -> list[Word]:
        """Label newly confirmed words (finally if decided, else provisionally) and remember the rest."""
        out = []
        for w in words:
            label = self._best(w) if self._turns else None
            labelled = dataclasses.replace(w, speaker=label)
            if w.end > self._decided_until and w.id is not None:
                self._pending[w.id] = labelled
            self._keep(labelled)
            out.append(labelled)
        return out

    def forget(self, ids: Sequence[int]) -> None:
        """Words replaced by the final pass: no revision or refine names them again."""
        for word_id in ids:
            self._words.pop(word_id, None)
            self._pending.pop(word_id, None)

    def labelled(self, words: Sequence[Word]) -> list[Word]:
        """``words`` (emitted before) with the labels they have now."""
        return [self._words.get(w.id, w) if w.id is not None else w for w in words]

    def revisions(self) -> list[tuple[int, str]]:
        """(word id, label) for pending words now decided whose label differs from the one emitted."""
        changed = []
        for word_id, w in list(self._pending.items()):
            if w.end > self._decided_until:
                continue
            del self._pending[word_id]
            label = self._best(w)
            if label is not None and label != self._words.get(word_id, w).speaker:
                changed.append((word_id, label))
                self._keep(dataclasses.replace(w, speaker=label))
        if len(self._turns) > MAX_TURNS:  # bounded memory over long sessions
            del self._turns[: len(self._turns) - MAX_TURNS], self._starts[: len(self._starts) - MAX_TURNS]
        return changed

    def refine(self, refined: Refined) -> tuple[list[SpeakerTurn], list[tuple[int, str]]]:
        """Replace the turns ``refined`` covers; returns all of its turns labelled and (word id, label)
        for every word whose label changed."""
        shown = [RefinedTurn(t.start, t.end, t.speaker) for t in self._turns if t.end > refined.start]
        to_shown = match(refined.turns, shown)
        for cluster in sorted({t.speaker for t in refined.turns} - set(to_shown)):
            to_shown[cluster] = self._new
            self._new += 1
        self._alias = {live: to_shown[c] for live, c in refined.live_to_cluster.items() if c in to_shown}
        kept = [t for t in self._turns if t.end <= refined.start]
        self._turns, self._starts = kept, [t.start for t in kept]
        for t in refined.turns:
            self._insert(Turn(t.start, t.end, to_shown[t.speaker]))
        changed = dict(self.name({to_shown[c]: n for c, n in refined.names.items() if c in to_shown}, refined=True))
        labelled = [SpeakerTurn(t.start, t.end, self.label(to_shown[t.speaker])) for t in refined.turns]
        for word_id, w in list(self._words.items()):
            if w.end <= refined.start:
                continue
            label = self._best(w)
            if label is not None and label != w.speaker:
                changed[word_id] = label
                self._relabel(word_id, label)
        return labelled, list(changed.items())

    def current(self) -> tuple[int, str, float] | None:
        """The speaker of the newest word: (speaker number, label, seconds of its turns so far)."""
        if not self._words:
            return None
        label = next(reversed(self._words.values())).speaker
        numbers = [n for n, lab in self._labels.items() if lab == label]
        if not numbers:
            return None
        spoken = sum(t.end - t.start for t in self._turns if t.speaker == numbers[0])
        return numbers[0], str(label), spoken

    def centre(self, number: int, centres: dict[int, np.ndarray]) -> np.ndarray | None:
        """The unit mean of the centres of diart's speakers shown as ``number``."""
        parts = [c / np.linalg.norm(c) for raw, c in centres.items() if self._alias.get(raw, raw) == number]
        parts = [p for p in parts if np.isfinite(p).all()]
        if not parts:
            return None
        mean = np.sum(parts, axis=0)
        out: np.ndarray = mean / np.linalg.norm(mean)
        return out

    def finish(self) -> list[tuple[int, str]]:
        self._decided_until = float("inf")
        return self.revisions()
