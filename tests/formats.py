"""Parsers that read our output files back, so tests check them as a player would."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIME = r"(\d{2}):(\d{2}):(\d{2})[,.](\d{3})"


@dataclass
class ParsedCue:
    index: int | None
    start: float
    end: float
    lines: list[str]


def _secs(m: tuple[str, ...]) -> float:
    h, mi, s, ms = (int(x) for x in m)
    return h * 3600 + mi * 60 + s + ms / 1000


def parse_srt(text: str) -> list[ParsedCue]:
    cues = []
    for block in [b for b in text.strip().split("\n\n") if b.strip()]:
        lines = block.split("\n")
        assert lines[0].isdigit(), f"SRT cue without index: {block!r}"
        m = re.fullmatch(_TIME + " --> " + _TIME, lines[1])
        assert m, f"bad SRT timing line {lines[1]!r}"
        g = m.groups()
        assert len(lines) >= 3, f"SRT cue without text: {block!r}"
        cues.append(ParsedCue(int(lines[0]), _secs(g[:4]), _secs(g[4:]), lines[2:]))
    return cues


def parse_vtt(text: str) -> list[ParsedCue]:
    assert text.startswith("WEBVTT\n"), "VTT must start with WEBVTT"
    cues = []
    for block in [b for b in text.split("\n\n")[1:] if b.strip()]:
        lines = block.strip("\n").split("\n")
        m = re.fullmatch(_TIME + " --> " + _TIME, lines[0])
        assert m, f"bad VTT timing line {lines[0]!r}"
        g = m.groups()
        cues.append(ParsedCue(None, _secs(g[:4]), _secs(g[4:]), lines[1:]))
    return cues


def check_cues(cues: list[ParsedCue], max_line: int = 42, max_s: float = 7.5) -> None:
    assert cues, "no cues"
    for i, c in enumerate(cues):
        if c.index is not None:
            assert c.index == i + 1
        assert 0 <= c.start < c.end, c
        assert c.end - c.start <= max_s, c
        assert 1 <= len(c.lines) <= 2, c
        for line in c.lines:
            assert len(line) <= max_line or " " not in line, c
    for a, b in zip(cues, cues[1:]):
        assert a.start <= b.start, (a, b)
