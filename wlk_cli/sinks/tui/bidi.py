"""Right-to-left text (Arabic, Hebrew) for terminals that lay out cells left to right.

Terminals do not reorder or shape RTL text, so a paragraph is wrapped in logical order first, then each
line is shaped (Arabic letter forms) and put in visual order, and shown right-aligned.
"""

from __future__ import annotations

import textwrap
import unicodedata


def has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def visual_lines(text: str, width: int) -> list[str]:
    """Logical text -> display lines (wrapped to ``width``, each in visual order)."""
    try:
        from bidi import get_display
    except ImportError:  # without python-bidi, show logical order rather than fail
        return textwrap.wrap(text, max(8, width)) or [""]
    try:
        import arabic_reshaper

        shape = arabic_reshaper.reshape
    except ImportError:

        def shape(s: str) -> str:
            return s

    lines = textwrap.wrap(text, max(8, width)) or [""]
    return [str(get_display(shape(line))) for line in lines]
