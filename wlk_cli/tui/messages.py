"""Typed messages from the pipeline thread to the app."""

from __future__ import annotations

from textual.message import Message

from wlk_cli.errors import WlkError
from wlk_cli.events import EndStats, FinalEvent, SpeakersEvent, StatusEvent, TranscriptEvent


class TranscriptUpdate(Message):
    def __init__(self, event: TranscriptEvent) -> None:
        super().__init__()
        self.event = event


class FinalUpdate(Message):
    def __init__(self, event: FinalEvent) -> None:
        super().__init__()
        self.event = event


class SpeakersUpdate(Message):
    def __init__(self, event: SpeakersEvent) -> None:
        super().__init__()
        self.event = event


class StatusUpdate(Message):
    def __init__(self, event: StatusEvent) -> None:
        super().__init__()
        self.event = event


class SessionEnded(Message):
    """The pipeline finished: ``stats`` when it ran to an end, ``error`` a one-line reason when it failed
    (``failure`` the error itself, when it is one of wlk's: its exit code is the program's)."""

    def __init__(self, stats: EndStats | None, error: str | None = None, failure: WlkError | None = None) -> None:
        super().__init__()
        self.stats = stats
        self.error = error
        self.failure = failure
