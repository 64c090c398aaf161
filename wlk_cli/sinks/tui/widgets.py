"""Transcript view (paragraphs by pause and speaker, tentative tail dimmed) and the status bar."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from wlk_cli.events import StatusEvent, TranscriptEvent, Word
from wlk_cli.sinks.tui.bidi import has_rtl, visual_lines

SPEAKER_COLORS = ("#4fc1ff", "#f78c6c", "#c3e88d", "#ffcb6b", "#c792ea", "#ff5370", "#89ddff", "#82aaff")
PARAGRAPH_PAUSE_S = 2.0


class SpeakerPalette:
    """A colour per speaker label, in order of first appearance."""

    def __init__(self) -> None:
        self._order: dict[str, int] = {}

    def __call__(self, speaker: str | None) -> str:
        if speaker is None:
            return ""
        k = self._order.setdefault(speaker, len(self._order))
        return SPEAKER_COLORS[k % len(SPEAKER_COLORS)]


def clock(t: float) -> str:
    s = int(t)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass
class ParagraphData:
    speaker: str | None
    words: list[Word] = field(default_factory=list)
    tentative: tuple[Word, ...] = ()


class Paragraph(Static):
    """One paragraph: a speaker's run of words without a long pause."""

    DEFAULT_CSS = """
    Paragraph { margin: 0 0 1 0; }
    """

    def __init__(self, data: ParagraphData, show_times: bool, color: Callable[[str | None], str]) -> None:
        super().__init__()
        self.data = data
        self.show_times = show_times
        self.color = color

    def _prefix(self) -> Text:
        t = Text()
        first = self.data.words[0] if self.data.words else (self.data.tentative[0] if self.data.tentative else None)
        if self.show_times and first is not None:
            t.append(f"[{clock(first.start)}] ", style="dim")
        if self.data.speaker is not None:
            t.append(f"{self.data.speaker}: ", style=f"bold {self.color(self.data.speaker)}")
        return t

    def render(self) -> Text:
        color = self.color(self.data.speaker)
        confirmed = "".join(w.text for w in self.data.words).strip()
        tentative = "".join(w.text for w in self.data.tentative)
        if has_rtl(confirmed + tentative):
            width = max(8, self.size.width - len(self._prefix()) - 1)
            lines = visual_lines((confirmed + tentative).strip(), width)
            body = Text("\n".join(lines), style=color, justify="right")
            return self._prefix() + body if self.data.speaker is not None or self.show_times else body
        t = self._prefix()
        t.append(confirmed, style=color)
        if tentative:
            t.append(tentative if confirmed else tentative.lstrip(), style="dim italic")
        return t


