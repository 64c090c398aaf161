"""Text rules every part shares (policies, sinks, transcribe): how a sentence ends, how words compare."""

from __future__ import annotations

import re

SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
_NON_WORD = re.compile(r"[^\w']+", re.UNICODE)


def is_sentence_end(text: str) -> bool:
    return text.rstrip().endswith(SENTENCE_END)


def norm(text: str) -> str:
    """Lowercase, punctuation and spaces stripped: two spellings of one word compare equal."""
    return _NON_WORD.sub("", text.lower())
