"""The wlk TUI: the transcript as it is decided, a status bar, and keys to steer the session.

The pipeline runs in a worker thread and talks to the app only through messages; the app talks to
the session only through its thread-safe controls (pause, save, stop).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from wlk_cli.errors import WlkError
from wlk_cli.events import EndStats, FinalEvent, SessionInfo, SpeakersEvent, SpeakerTurn, StatusEvent, TranscriptEvent
from wlk_cli.sinks.base import Sink
from wlk_cli.tui.messages import FinalUpdate, SessionEnded, SpeakersUpdate, StatusUpdate, TranscriptUpdate
from wlk_cli.tui.widgets import StatusBar, TranscriptView

HELP = (
    "space  pause / resume capture (the transcript marks the gap)\n"
    "s      save the files now\n"
    "c      copy the transcript to the clipboard\n"
    "t      show / hide paragraph timestamps\n"
    "n      name the speaker talking now (saves a voice profile; --diarization)\n"
    "end    follow the newest text again\n"
    "q      stop: finish the utterance, write files, exit\n"
    "?      this help (Esc closes it)"
)


class HelpScreen(ModalScreen[None]):
    """The keys, over the transcript; Esc, ? or q closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: auto; height: auto; padding: 1 2; border: round $accent; background: $panel; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(HELP)

    def action_close(self) -> None:
        self.dismiss()


class NameScreen(ModalScreen[str | None]):
    """Asks for the name of the speaker talking now; Enter names them, Esc leaves them as they are."""

    DEFAULT_CSS = """
    NameScreen { align: center middle; }
    NameScreen > Input { width: 50; border: round $accent; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="name of the speaker talking now, then Enter")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SessionControl(Protocol):
    """What the TUI can ask of a running session."""

    source_label: str
    model: str
    policy: str

    def run(self, sinks: list[Sink]) -> EndStats: ...

    def pause(self, paused: bool) -> None: ...

    def save(self) -> list[Path]: ...

    def name_speaker(self, name: str) -> str: ...

    def stop(self, interrupted: bool | None = None) -> None: ...


class TuiSink:
    """Forwards pipeline events to the app as messages (safe from any thread)."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app

    def start(self, session: SessionInfo) -> None:
        pass

    def transcript(self, event: TranscriptEvent) -> None:
        self.app.post_message(TranscriptUpdate(event))

    def final(self, event: FinalEvent) -> None:
        self.app.post_message(FinalUpdate(event))

    def status(self, event: StatusEvent) -> None:
        self.app.post_message(StatusUpdate(event))

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        self.app.post_message(SpeakersUpdate(event))

    def end(self, stats: EndStats) -> None:
        pass


