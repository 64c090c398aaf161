"""The sink protocol: every output of a stream receives the same typed events."""

from __future__ import annotations

from typing import Protocol

from wlk_cli.events import (
    EndStats,
    FinalEvent,
    SessionInfo,
    SpeakersEvent,
    SpeakerTurn,
    StatusEvent,
    TranscriptEvent,
)

LAG_WARN_S = 2.0  # a lag beyond this is shown as a problem (the engine is falling behind)


class Sink(Protocol):
    def start(self, session: SessionInfo) -> None: ...

    def transcript(self, event: TranscriptEvent) -> None: ...

    def final(self, event: FinalEvent) -> None:
        """An utterance's final words, in place of the confirmed words it names."""
        ...

    def status(self, event: StatusEvent) -> None: ...

    def speakers(self, event: SpeakersEvent) -> None: ...

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        """Newly decided turns; with ``since``, a refine's turns, which replace those from ``since`` on."""
        ...

    def end(self, stats: EndStats) -> None: ...


class SinkFanout:
    """Calls every sink in order."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks

    def start(self, session: SessionInfo) -> None:
        for s in self.sinks:
            s.start(session)

    def transcript(self, event: TranscriptEvent) -> None:
        for s in self.sinks:
            s.transcript(event)

    def final(self, event: FinalEvent) -> None:
        for s in self.sinks:
            s.final(event)

    def status(self, event: StatusEvent) -> None:
        for s in self.sinks:
            s.status(event)

    def speakers(self, event: SpeakersEvent) -> None:
        for s in self.sinks:
            s.speakers(event)

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        for s in self.sinks:
            s.turns(turns, since)

    def end(self, stats: EndStats) -> None:
        for s in self.sinks:
            s.end(stats)
