"""Group confirmed words into subtitle cues and transcript segments.

Cues follow the usual subtitle conventions: a new cue at a sentence end, a pause or a speaker change,
at most two lines of about 42 characters and at most ~7 s on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wlk_cli.events import Word
from wlk_cli.policies.text import is_sentence_end

LINE_CHARS = 42
PAUSE_S = 0.8


@dataclass(frozen=True)
class Cue:
    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return max(self.words[-1].end, self.words[0].start + 0.2)

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()

    @property
    def speaker(self) -> str | None:
        return self.words[0].speaker


def fits_two_lines(text: str, width: int = LINE_CHARS) -> bool:
    return all(len(line) <= width for line in wrap(text, width).split("\n"))


def group(
    words: Sequence[Word],
    max_chars: int = 2 * LINE_CHARS,
    max_s: float = 7.0,
    pause_s: float = PAUSE_S,
    prefix: str = "",
) -> list[Cue]:
    """Cues; with ``max_chars`` at its subtitle default, each must also wrap into two lines (after ``prefix``)."""
    subtitles = max_chars <= 2 * LINE_CHARS
    cues: list[Cue] = []
    current: list[Word] = []
    chars = 0
    for w in words:
        if current:
            prev = current[-1]
            too_long = chars + len(w.text) > max_chars or w.end - current[0].start > max_s
            if subtitles and not too_long:
                text = prefix + "".join(x.text for x in current).strip() + w.text
                too_long = not fits_two_lines(text)
            if is_sentence_end(prev.text) or w.start - prev.end >= pause_s or w.speaker != prev.speaker or too_long:
                cues.append(Cue(tuple(current)))
                current, chars = [], 0
        current.append(w)
        chars += len(w.text)
    if current:
        cues.append(Cue(tuple(current)))
    return cues


def wrap(text: str, width: int = LINE_CHARS) -> str:
    """At most two lines, split at the space nearest the middle when the text is too long for one."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    spaces = [i for i, c in enumerate(text) if c == " "]
    if not spaces:
        return text
    mid = len(text) / 2
    fitting = [i for i in spaces if i <= width and len(text) - i - 1 <= width]
    cut = min(fitting or spaces, key=lambda i: abs(i - mid))
    return text[:cut] + "\n" + text[cut + 1 :]
