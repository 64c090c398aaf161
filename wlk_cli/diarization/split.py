"""Known voices split a local speaker that carries two of them.

segmentation-3.0 sometimes keeps one local speaker across a short pause where one voice stops and
another starts (measured on the enrolment dialogue: one continuous local speaker over Hugo, 0.75 s of
silence, then Vera, in every chunk that holds both), so the chunk's one embedding is a blend of two
voices and diart gives both the same speaker. When the stream expects known voices, each local speaker
is cut at the pauses Silero hears inside it, the parts are embedded, and a cut is kept only where the
parts on its two sides are nearest two *different* known voices, each within the naming distance, or
where one side is within it of a known voice and the other is farther than it from every profile (an
unknown voice next to a known one: enrolment678's unknown voice, 0.53 from a profile, shared a local
speaker with that known voice, then its centre).
Every other part goes back where it was, so a chunk with nothing to cut reaches the clustering exactly
as diart made it. Cutting at every pause, or wherever two parts embed apart, was measured and dropped:
it splits one unknown voice's pauses on meeting audio (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.vad import SPEECH_PROB, WINDOW, SileroModel, SileroVAD

PAUSE_S = 0.3  # the shortest pause a cut is tried at
SIDE_S = 0.5  # the least speech of the local speaker on each side of a cut


class SpeechTrack:
    """Silero's speech/no-speech decision for each 32 ms window of the stream, the last ``keep_s``."""

    def __init__(self, model: SileroModel, keep_s: float) -> None:
        self._vad = SileroVAD(model)
        self._keep = int(keep_s * SAMPLE_RATE / WINDOW) + 1
        self._speech = np.zeros(0, dtype=bool)
        self._first = 0  # the window index of _speech[0]
        self._rest = np.zeros(0, dtype=np.float32)  # samples short of a whole window

    @property
    def heard_s(self) -> float:
        return (self._first + self._speech.size) * WINDOW / SAMPLE_RATE

    def feed(self, audio: np.ndarray) -> None:
        x = np.concatenate([self._rest, audio.astype(np.float32, copy=False)])
        n = x.size // WINDOW
        new = np.array([self._vad(x[i * WINDOW : (i + 1) * WINDOW]) >= SPEECH_PROB for i in range(n)], dtype=bool)
        self._rest = x[n * WINDOW :]
        self._speech = np.concatenate([self._speech, new])
        if self._speech.size > self._keep:
            drop = self._speech.size - self._keep
            self._speech = self._speech[drop:]
            self._first += drop

    def silent_at(self, times: np.ndarray) -> np.ndarray:
        """For each stream time (s): no speech heard there (times before the stream, or not yet heard or
        no longer kept, count as silence)."""
        k = np.floor(times * SAMPLE_RATE / WINDOW).astype(int) - self._first
        inside = (times >= 0) & (k >= 0) & (k < self._speech.size)
        out = np.ones(times.shape, dtype=bool)
        out[inside] = ~self._speech[k[inside]]
        return out


def cuts(active: np.ndarray, gap: int, side: int) -> list[int]:
    """Frames at which to cut one local speaker: the middle of each pause of at least ``gap`` frames
    with at least ``side`` active frames between it and the previous cut (or the start), and after it."""
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return []
    out: list[int] = []
    last = 0
    for k in np.flatnonzero(np.diff(idx) >= gap):
        left = int(np.count_nonzero(active[last : idx[k] + 1]))
        right = int(np.count_nonzero(active[idx[k + 1] :]))
        if left >= side and right >= side:
            last = (int(idx[k]) + int(idx[k + 1])) // 2
            out.append(last)
    return out


