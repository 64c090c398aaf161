"""Word-level helpers of the policies: n-gram overlap, loop detection, times (shared text rules are
in ``wlk_cli.text``)."""

from __future__ import annotations

from collections.abc import Sequence

from wlk_cli.events import Word
from wlk_cli.text import norm


def overlap_ngram(tail: Sequence[Word], head: Sequence[Word], max_n: int = 5) -> int:
    """Length of the longest n-gram (n <= max_n) that ends ``tail`` and starts ``head``."""
    best = 0
    for n in range(1, min(max_n, len(tail), len(head)) + 1):
        if [norm(w.text) for w in tail[-n:]] == [norm(w.text) for w in head[:n]]:
            best = n
    return best


MIN_WORD_S = 0.1
"""A spoken word takes at least this long: a repeat squeezed into less audio was not said."""
WORD_S = 0.02
"""The shortest word time the engine reports (one Whisper frame): no word has zero length."""


def _has_audio(copy: Sequence[Word], after: float) -> bool:
    """Whether a copy of a repeated phrase has audio of its own: it starts after ``after`` (the end of
    the copy before it) and its words last at least MIN_WORD_S each on average (their own times, not
    the span: a loop's copy is words of no length with gaps between them)."""
    heard = sum(max(0.0, w.end - w.start) for w in copy)
    return copy[0].start >= after - 0.05 and heard >= MIN_WORD_S * len(copy)


def cut_repetition(words: list[Word]) -> list[Word]:
    """Drop the copies of a repeated n-gram that have no audio of their own.

    Where an n-gram is said again back to back, each further copy (and a partial copy after them) is
    checked: a copy squeezed into too little time, or lying on the audio of the copy before, was not
    said (Whisper's loop) and is dropped. Genuine repeats ("Hello? Hello?", "no, no, no", "very
    very") each take their own audio and stay.
    """
    keys = [norm(w.text) for w in words]
    out: list[Word] = []
    i = 0
    while i < len(words):
        run = _repeat_run(keys, i)
        if run is None:
            out.append(words[i])
            i += 1
            continue
        n, reps = run
        out += words[i : i + n]
        dropped = False
        for k in range(1, reps):
            copy = words[i + k * n : i + (k + 1) * n]
            if _has_audio(copy, out[-1].end):
                out += copy
            else:
                dropped = True
        i += reps * n
        if dropped:  # the loop may stop part-way through one more copy
            m = 0
            while m < n - 1 and i + m < len(words) and keys[i + m] == keys[i - n + m]:
                m += 1
            if m and not _has_audio(words[i : i + m], out[-1].end):
                i += m
    return out


def _repeat_run(keys: list[str], i: int) -> tuple[int, int] | None:
    """(n, copies) of the shortest n-gram at ``i`` that is said again right after itself."""
    for n in range(1, (len(keys) - i) // 2 + 1):
        gram = keys[i : i + n]
        if not any(gram):
            continue
        reps = 1
        while keys[i + reps * n : i + (reps + 1) * n] == gram:
            reps += 1
        if reps >= 2:
            return n, reps
    return None


def cut_unheard(words: list[Word], duration: float) -> list[Word]:
    """Cut at the first word that starts at (or past) the end of the audio: nothing was heard under it
    (Whisper goes on into the silence padded after a buffer)."""
    for i, w in enumerate(words):
        if w.start >= duration - WORD_S / 2:
            return words[:i]
    return words


def heard(words: list[Word], duration: float) -> list[Word]:
    """The words of a hypothesis that audio of ``duration`` seconds can hold: cut at the first word past
    its end, at words piled on one instant, and at a repeat with no audio of its own."""
    return cut_repetition(cut_collapsed(cut_unheard(words, duration)))


def repair_times(words: Sequence[Word], floor: float = 0.0) -> list[Word]:
    """Word times in order, without overlap and never zero: each word starts at or after the end of
    the one before (and ``floor``), ends at or before the next one starts when the next start allows
    it, and lasts at least WORD_S. Alignment noise (two words on one frame, an end past the next
    start) is cut where it is, so the times move by at most a frame per piled-up word."""
    out: list[Word] = []
    t = floor
    for i, w in enumerate(words):
        start = max(w.start, t)
        end = w.end
        nxt = words[i + 1].start if i + 1 < len(words) else None
        if nxt is not None and nxt >= start + WORD_S:
            end = min(end, nxt)
        end = max(end, start + WORD_S)
        if start != w.start or end != w.end:
            w = Word(start, end, w.text, w.prob, w.speaker, w.id)
        out.append(w)
        t = end
    return out


def cut_collapsed(words: list[Word], run: int = 3, eps: float = 0.021) -> list[Word]:
    """Cut where words pile up on one instant: text with no audio under it (a hallucinated tail)."""
    for i in range(len(words) - run + 1):
        t = words[i].start
        if all(abs(w.start - t) <= eps for w in words[i : i + run]):
            return words[:i]
    return words


def repeats_tail(committed_tail: Sequence[Word], candidate: Sequence[Word], min_n: int = 3) -> int:
    """If ``candidate`` starts with a copy of the last n >= min_n committed words that has no audio of
    its own (the model re-heard its prompt), return n; a copy said again takes its own audio and stays."""
    for n in range(min(len(committed_tail), len(candidate)), min_n - 1, -1):
        if [norm(w.text) for w in committed_tail[-n:]] == [norm(w.text) for w in candidate[:n]]:
            return 0 if _has_audio(candidate[:n], committed_tail[-1].end) else n
    return 0
