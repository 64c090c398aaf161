"""Live text in a terminal: confirmed text as it grows, the tentative tail dimmed, redrawn in place.

Finished lines are printed once and scroll up; the line being spoken and a status line (position,
speed, lag) are redrawn in place with rich.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from wlk_cli.events import (
    EndStats,
    FinalEvent,
    SessionInfo,
    SpeakersEvent,
    SpeakerTurn,
    StatusEvent,
    TranscriptEvent,
    Word,
    apply_final,
)
from wlk_cli.sinks.base import LAG_WARN_S
from wlk_cli.sinks.bidi import has_rtl, visual_lines
from wlk_cli.text import is_sentence_end

SPEAKER_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red")


def speaker_index(label: str) -> int:
    """S1 -> 0, S2 -> 1, ...; other names by a stable hash of their text."""
    digits = label[1:] if label[:1] == "S" else ""
    return int(digits) - 1 if digits.isdigit() and int(digits) > 0 else sum(map(ord, label))


def _style(w: Word) -> str:
    return "" if w.speaker is None else SPEAKER_STYLES[speaker_index(w.speaker) % len(SPEAKER_STYLES)]


def status_text(ev: StatusEvent, live: bool = False) -> Text:
    """Position (with a bar when the length is known), the pace a file is read at (audio seconds per
    wall second; a live source has no pace of its own to show) and the lag."""
    pos = f"{ev.audio_s:6.1f} s"
    if ev.total_s:
        frac = min(1.0, ev.audio_s / ev.total_s) if ev.total_s else 0.0
        filled = int(frac * 24)
        pos = f"[{'#' * filled}{'.' * (24 - filled)}] {ev.audio_s:6.1f}/{ev.total_s:.1f} s"
    if not live:
        rate = ev.audio_s / ev.wall_s if ev.wall_s > 0 else 0.0
        pos += f"  read at {rate:.2f}x"
    lag_style = "bold red" if ev.lag_s > LAG_WARN_S else "dim"
    t = Text(pos, style="dim")
    t.append(f"  lag {ev.lag_s:4.1f} s", style=lag_style)
    if ev.diarization_lag_s is not None:  # speakers are decided later than words: say how much later
        slow = ev.diarization_lag_s > 10.0
        t.append(f"  speakers lag {ev.diarization_lag_s:4.1f} s", style="bold red" if slow else "dim")
    return t


def labelled(words: list[Word]) -> Text:
    """Words in their speaker's colour, the speaker's name (as in the SRT: ``[S1]``) wherever a new
    speaker begins, so a change of colour always says who speaks."""
    t = Text()
    for i, w in enumerate(words):
        text = w.text.lstrip() if i == 0 else w.text
        if w.speaker is not None and (i == 0 or words[i - 1].speaker != w.speaker):
            t.append(("" if i == 0 else " ") + f"[{w.speaker}] ", style=_style(w) + " bold")
            text = text.lstrip()
        t.append(text, style=_style(w))
    return t


class TerminalSink:
    """Live text. Finished lines are printed once; a finished line first waits in the redrawn area until
    its words are final (the final pass: the utterance is redrawn there with its final words) and, with
    diarization, until the speakers of its words are decided (the status event says how far they
    trail), so the words and names printed are the ones the files end with."""

    def __init__(self, console: Console | None = None, show_status: bool = True, live: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.live = live
        self.show_status = show_status
        self._words: list[Word] = []  # confirmed or final words not printed yet
        self._final: set[int] = set()  # ids of final words among them
        self._tentative: tuple[Word, ...] = ()
        self._status: Text | None = None
        self._diarized = False
        self._finals = False  # the stream has a final pass: lines wait for it
        self._decided_until = 0.0  # stream time up to which speakers are final (with diarization)
        self._live: Live | None = None

    def _lines(self) -> list[list[Word]]:
        """The words not printed, as lines: each ends at a sentence end or at two widths of text; the last
        one may still be growing."""
        lines: list[list[Word]] = [[]]
        for w in self._words:
            lines[-1].append(w)
            if is_sentence_end(w.text) or sum(len(x.text) for x in lines[-1]) > self.console.width * 2:
                lines.append([])
        return lines

    def _render(self) -> Any:
        lines = self._lines()
        parts: list[Any] = [labelled(line) for line in lines[:-1]]
        t = labelled(lines[-1])
        for w in self._tentative:
            t.append(w.text, style="dim italic")
        parts.append(t)
        if self.show_status and self._status is not None:
            parts.append(self._status)
        return Group(*parts)

    def start(self, session: SessionInfo) -> None:
        self._diarized = bool(session.settings.get("diarization"))
        self._finals = session.settings.get("final", "off") == "on"
        self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
        self._live.start()

    def _print_line(self, words: list[Word]) -> None:
        t = labelled(words)
        t.rstrip()
        if self._live is None:
            return
        if self.console.is_terminal and has_rtl(t.plain):  # a terminal lays cells out left to right
            style = _style(words[0]) if words else ""
            for line in visual_lines(t.plain, self.console.width):
                self._live.console.print(Text(line, style=style), justify="right")
            return
        self._live.console.print(t)

    def _ready(self, line: list[Word]) -> bool:
        if self._finals and any(w.id not in self._final for w in line):
            return False
        return not self._diarized or line[-1].end <= self._decided_until

    def _print_decided(self, everything: bool = False) -> None:
        lines = self._lines()
        done = lines if everything else lines[:-1]
        for line in done:
            if not line or not (everything or self._ready(line)):
                break
            self._print_line(line)
            self._words = self._words[len(line) :]
            self._final.difference_update(w.id for w in line if w.id is not None)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def transcript(self, event: TranscriptEvent) -> None:
        self._words.extend(event.confirmed)
        self._print_decided()
        self._tentative = event.tentative
        self._refresh()

    def final(self, event: FinalEvent) -> None:
        self._words = apply_final(self._words, event)
        self._final.update(w.id for w in event.words if w.id is not None)
        self._print_decided()
        self._refresh()

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        labels = dict(event.updates)
        self._words = [dataclasses.replace(w, speaker=labels[w.id]) if w.id in labels else w for w in self._words]

    def status(self, event: StatusEvent) -> None:
        self._status = status_text(event, self.live)
        if event.diarization_lag_s is not None:
            self._decided_until = event.audio_s - event.diarization_lag_s
        self._print_decided()
        self._refresh()

    def end(self, stats: EndStats) -> None:
        self._print_decided(everything=True)
        self._words = []
        self._tentative = ()
        self._status = None
        if self._live is not None:
            self._live.update(Text(""), refresh=True)
            self._live.stop()


def summary(stats: EndStats, written: list[Path], no_files: str = "no files written") -> str:
    """The line every run ends with on stderr: what was heard, in which language, and where it is."""
    from wlk_cli.asr.languages import name

    words = int(stats.extra.get("final_words", stats.words))  # what the files hold: the final words
    heard = f"{words} words from {stats.audio_duration_s:.1f} s of audio"
    if words == 0:
        heard = f"no speech found in {stats.audio_duration_s:.1f} s of audio"
    if stats.interrupted:
        heard += " (stopped before the end)"
    if stats.language and words:
        heard += f", language {stats.language} ({name(stats.language)})"
    if stats.latency_mean_s is not None:
        heard += f", words confirmed {stats.latency_mean_s:.2f} s after they were said"
    if written:
        folder = written[0].parent
        files = f"wrote {', '.join(p.name for p in written)} in {folder}"
    else:
        files = no_files
    return f"wlk: {heard}; {files}"


class ProgressSink:
    """A one-line progress display on stderr, for JSONL mode when stderr is a terminal."""

    def __init__(self, console: Console, live: bool = False) -> None:
        self.console = console
        self.live = live
        self._live: Live | None = None

    def start(self, session: SessionInfo) -> None:
        self._live = Live(Text(""), console=self.console, auto_refresh=False, transient=True)
        self._live.start()

    def transcript(self, event: TranscriptEvent) -> None:
        pass

    def final(self, event: FinalEvent) -> None:
        pass

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        pass

    def status(self, event: StatusEvent) -> None:
        if self._live is not None:
            self._live.update(status_text(event, self.live), refresh=True)

    def end(self, stats: EndStats) -> None:
        if self._live is not None:
            self._live.stop()
