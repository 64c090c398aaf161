"""Transcript view (paragraphs by pause and speaker, tentative tail dimmed) and the status bar."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from wlk_cli.events import FinalEvent, StatusEvent, TranscriptEvent, Word, apply_final
from wlk_cli.sinks.base import LAG_WARN_S
from wlk_cli.sinks.bidi import has_rtl, visual, wrap_runs

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


class PauseMark(Static):
    """Where capture was paused: the transcript shows the gap."""

    DEFAULT_CSS = """
    PauseMark { margin: 0 0 1 0; color: $text-muted; text-style: italic; }
    """

    def __init__(self, at: float, seconds: float) -> None:
        super().__init__(f"-- paused {seconds:.0f} s at {clock(at)} --")
        self.at = at


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
        rtl = has_rtl(confirmed + tentative)
        self.styles.text_align = "right" if rtl else "left"  # a Static aligns by its style, not the Text's
        if rtl:
            return self._rtl(color)
        t = self._prefix()
        t.append(confirmed, style=color)
        if tentative:
            t.append(tentative if confirmed else tentative.lstrip(), style="dim italic")
        return t

    def _rtl(self, color: str) -> Text:
        """Right-to-left text: wrapped in logical order, each line shaped and in visual order, the
        tentative words (logically last, so on the left of their line) dimmed as in any language."""
        prefix = self._prefix()
        width = max(8, self.size.width - len(prefix) - 1)
        runs = [(w.text, False) for w in self.data.words] + [(w.text, True) for w in self.data.tentative]
        out = Text()
        for i, line in enumerate(wrap_runs(runs, width)):
            if i:
                out.append("\n")
            sure = " ".join(t for t, tentative in line if not tentative)
            unsure = " ".join(t for t, tentative in line if tentative)
            if unsure:
                out.append(visual(unsure), style="dim italic")
            if unsure and sure:
                out.append(" ")
            if sure:
                out.append(visual(sure), style=color)
        return prefix + out if len(prefix) else out


class TranscriptView(VerticalScroll):
    """Follows the newest text until the user scrolls up; ``follow()`` resumes."""

    DEFAULT_CSS = """
    TranscriptView { height: 1fr; padding: 0 1; }
    """

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self) -> None:
        super().__init__(id="transcript")
        self.paragraphs: list[Paragraph] = []
        self.pauses: list[tuple[float, float]] = []  # (stream time, seconds) of each pause
        self._marks: list[PauseMark] = []
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

    def mark_pause(self, at: float, seconds: float) -> None:
        """Capture was paused at stream time ``at`` for ``seconds``: the next words start after a mark."""
        self.pauses.append((at, seconds))
        self._mark_before(float("inf"))  # shown now, after what is on screen
        if self.following:
            self.call_after_refresh(self._to_end)

    def final(self, event: FinalEvent) -> None:
        """An utterance's final words: redrawn in place in the paragraphs that show its confirmed words
        (the scroll position stays; the newest text stays in view when following)."""
        gone = set(event.replaces)
        self.words = apply_final(self.words, event)
        shown = [p for p in self.paragraphs if any(w.id in gone for w in p.data.words)]
        if len(shown) != 1 or any(w.speaker != shown[0].data.speaker for w in event.words):
            # not on screen, over two paragraphs (a speaker change), or other speakers: all regrouped
            self._regroup()
            return
        p = shown[0]
        k = next(i for i, w in enumerate(p.data.words) if w.id in gone)
        p.data.words = [*p.data.words[:k], *event.words, *(w for w in p.data.words[k:] if w.id not in gone)]
        p.refresh(layout=True)
        if self.following:
            self.call_after_refresh(self._to_end)

    def relabel(self, updates: tuple[tuple[int, str], ...]) -> None:
        """Diarization changed some speakers: regroup every paragraph with the new labels."""
        labels = dict(updates)
        self.words = [dataclasses.replace(w, speaker=labels.get(w.id, w.speaker)) for w in self.words]  # type: ignore[arg-type]
        self._regroup()

    def _regroup(self) -> None:
        tentative = self.paragraphs[-1].data.tentative if self.paragraphs else ()
        for p in [*self.paragraphs, *self._marks]:
            p.remove()
        self.paragraphs, self._marks = [], []
        self.palette = SpeakerPalette()  # colours follow the current labels' order
        self._place(tuple(self.words), tentative)

    def _place(self, confirmed: tuple[Word, ...], tentative: tuple[Word, ...]) -> None:
        event = TranscriptEvent(0, 0.0, 0.0, confirmed, tentative)
        touched: set[int] = set()
        for w in event.confirmed:
            last = self.paragraphs[-1] if self.paragraphs else None
            self._mark_before(w.start)
            after = self.children[-1] if self.children else None
            if isinstance(after, PauseMark) and w.start >= after.at - 0.05:  # the first words after a pause
                last = None
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
        if confirmed:  # regrouping: the marks of pauses after the last word go last
            self._mark_before(tentative[0].start if tentative else float("inf"))
        if event.tentative or (self.paragraphs and self.paragraphs[-1].data.tentative):
            if not self.paragraphs or isinstance(self.children[-1], PauseMark):
                if self.paragraphs and self.paragraphs[-1].data.tentative:  # said before the pause
                    self.paragraphs[-1].data.tentative = ()
                    touched.add(id(self.paragraphs[-1]))
                self._new_paragraph(event.tentative[0].speaker)
            self.paragraphs[-1].data.tentative = event.tentative
            touched.add(id(self.paragraphs[-1]))
        for p in self.paragraphs[-3:]:
            if id(p) in touched:
                p.refresh(layout=True)
        if self.following:
            self.call_after_refresh(self._to_end)

    def _mark_before(self, t: float) -> bool:
        """Mount the marks of pauses at or before ``t`` not shown yet; True when one was."""
        placed = False
        while len(self._marks) < len(self.pauses) and self.pauses[len(self._marks)][0] <= t + 1e-6:
            mark = PauseMark(*self.pauses[len(self._marks)])
            self._marks.append(mark)
            self.mount(mark)
            placed = True
        return placed

    def _to_end(self) -> None:
        self._scrolling_to_end = True
        self.scroll_end(animate=False, immediate=True)
        self._scrolling_to_end = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value - 0.5 and not self._scrolling_to_end and self.following:
            self.following = False
            self.post_message(self.FollowChanged(False))

    def follow(self) -> None:
        if not self.following:
            self.post_message(self.FollowChanged(True))
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
    """Two lines that never wrap: what is transcribed (source, model, language, policy, time), then
    how it goes (level, speech or pause, lag, latency, speakers' lag, model load, drops, notes)."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, source: str, model: str, policy: str) -> None:
        super().__init__(id="status")
        self.source = source
        self.model = model
        self.policy = policy
        self.language: str | None = None
        self.event: StatusEvent | None = None
        self.paused = False
        self.following = True
        self.note: str | None = None

    def render(self) -> Text:
        first = Text(no_wrap=True, overflow="ellipsis")
        first.append(f"{self.source}", style="bold")
        first.append(f"  {self.model}  {self.language or 'auto'}  {self.policy}")
        second = Text(no_wrap=True, overflow="ellipsis")
        ev = self.event
        if ev is not None:
            first.append(f"  {clock(ev.wall_s)}")
            if ev.total_s:
                first.append(f" ({ev.audio_s:.0f}/{ev.total_s:.0f} s)", style="dim")
            if ev.level_db is not None:
                second.append(f"{level_meter(ev.level_db)}  ", style="green")
        if self.paused:
            second.append("PAUSED", style="bold yellow")  # not speech or silence: nothing is heard
        elif ev is not None and ev.speech is not None:
            second.append("speech" if ev.speech else "silence", style="bold green" if ev.speech else "dim")
        if ev is not None:
            second.append(f"  lag {ev.lag_s:.1f}s", style="bold red" if ev.lag_s > LAG_WARN_S else "")
            if ev.latency_s is not None:
                second.append(f"  latency {ev.latency_s:.1f}s")
            if ev.diarization_lag_s is not None:
                second.append(f"  speakers lag {ev.diarization_lag_s:.1f}s", style="dim")
            if ev.processing_s is not None and ev.audio_s > 0:  # model seconds per audio second
                second.append(f"  load {ev.processing_s / ev.audio_s:.2f}", style="dim")
            dropped = ev.dropped_frames
            second.append(f"  drops {dropped}", style="bold red" if dropped else "dim")
        if not self.following:
            second.append("  scrolled: End follows", style="bold cyan")
        if self.note:
            second.append(f"  {self.note}", style="bold")
        return first + Text("\n") + second