class WlkApp(App[EndStats | None]):
    TITLE = "wlk"
    CSS = """
    Screen { layout: vertical; }
    ToastRack { margin-bottom: 3; }  /* above the status bar and the footer, never over them */
    """
    BINDINGS = [
        Binding("space", "pause", "Pause"),
        Binding("space", "resume", "Resume"),
        Binding("s", "save", "Save"),
        Binding("c", "copy", "Copy"),
        Binding("t", "times", "Times"),
        Binding("n", "name", "Name", show=False),  # in ? (the footer has no room at 80 columns)
        Binding("end", "follow", "Follow", priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "stop", "Quit"),
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True),
    ]

    def __init__(self, control: SessionControl) -> None:
        super().__init__()
        self.control = control
        self.stats: EndStats | None = None
        self.error: str | None = None
        self.failure: WlkError | None = None
        self.ended = False
        self.quitting = False
        self.paused = False
        self._paused_at: tuple[float, float] | None = None  # (stream time, wall clock) of the pause

    def compose(self) -> ComposeResult:
        yield TranscriptView()
        yield StatusBar(self.control.source_label, self.control.model, self.control.policy)
        yield Footer()

    def on_mount(self) -> None:
        self.run_session()

    def on_unmount(self) -> None:
        # however the app ends, capture stops and the pipeline finishes its files
        if not self.ended:
            self.control.stop()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_session(self) -> None:
        try:
            stats = self.control.run([TuiSink(self)])
        except WlkError as e:
            self.post_message(SessionEnded(None, str(e), e))
        except Exception as e:  # the screen must survive: report it, keep what was written
            self.post_message(SessionEnded(None, f"internal error: {type(e).__name__}: {e}"))
        else:
            self.post_message(SessionEnded(stats))

    @property
    def view(self) -> TranscriptView:
        return self.query_one(TranscriptView)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @on(TranscriptUpdate)
    def _transcript(self, message: TranscriptUpdate) -> None:
        self.view.apply(message.event)
        if message.event.language and message.event.language != self.status_bar.language:
            self.status_bar.language = message.event.language
            self.status_bar.refresh(layout=True)

    @on(FinalUpdate)
    def _final(self, message: FinalUpdate) -> None:
        self.view.final(message.event)

    @on(SpeakersUpdate)
    def _speakers(self, message: SpeakersUpdate) -> None:
        self.view.relabel(message.event.updates)

    @on(StatusUpdate)
    def _status(self, message: StatusUpdate) -> None:
        self.status_bar.event = message.event
        self.status_bar.refresh(layout=True)

    @on(SessionEnded)
    def _ended(self, message: SessionEnded) -> None:
        self.ended = True
        self.stats = message.stats
        self.error = message.error
        self.failure = message.failure
        if message.error:
            self.notify(message.error, title="Session ended", severity="error", timeout=60)
            self.status_bar.note = "ended with an error: q to exit"
        else:
            self.status_bar.note = "finished: q to exit"
        self.status_bar.refresh(layout=True)
        if self.quitting and not message.error:
            self.exit(self.stats)

    def request_stop(self, interrupted: bool | None = True) -> None:
        """Stop (SIGTERM from outside, or a key): finish, write files, exit. ``interrupted`` as in the
        session's stop: True for Ctrl-C and SIGTERM, None for q."""
        self.quitting = True
        self.control.stop(interrupted)

    def _stop(self, interrupted: bool | None) -> None:
        if self.ended:
            self.exit(self.stats)
            return
        if not self.quitting:
            self.status_bar.note = "finishing..."
            self.status_bar.refresh(layout=True)
        self.request_stop(interrupted)

    def action_stop(self) -> None:
        self._stop(None)

    def action_interrupt(self) -> None:
        self._stop(True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers Pause while capturing and Resume while paused (one key, two actions)."""
        if action == "pause":
            return not self.paused
        if action == "resume":
            return self.paused
        return True

    def _set_paused(self, paused: bool) -> None:
        if self.ended or paused == self.paused:
            return
        self.paused = paused
        self.control.pause(paused)
        if paused:
            ev = self.status_bar.event
            self._paused_at = (ev.audio_s if ev is not None else 0.0, time.monotonic())
        elif self._paused_at is not None:
            at, since = self._paused_at
            self.view.mark_pause(at, time.monotonic() - since)
            self._paused_at = None
        self.status_bar.paused = paused
        self.status_bar.refresh(layout=True)
        self.refresh_bindings()

    def action_pause(self) -> None:
        self._set_paused(True)

    def action_resume(self) -> None:
        self._set_paused(False)

    @on(TranscriptView.FollowChanged)
    def _following(self, message: TranscriptView.FollowChanged) -> None:
        self.status_bar.following = message.following
        self.status_bar.refresh(layout=True)

    def action_save(self) -> None:
        try:
            paths = self.control.save()
        except (OSError, WlkError) as e:
            self.notify(f"cannot save: {e}", severity="error")
            return
        if paths:
            self.notify("saved " + ", ".join(p.name for p in paths), timeout=4)
        else:
            self.notify("no files to write (--no-files)", severity="warning", timeout=4)

    def action_copy(self) -> None:
        text = self.view.plain_text()
        self.copy_to_clipboard(text)
        self.notify(f"copied {len(text.split())} words (OSC 52: terminals that allow it)", timeout=4)

    def action_times(self) -> None:
        self.view.toggle_times()

    def action_follow(self) -> None:
        self.view.follow()

    def action_name(self) -> None:
        if isinstance(self.screen, NameScreen) or self.ended:
            return

        def named(name: str | None) -> None:
            if not name:
                return
            try:
                self.notify(self.control.name_speaker(name), timeout=6)
            except (OSError, WlkError) as e:
                self.notify(f"cannot name: {e}", severity="error", timeout=6)

        self.push_screen(NameScreen(), named)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):  # one at a time
            self.push_screen(HelpScreen())