class TranscriptView(VerticalScroll):
    """Follows the newest text until the user scrolls up; ``follow()`` resumes."""

    DEFAULT_CSS = """
    TranscriptView { height: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="transcript")
        self.paragraphs: list[Paragraph] = []
        self.words: list[Word] = []  # every confirmed word, for relabelling
        self.palette = SpeakerPalette()
        self.following = True
        self.show_times = False
        self._scrolling_to_end = False

    def _new_paragraph(self, speaker: str | None) -> Paragraph:
        p = Paragraph(ParagraphData(speaker), self.show_times, self.palette)
        self.paragraphs.append(p)
        self.mount(p)
        return p

    def apply(self, event: TranscriptEvent) -> None:
        self.words.extend(event.confirmed)
        self._place(event.confirmed, event.tentative)

    def relabel(self, updates: tuple[tuple[int, str], ...]) -> None:
        """Diarization changed some speakers: regroup every paragraph with the new labels."""
        labels = dict(updates)
        self.words = [dataclasses.replace(w, speaker=labels.get(w.id, w.speaker)) for w in self.words]  # type: ignore[arg-type]
        tentative = self.paragraphs[-1].data.tentative if self.paragraphs else ()
        for p in self.paragraphs:
            p.remove()
        self.paragraphs = []
        self.palette = SpeakerPalette()  # colours follow the current labels' order
        self._place(tuple(self.words), tentative)

    def _place(self, confirmed: tuple[Word, ...], tentative: tuple[Word, ...]) -> None:
        event = TranscriptEvent(0, 0.0, 0.0, confirmed, tentative)
        touched: set[int] = set()
        for w in event.confirmed:
            last = self.paragraphs[-1] if self.paragraphs else None
            if (
                last is None
                or w.speaker != last.data.speaker
                or (last.data.words and w.start - last.data.words[-1].end >= PARAGRAPH_PAUSE_S)
            ):
                if last is not None and last.data.tentative:
                    last.data.tentative = ()
                    touched.add(id(last))
                last = self._new_paragraph(w.speaker)
            last.data.words.append(w)
            touched.add(id(last))
        if event.tentative or (self.paragraphs and self.paragraphs[-1].data.tentative):
            if not self.paragraphs:
                self._new_paragraph(event.tentative[0].speaker)
            self.paragraphs[-1].data.tentative = event.tentative
            touched.add(id(self.paragraphs[-1]))
        for p in self.paragraphs[-3:]:
            if id(p) in touched:
                p.refresh(layout=True)
        if self.following:
            self.call_after_refresh(self._to_end)

    def _to_end(self) -> None:
        self._scrolling_to_end = True
        self.scroll_end(animate=False, immediate=True)
        self._scrolling_to_end = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value - 0.5 and not self._scrolling_to_end:
            self.following = False

    def follow(self) -> None:
        self.following = True
        self._to_end()

    def toggle_times(self) -> None:
        self.show_times = not self.show_times
        for p in self.paragraphs:
            p.show_times = self.show_times
            p.refresh(layout=True)

    def plain_text(self) -> str:
        out = []
        for p in self.paragraphs:
            text = "".join(w.text for w in p.data.words).strip()
            if not text:
                continue
            label = f"{p.data.speaker}: " if p.data.speaker is not None else ""
            out.append(label + text)
        return "\n\n".join(out)


def level_meter(db: float | None, width: int = 10) -> str:
    if db is None:
        return ""
    frac = min(1.0, max(0.0, (db + 60.0) / 60.0))
    n = round(frac * width)
    return "▮" * n + "▯" * (width - n)


class StatusBar(Static):
    """Device, model, language, policy, elapsed, level, VAD, lag, latency, RTF, drops."""

    DEFAULT_CSS = """
    StatusBar { height: auto; max-height: 3; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, source: str, model: str, policy: str) -> None:
        super().__init__(id="status")
        self.source = source
        self.model = model
        self.policy = policy
        self.language: str | None = None
        self.event: StatusEvent | None = None
        self.paused = False
        self.note: str | None = None

    def render(self) -> Text:
        t = Text(no_wrap=False, overflow="ellipsis")
        t.append(f"{self.source}", style="bold")
        t.append(f"  {self.model}  {self.language or 'auto'}  {self.policy}", style="")
        ev = self.event
        if ev is not None:
            t.append(f"  {clock(ev.wall_s)}", style="")
            if ev.total_s:
                t.append(f" ({ev.audio_s:.0f}/{ev.total_s:.0f} s)", style="dim")
            if ev.level_db is not None:
                t.append(f"  {level_meter(ev.level_db)}", style="green")
            if ev.speech is not None:
                t.append("  speech" if ev.speech else "  silence", style="bold green" if ev.speech else "dim")
            t.append(f"  lag {ev.lag_s:.1f}s", style="bold red" if ev.lag_s > 2.0 else "")
            if ev.latency_s is not None:
                t.append(f"  latency {ev.latency_s:.1f}s")
            if ev.diarization_lag_s is not None:
                t.append(f"  speakers lag {ev.diarization_lag_s:.1f}s", style="dim")
            if ev.wall_s > 0 and ev.processing_s is not None:
                t.append(f"  RTF {ev.processing_s / max(ev.audio_s, 1e-6):.2f}", style="dim")
            dropped = ev.dropped_frames
            t.append(f"  drops {dropped}", style="bold red" if dropped else "dim")
        if self.paused:
            t.append("  PAUSED", style="bold yellow")
        if self.note:
            t.append(f"  {self.note}", style="bold")
        return t
