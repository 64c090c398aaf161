"""What a client receives: WhisperLiveKit's full state (``/asr``) or our JSON lines (``/v1/stream``).

WhisperLiveKit 0.2.x clients (its web page, browser extension and test client) read a ``config``
message, then whole-state updates without a ``type`` key, then ``{"type": "ready_to_stop"}``.
:class:`WlkState` builds that state from a stream's events. Only the confirmed words a speaker
revision can still reach are kept as words; older lines are kept as their text (a long session's
history is text, not word objects).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from wlk_cli.events import FinalEvent, SpeakersEvent, StatusEvent, TranscriptEvent, Word, apply_final
from wlk_cli.text import is_sentence_end

WLK_UPDATE_S = 0.05  # at most one state update per 50 ms, and only when it changed
OPEN_WORDS = 2000  # confirmed words kept as words (speaker revisions reach back this far)
LINE_WORDS = 40  # a line this long ends at its next sentence end


def wlk_time(t: float) -> str:
    """Seconds as WhisperLiveKit writes them: H:MM:SS.cc."""
    cs = max(0, int(round(t * 100)))
    h, rest = divmod(cs, 360000)
    m, rest = divmod(rest, 6000)
    s, c = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{c:02d}"


def _text(words: list[Word]) -> str:
    return "".join(w.text for w in words).strip()


class WlkState:
    """One stream's WhisperLiveKit state: ``lines`` (confirmed, by speaker and pause), the tentative
    ``buffer_transcription`` and the lag."""

    def __init__(self, speaker_names: list[str] | None = None) -> None:
        self._names = list(speaker_names or [])
        self._numbers: dict[str, int] = {}
        self._frozen: list[dict[str, Any]] = []
        self._words: list[Word] = []
        self._breaks: set[int] = set()  # ids of words an utterance ended with
        self._tentative = ""
        self._lag = 0.0
        self._dia_lag = 0.0
        self.dropped_audio_s = 0.0
        self.language: str | None = None
        self.error: str | None = None

    # -- events --------------------------------------------------------------------------------------
    def transcript(self, ev: TranscriptEvent) -> None:
        self._words.extend(ev.confirmed)
        if ev.utterance_end and self._words:
            self._breaks.add(self._words[-1].id if self._words[-1].id is not None else -1)
        self._tentative = _text(list(ev.tentative))
        self.language = ev.language or self.language
        if len(self._words) > OPEN_WORDS:
            self._freeze()

    def final(self, ev: FinalEvent) -> None:
        """The utterance's final words in its lines (an utterance still ends its line)."""
        ended = bool(self._breaks & set(ev.replaces))
        self._words = apply_final(self._words, ev)
        if ended and ev.words and ev.words[-1].id is not None:
            self._breaks.add(ev.words[-1].id)

    def speakers(self, ev: SpeakersEvent) -> None:
        changes = dict(ev.updates)
        self._words = [
            Word(w.start, w.end, w.text, w.prob, changes[w.id], w.id) if w.id in changes else w for w in self._words
        ]

    def status(self, ev: StatusEvent) -> None:
        self._lag = round(ev.lag_s, 1)  # to a tenth: the state changes when the lag does, not every frame
        self._dia_lag = round(ev.diarization_lag_s or 0.0, 1)
        self.dropped_audio_s = round(ev.dropped_audio_s, 1)

    # -- the state -----------------------------------------------------------------------------------
    def _speaker(self, label: str | None) -> int:
        if label is None:
            return 1
        m = re.fullmatch(r"S(\d+)", label)
        if m:
            return int(m.group(1))
        if label in self._names:
            return self._names.index(label) + 1
        return self._numbers.setdefault(label, len(self._names) + len(self._numbers) + 1)

    def _lines(self, words: list[Word]) -> list[tuple[list[Word], dict[str, Any]]]:
        groups: list[list[Word]] = []
        for w in words:
            cur = groups[-1] if groups else None
            if (
                cur is None
                or cur[-1].speaker != w.speaker
                or cur[-1].id in self._breaks
                or (len(cur) >= LINE_WORDS and is_sentence_end(cur[-1].text))
            ):
                groups.append([w])
            else:
                cur.append(w)
        return [(g, self._line(g)) for g in groups]

    def _line(self, g: list[Word]) -> dict[str, Any]:
        line = {
            "speaker": self._speaker(g[0].speaker),
            "text": _text(g),
            "start": wlk_time(g[0].start),
            "end": wlk_time(g[-1].end),
        }
        if self.language:
            line["detected_language"] = self.language
        return line

    def _freeze(self) -> None:
        """Keep the older lines as text: all but the newest half of the open words."""
        lines = self._lines(self._words)
        kept = len(self._words)
        frozen = 0
        for g, line in lines[:-1]:
            if kept <= OPEN_WORDS // 2:
                break
            self._frozen.append(line)
            kept -= len(g)
            frozen += len(g)
        ids = {w.id for w in self._words[:frozen]}
        self._breaks -= ids
        self._words = self._words[frozen:]

    def snapshot(self) -> dict[str, Any]:
        lines = [*self._frozen, *(line for _, line in self._lines(self._words))]
        state: dict[str, Any] = {
            "status": "active_transcription" if lines or self._tentative else "no_audio_detected",
            "lines": lines,
            "buffer_transcription": self._tentative,
            "buffer_diarization": "",
            "buffer_translation": "",
            "remaining_time_transcription": self._lag,
            "remaining_time_diarization": self._dia_lag,
        }
        if self.dropped_audio_s:
            state["dropped_audio_s"] = self.dropped_audio_s
        if self.error:
            state["error"] = self.error
        return state


def wlk_config(pcm_input: bool) -> dict[str, Any]:
    """The first message of ``/asr``: what audio the page must send."""
    return {"type": "config", "useAudioWorklet": pcm_input, "mode": "full"}


def status_line(ev: StatusEvent) -> dict[str, Any]:
    """A native ``status`` line (sent when the client asked for them, and when audio was shed)."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "type": "status",
        "audio_s": r(ev.audio_s),
        "lag_s": r(ev.lag_s),
        "speech": ev.speech,
        "latency_s": r(ev.latency_s),
        "dropped_audio_s": r(ev.dropped_audio_s),
        "diarization_lag_s": r(ev.diarization_lag_s),
    }


class LineWriter:
    """A text stream for :class:`~wlk_cli.sinks.jsonl.JsonlSink`: each whole line it writes is handed on,
    so a native stream gets exactly the lines `wlk file` prints."""

    def __init__(self, put: Callable[[str], None]) -> None:
        self._put = put
        self._rest = ""

    def write(self, text: str) -> int:
        self._rest += text
        *lines, self._rest = self._rest.split("\n")
        for line in lines:
            if line:
                self._put(line)
        return len(text)

    def flush(self) -> None:
        pass


def error_text(message: str, native: bool, code: int | None = None) -> str:
    """An error as the protocol's JSON: ``{"status": "error", ...}`` (WhisperLiveKit) or a native line."""
    if native:
        body: dict[str, Any] = {"type": "error", "error": message}
        if code is not None:
            body["code"] = code
        return json.dumps(body, ensure_ascii=False)
    return json.dumps({"status": "error", "error": message}, ensure_ascii=False)
