"""Live text in a terminal: confirmed text as it grows, the tentative tail dimmed, redrawn in place.

Finished lines are printed once and scroll up; the line being spoken and a status line (position,
speed, lag) are redrawn in place with rich.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from wlk_cli.events import EndStats, SessionInfo, SpeakersEvent, SpeakerTurn, StatusEvent, TranscriptEvent, Word
from wlk_cli.policies.text import is_sentence_end

SPEAKER_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red")


def speaker_index(label: str) -> int:
    """S1 -> 0, S2 -> 1, ...; other names by a stable hash of their text."""
    digits = label[1:] if label[:1] == "S" else ""
    return int(digits) - 1 if digits.isdigit() and int(digits) > 0 else sum(map(ord, label))


def _style(w: Word) -> str:
    return "" if w.speaker is None else SPEAKER_STYLES[speaker_index(w.speaker) % len(SPEAKER_STYLES)]


def status_text(ev: StatusEvent, speed: float) -> Text:
    pos = f"{ev.audio_s:6.1f} s"
    if ev.total_s:
        frac = min(1.0, ev.audio_s / ev.total_s) if ev.total_s else 0.0
        filled = int(frac * 24)
        pos = f"[{'#' * filled}{'.' * (24 - filled)}] {ev.audio_s:6.1f}/{ev.total_s:.1f} s"
    rate = ev.audio_s / ev.wall_s if ev.wall_s > 0 else 0.0
    lag_style = "bold red" if ev.lag_s > 2.0 else "dim"
    t = Text(pos + f"  x{rate:4.2f}", style="dim")
    t.append(f"  lag {ev.lag_s:4.1f} s", style=lag_style)
    return t


class TerminalSink:
    def __init__(self, console: Console | None = None, speed: float = 1.0, show_status: bool = True) -> None:
        self.console = console or Console(highlight=False)
        self.speed = speed
        self.show_status = show_status
        self._line: list[Word] = []
        self._tentative: tuple[Word, ...] = ()
        self._status: Text | None = None
        self._live: Live | None = None

    def _render(self) -> Any:
        t = Text()
        for w in self._line:
            t.append(w.text, style=_style(w))
        for w in self._tentative:
            t.append(w.text, style="dim italic")
        parts: list[Any] = [t]
        if self.show_status and self._status is not None:
            parts.append(self._status)
        return Group(*parts)

    def start(self, session: SessionInfo) -> None:
        self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
        self._live.start()

    def _print_line(self, words: list[Word]) -> None:
        t = Text()
        for i, w in enumerate(words):
            t.append(w.text.lstrip() if i == 0 else w.text, style=_style(w))
        t.rstrip()
        if self._live is not None:
            self._live.console.print(t)

    def transcript(self, event: TranscriptEvent) -> None:
        for w in event.confirmed:
            self._line.append(w)
            text_len = sum(len(x.text) for x in self._line)
            if is_sentence_end(w.text) or text_len > self.console.width * 2:
                self._print_line(self._line)
                self._line = []
        self._tentative = event.tentative
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def turns(self, turns: list[SpeakerTurn]) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        # lines already printed stay as they are; the line being spoken takes the new labels
        labels = dict(event.updates)
        self._line = [dataclasses.replace(w, speaker=labels.get(w.id, w.speaker)) for w in self._line]  # type: ignore[arg-type]

    def status(self, event: StatusEvent) -> None:
        self._status = status_text(event, self.speed)
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def end(self, stats: EndStats) -> None:
        if self._line:
            self._print_line(self._line)
            self._line = []
        self._tentative = ()
        self._status = None
        if self._live is not None:
            self._live.update(Text(""), refresh=True)
            self._live.stop()
        rtf = f"{stats.real_time_factor:.2f}"
        lat = "n/a" if stats.latency_mean_s is None else f"{stats.latency_mean_s:.2f} s"
        language = f", language {stats.language}" if stats.language else ""
        if stats.words == 0 and stats.error is None:
            self.console.print(Text(f"no speech found in {stats.audio_duration_s:.1f} s of audio", style="dim"))
        self.console.print(
            Text(
                f"{stats.words} words, {stats.audio_duration_s:.1f} s of audio{language}, RTF {rtf}, "
                f"mean latency {lat}",
                style="dim",
            )
        )


class ProgressSink:
    """A one-line progress display on stderr, for JSONL mode when stderr is a terminal."""

    def __init__(self, console: Console, speed: float) -> None:
        self.console = console
        self.speed = speed
        self._live: Live | None = None

    def start(self, session: SessionInfo) -> None:
        self._live = Live(Text(""), console=self.console, auto_refresh=False, transient=True)
        self._live.start()

    def transcript(self, event: TranscriptEvent) -> None:
        pass

    def turns(self, turns: list[SpeakerTurn]) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        pass

    def status(self, event: StatusEvent) -> None:
        if self._live is not None:
            self._live.update(status_text(event, self.speed), refresh=True)

    def end(self, stats: EndStats) -> None:
        if self._live is not None:
            self._live.stop()
