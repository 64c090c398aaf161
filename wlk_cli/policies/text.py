"""Word-level text helpers shared by policies: normalisation, n-gram overlap and loop detection."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wlk_cli.events import Word

_NON_WORD = re.compile(r"[^\w']+", re.UNICODE)


def norm(text: str) -> str:
    """Lowercase, punctuation and spaces stripped: two spellings of one word compare equal."""
    return _NON_WORD.sub("", text.lower())


def overlap_ngram(tail: Sequence[Word], head: Sequence[Word], max_n: int = 5) -> int:
    """Length of the longest n-gram (n <= max_n) that ends ``tail`` and starts ``head``."""
    best = 0
    for n in range(1, min(max_n, len(tail), len(head)) + 1):
        if [norm(w.text) for w in tail[-n:]] == [norm(w.text) for w in head[:n]]:
            best = n
    return best


def cut_repetition(words: list[Word]) -> list[Word]:
    """Cut a hypothesis where it starts looping.

    An n-gram repeated three times back to back (or, for n >= 4, twice) is a decoding loop, not
    speech: the words are kept up to the end of its first occurrence.
    """
    keys = [norm(w.text) for w in words]
    for i in range(len(keys)):
        for n in range(1, (len(keys) - i) // 2 + 1):
            reps_needed = 2 if n >= 4 else 3
            if i + n * reps_needed > len(keys):
                continue
            gram = keys[i : i + n]
            if not any(gram):
                continue
            if all(keys[i + r * n : i + (r + 1) * n] == gram for r in range(1, reps_needed)):
                return words[: i + n]
    return words


def cut_collapsed(words: list[Word], run: int = 3, eps: float = 0.021) -> list[Word]:
    """Cut where words pile up on one instant: text with no audio under it (a hallucinated tail)."""
    for i in range(len(words) - run + 1):
        t = words[i].start
        if all(abs(w.start - t) <= eps for w in words[i : i + run]):
            return words[:i]
    return words


def repeats_tail(committed_tail: Sequence[Word], candidate: Sequence[Word], min_n: int = 3) -> int:
    """If ``candidate`` starts with an exact copy of the last n >= min_n committed words, return n."""
    for n in range(min(len(committed_tail), len(candidate)), min_n - 1, -1):
        if [norm(w.text) for w in committed_tail[-n:]] == [norm(w.text) for w in candidate[:n]]:
            return n
    return 0


def is_sentence_end(text: str) -> bool:
    return text.rstrip().endswith((".", "?", "!", "。", "？", "！"))
