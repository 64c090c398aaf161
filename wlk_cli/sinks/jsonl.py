"""JSON lines on stdout: the public, stable interface for piping wlk into other tools.

Lines: one ``session`` object, then ``transcript`` (and, with diarization, ``speakers``) objects, then one
``end`` object. See README.
"""

from __future__ import annotations

import json
from typing import IO, Any

from wlk_cli.events import (
    EndStats,
    FinalEvent,
    SessionInfo,
    SpeakersEvent,
    SpeakerTurn,
    StatusEvent,
    TranscriptEvent,
)

SCHEMA_VERSION = 2  # 2: ``final`` lines (the final pass)


class JsonlSink:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self._broken = False

    def _write(self, obj: dict[str, Any]) -> None:
        if self._broken:
            return
        try:
            self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self.out.flush()
        except BrokenPipeError:  # the reader went away (| head): keep transcribing into the files
            self._broken = True

    def start(self, session: SessionInfo) -> None:
        self._write({"type": "session", "version": SCHEMA_VERSION, "source": session.source, **session.settings})

    def transcript(self, event: TranscriptEvent) -> None:
        self._write(event.to_dict())

    def final(self, event: FinalEvent) -> None:
        self._write(event.to_dict())

    def status(self, event: StatusEvent) -> None:
        pass

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        self._write(event.to_dict())

    def end(self, stats: EndStats) -> None:
        self._write({"type": "end", "stats": stats.to_dict()})


def final_words(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replay parsed JSON lines: every word the stream ends with (confirmed words, each replaced by its
    utterance's ``final`` words once they came), in time order, with its latest speaker label.

    Raises ValueError when a ``speakers`` line names a word that was not emitted before it, or a
    ``final`` line replaces a word that was not (or was already replaced).
    """
    words: dict[int, dict[str, Any]] = {}
    for e in events:
        if e["type"] == "transcript":
            for w in e["confirmed"]:
                words[w["id"]] = dict(w)
        elif e["type"] == "final":
            for i in e["replaces"]:
                if i not in words:
                    raise ValueError(f"final line replaces word {i}, which is not shown")
                del words[i]
            for w in e["words"]:
                words[w["id"]] = dict(w)
        elif e["type"] == "speakers":
            for u in e["updates"]:
                if u["id"] not in words:
                    raise ValueError(f"speakers line names word {u['id']}, which was not emitted before it")
                words[u["id"]]["speaker"] = u["speaker"]
    return sorted(words.values(), key=lambda w: (w["start"], w["id"]))
