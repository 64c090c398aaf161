"""Right-to-left text (Arabic, Hebrew) for terminals that lay out cells left to right.

Terminals do not reorder or shape RTL text, so a paragraph is wrapped in logical order first, then each
line is shaped (Arabic letter forms) and put in visual order, and shown right-aligned.
"""

from __future__ import annotations

import textwrap
import unicodedata


def has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def visual(text: str) -> str:
    """One line of logical text shaped (Arabic letter forms) and in visual order."""
    try:
        from bidi import get_display
    except ImportError:  # without python-bidi, show logical order rather than fail
        return text
    try:
        import arabic_reshaper

        text = arabic_reshaper.reshape(text)
    except ImportError:
        pass
    return str(get_display(text))


def visual_lines(text: str, width: int) -> list[str]:
    """Logical text -> display lines (wrapped to ``width``, each in visual order)."""
    return [visual(line) for line in textwrap.wrap(text, max(8, width)) or [""]]


def wrap_runs(runs: list[tuple[str, bool]], width: int) -> list[list[tuple[str, bool]]]:
    """Words (text, flag) wrapped into lines of at most ``width`` cells, in logical order; the flag
    (tentative or not) rides along so that each line can be drawn in two styles."""
    lines: list[list[tuple[str, bool]]] = [[]]
    used = 0
    for text, flag in runs:
        word = text.strip()
        if not word:
            continue
        need = len(word) + (1 if lines[-1] else 0)
        if lines[-1] and used + need > max(8, width):
            lines.append([])
            used, need = 0, len(word)
        lines[-1].append((word, flag))
        used += need
    return lines
