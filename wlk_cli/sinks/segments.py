"""Group confirmed words into subtitle cues and transcript segments.

Cues follow the usual subtitle conventions: a new cue at a sentence end, a pause or a speaker change,
at most two lines of about 42 characters and at most ~7 s on screen; a lone word joins a neighbour
when it can; a cue stays on screen at least MIN_CUE_S when the next one leaves room, never over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wlk_cli.events import Word
from wlk_cli.text import is_sentence_end

LINE_CHARS = 42
PAUSE_S = 0.8
MIN_CUE_S = 1.0  # a reader needs about this long for even one word
ALONE_S = 2.0  # a word with pauses this long on both sides is a cue of its own ("Hello?")


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
    sentences: bool = True,
) -> list[Cue]:
    """Cues; with ``max_chars`` at its subtitle default, each must also wrap into two lines (after
    ``prefix``). ``sentences``: a sentence end closes a cue (paragraphs break at pauses only)."""
    subtitles = max_chars <= 2 * LINE_CHARS
    cues: list[Cue] = []
    current: list[Word] = []
    chars = 0
    for w in words:
        if current:
            prev = current[-1]
            too_long = chars + len(w.text) > max_chars or w.end - current[0].start > max_s
            if subtitles and not too_long:
                too_long = not fits_two_lines(prefix + _text([*current, w]))
            ends = sentences and is_sentence_end(prev.text)
            if ends or w.start - prev.end >= pause_s or w.speaker != prev.speaker or too_long:
                cues.append(Cue(tuple(current)))
                current, chars = [], 0
        current.append(w)
        chars += len(w.text)
    if current:
        cues.append(Cue(tuple(current)))
    if subtitles:
        cues = _no_lone_words(cues, prefix, max_s)
    return cues


def _text(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words).strip()


def _no_lone_words(cues: list[Cue], prefix: str, max_s: float) -> list[Cue]:
    """A cue of one word ("So", the "life." a full cue left over) joins the cue before or after it
    when they share a speaker, are close (under ALONE_S apart) and still fit; failing that it takes
    the last word of the cue before. A word said alone, pauses on both sides, stays alone."""

    def fits(words: Sequence[Word]) -> bool:
        return words[-1].end - words[0].start <= max_s and fits_two_lines(prefix + _text(words))

    def close(a: Cue, b: Cue) -> bool:
        return a.speaker == b.speaker and b.start - a.words[-1].end < ALONE_S

    out = list(cues)
    i = 0
    while i < len(out):
        cue = out[i]
        if len(cue.words) > 1:
            i += 1
            continue
        prev = out[i - 1] if i > 0 else None
        nxt = out[i + 1] if i + 1 < len(out) else None
        back = prev is not None and close(prev, cue)
        ahead = nxt is not None and close(cue, nxt) and not is_sentence_end(cue.words[0].text)
        if back and prev is not None and fits(prev.words + cue.words):
            out[i - 1 : i + 1] = [Cue(prev.words + cue.words)]
            continue
        if ahead and nxt is not None and fits(cue.words + nxt.words):  # "So" before the rest of its sentence
            out[i : i + 2] = [Cue(cue.words + nxt.words)]
            continue
        if back and prev is not None and len(prev.words) > 2 and fits(prev.words[-1:] + cue.words):
            out[i - 1 : i + 1] = [Cue(prev.words[:-1]), Cue(prev.words[-1:] + cue.words)]  # "the team."
        i += 1
    return out


def shown(cues: Sequence[Cue]) -> list[tuple[float, float]]:
    """(start, end) each cue is on screen: its words' span, held to MIN_CUE_S when the next cue starts
    later than that, and never past the next cue's start (players would show both)."""
    out = []
    for i, c in enumerate(cues):
        end = max(c.words[-1].end, c.start + MIN_CUE_S)
        if i + 1 < len(cues):
            end = min(end, cues[i + 1].start)
        out.append((c.start, max(end, c.words[-1].end)))
    return out


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


def sentences(words: Sequence[Word]) -> list[list[Word]]:
    """Words in groups that end at a sentence end or a pause of over a second: the transcript events of
    an offline transcript, the segments of the OpenAI endpoint."""
    groups: list[list[Word]] = []
    for w in words:
        if not groups or is_sentence_end(groups[-1][-1].text) or w.start - groups[-1][-1].end > 1.0:
            groups.append([])
        groups[-1].append(w)
    return groups
