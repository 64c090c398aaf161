"""SRT, WebVTT, JSON (Whisper's verbose_json shape plus speakers) and TXT files.

Files are rewritten atomically (temp file + rename) as words are confirmed, so a run that is
interrupted or killed still leaves valid files holding everything heard so far. With the final pass, an
utterance's final words replace its confirmed words as they come: at the end every utterance is final,
and while a stream runs only the utterance still open (and those waiting for their final) shows the
confirmed words.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from wlk_cli.sinks import segments

WRITE_EVERY_S = 1.0


def _ts(t: float, sep: str) -> str:
    ms = int(round(max(0.0, t) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _label(speaker: str | None) -> str:
    return "" if speaker is None else f"[{speaker}] "


def _cues(words: Sequence[Word]) -> list[segments.Cue]:
    """Cues with room left on their two lines for the longest speaker label."""
    label = max((len(_label(w.speaker)) for w in words), default=0)
    return segments.group(words, prefix="x" * label)


def render_srt(words: Sequence[Word]) -> str:
    blocks = []
    cues = _cues(words)
    for i, (c, (start, end)) in enumerate(zip(cues, segments.shown(cues)), 1):
        text = segments.wrap(_label(c.speaker) + c.text)
        blocks.append(f"{i}\n{_ts(start, ',')} --> {_ts(end, ',')}\n{text}\n")
    return "\n".join(blocks)


def render_vtt(words: Sequence[Word]) -> str:
    out = ["WEBVTT", ""]
    cues = _cues(words)
    for c, (start, end) in zip(cues, segments.shown(cues)):
        text = segments.wrap(c.text)
        if c.speaker is not None:
            text = f"<v {c.speaker}>" + text
        out += [f"{_ts(start, '.')} --> {_ts(end, '.')}", text, ""]
    return "\n".join(out)


def render_txt(words: Sequence[Word]) -> str:
    paras = []
    for c in segments.group(words, max_chars=10_000, max_s=3600.0, pause_s=2.0, sentences=False):
        paras.append(_label(c.speaker) + c.text)
    return "\n".join(paras) + ("\n" if paras else "")


def render_json(words: Sequence[Word], meta: dict[str, Any], turns: Sequence[SpeakerTurn] = ()) -> str:
    """Whisper's verbose_json shape with speakers; with diarization also ``turns``: who spoke when,
    overlapping where two speak at once (the RTTM's turns)."""
    segs = []
    for i, c in enumerate(segments.group(words, max_chars=400, max_s=30.0)):
        segs.append(
            {
                "id": i,
                "start": round(c.start, 3),
                "end": round(c.end, 3),
                "text": "".join(w.text for w in c.words),
                "speaker": c.speaker,
                "words": [
                    {
                        "start": round(w.start, 3),
                        "end": round(w.end, 3),
                        "word": w.text,
                        "probability": round(w.prob, 4),
                        "speaker": w.speaker,
                    }
                    for w in c.words
                ],
            }
        )
    speakers = list(dict.fromkeys(w.speaker for w in words if w.speaker is not None))
    doc = {
        "text": "".join(w.text for w in words),
        **meta,
        "segments": segs,
        "speakers": [{"id": s, "label": s} for s in speakers],
    }
    if turns:
        doc["turns"] = [{"start": round(a, 3), "end": round(b, 3), "speaker": spk} for a, b, spk in merged_turns(turns)]
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def merged_turns(turns: Sequence[SpeakerTurn]) -> list[tuple[float, float, str]]:
    """Each speaker's touching (or overlapping) turns merged, whatever other speakers do meanwhile: two
    voices at once are two long turns that overlap, not a turn every half second alternating."""
    merged: list[list[Any]] = []
    last: dict[str, list[Any]] = {}  # each speaker's newest merged turn
    for t in sorted(turns, key=lambda t: t.start):
        mine = last.get(t.speaker)
        if mine is not None and t.start - mine[1] <= 0.01:
            mine[1] = max(mine[1], t.end)
        else:
            last[t.speaker] = [t.start, t.end, t.speaker]
            merged.append(last[t.speaker])
    return [(s, e, spk) for s, e, spk in merged if e > s]


def render_rttm(turns: Sequence[SpeakerTurn], file_id: str) -> str:
    """NIST RTTM: one SPEAKER line per merged turn (``merged_turns``)."""
    uri = "".join(c if c.isalnum() or c in "-_." else "_" for c in file_id) or "stream"
    return "".join(
        f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n" for s, e, spk in merged_turns(turns)
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: mkstemp's files are private (0600)


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class FileSink:
    """Writes ``<stem>.<fmt>`` for each format into ``out_dir``."""

    def __init__(self, out_dir: Path, stem: str, formats: Sequence[str], model: str) -> None:
        self.paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in formats}
        self.stem = stem
        self.words: list[Word] = []
        self.speaker_turns: list[SpeakerTurn] = []
        self.meta: dict[str, Any] = {"language": None, "model": model, "duration": 0.0}
        self._dirty = False
        self._last_write = 0.0
        self._lock = threading.Lock()  # the UI thread may save while the pipeline thread appends

    def write(self) -> list[Path]:
        """Rewrite every file now; returns their paths."""
        with self._lock:
            return self._write()

    def _write(self) -> list[Path]:
        for fmt, path in self.paths.items():
            if fmt == "srt":
                text = render_srt(self.words)
            elif fmt == "vtt":
                text = render_vtt(self.words)
            elif fmt == "txt":
                text = render_txt(self.words)
            elif fmt == "rttm":
                text = render_rttm(self.speaker_turns, self.stem)
            else:
                text = render_json(self.words, self.meta, self.speaker_turns)
            atomic_write(path, text)
        self._dirty = False
        self._last_write = time.monotonic()
        return list(self.paths.values())

    def start(self, session: SessionInfo) -> None:
        pass  # nothing is written before there is something to write: bad input leaves no files

    def transcript(self, event: TranscriptEvent) -> None:
        with self._lock:
            if event.confirmed:
                self.words.extend(event.confirmed)
                self.meta["language"] = event.language
                self.meta["duration"] = round(event.audio_s, 3)
                self._dirty = True
            if self._dirty and time.monotonic() - self._last_write >= WRITE_EVERY_S:
                self._write()

    def final(self, event: FinalEvent) -> None:
        with self._lock:
            self.words = apply_final(self.words, event)
            self._dirty = True

    def status(self, event: StatusEvent) -> None:
        self.meta["duration"] = round(event.audio_s, 3)

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        with self._lock:
            if since is not None:  # a refine: its turns replace those from `since` on
                self.speaker_turns = [
                    t if t.end <= since else dataclasses.replace(t, end=since)
                    for t in self.speaker_turns
                    if t.start < since
                ]
            self.speaker_turns.extend(turns)
            self._dirty = True

    def speakers(self, event: SpeakersEvent) -> None:
        with self._lock:
            labels = dict(event.updates)
            self.words = [dataclasses.replace(w, speaker=labels[w.id]) if w.id in labels else w for w in self.words]
            self._dirty = True

    def end(self, stats: EndStats) -> None:
        self.meta["duration"] = round(stats.audio_duration_s, 3)
        self.meta["language"] = stats.language or self.meta["language"]
        if self.words or self._last_write or stats.error is None:
            self.write()