def two_known_voices(a: np.ndarray, b: np.ndarray, profiles: np.ndarray, within: float) -> bool:
    """Whether embeddings ``a`` and ``b`` (unit) are two voices by the profiles: nearest two different
    profiles each within ``within``, or one within ``within`` of a profile and the other not (an unknown
    voice next to a known one)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    da, db = 1.0 - profiles @ a, 1.0 - profiles @ b
    ia, ib = int(np.argmin(da)), int(np.argmin(db))
    if ia != ib and bool(da[ia] < within) and bool(db[ib] < within):
        return True
    return bool(da[ia] < within) != bool(db[ib] < within)


class KnownVoiceSplit:
    """diart's segmentation block for a stream expecting known voices: the segmentation, with a local
    speaker split in two (a new column) where the parts are two known voices. Set ``chunk_start`` (stream
    seconds of the chunk's first sample) before each pipeline step; the stream's audio goes to ``speech``."""

    def __init__(self, segmentation: Any, embedding: Any, profiles: np.ndarray, within: float, speech: SpeechTrack):
        self.segmentation = segmentation
        self.embedding = embedding
        self.profiles = profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
        self.within = within
        self.speech = speech
        self.chunk_start = 0.0
        self.kept = 0  # cuts kept so far (for benchmarks and tests)

    def __call__(self, batch: Any) -> Any:
        seg = self.segmentation(batch)  # (batch, frames, local speakers)
        frames = seg.shape[1]
        duration = batch.shape[1] / SAMPLE_RATE
        times = self.chunk_start + (np.arange(frames) + 0.5) * duration / frames
        silent = self.speech.silent_at(times)
        gap = max(1, round(PAUSE_S * frames / duration))
        side = max(1, round(SIDE_S * frames / duration))
        plans = [self._parts(seg[b].numpy(), silent, gap, side) for b in range(seg.shape[0])]
        if not any(len(p) > 1 for plan in plans for p in plan):
            return seg
        emb = self.embedding(batch, _columns(seg, plans))
        unit = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        out, before = [], self.kept
        for b, plan in enumerate(plans):
            columns, extra = [], []
            c = 0
            for s, parts in enumerate(plan):
                keep = [0]  # the part each kept piece starts at
                for i in range(1, len(parts)):
                    if self.apart(unit[b, c + i - 1].numpy(), unit[b, c + i].numpy()):
                        keep.append(i)
                c += len(parts)
                pieces = [_span(seg[b, :, s], parts, lo, hi) for lo, hi in zip(keep, [*keep[1:], len(parts)])]
                columns.append(pieces[0])
                extra += pieces[1:]
                self.kept += len(pieces) - 1
            out.append(columns + extra)
        if self.kept == before:  # no cut kept: the segmentation as diart made it
            return seg
        return _stack(seg, out)

    def apart(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether two neighbouring parts (unit embeddings) are two voices: here, two known ones."""
        return two_known_voices(a, b, self.profiles, self.within)

    @staticmethod
    def _parts(seg: np.ndarray, silent: np.ndarray, gap: int, side: int) -> list[list[tuple[int, int]]]:
        """Per local speaker, its frame ranges between candidate cuts (one range: nothing to try)."""
        frames = seg.shape[0]
        plan = []
        for s in range(seg.shape[1]):
            at = cuts((seg[:, s] >= 0.5) & ~silent, gap, side)
            plan.append(list(zip([0, *at], [*at, frames])))
        return plan


def _span(column: Any, parts: list[tuple[int, int]], lo: int, hi: int) -> Any:
    """``column`` kept only over parts ``lo``..``hi - 1``."""
    import torch

    out = torch.zeros_like(column)
    a, b = parts[lo][0], parts[hi - 1][1]
    out[a:b] = column[a:b]
    return out


def _columns(seg: Any, plans: list[list[list[tuple[int, int]]]]) -> Any:
    """Every part of every local speaker as its own column (what gets embedded to decide the cuts)."""
    return _stack(seg, [[_span(seg[b, :, s], p, i, i + 1) for s, p in enumerate(plan) for i in range(len(p))]
                        for b, plan in enumerate(plans)])  # fmt: skip


def _stack(seg: Any, columns: list[list[Any]]) -> Any:
    import torch

    width = max(len(c) for c in columns)
    zero = torch.zeros_like(seg[0, :, 0])
    return torch.stack([torch.stack(c + [zero] * (width - len(c)), dim=1) for c in columns])
