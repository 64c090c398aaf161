"""The one loop: audio clock -> ring buffer -> VAD -> streaming policy -> sinks.

The same loop serves a file fed as if live, a file fed as fast as possible, and a microphone: only
the clock that releases audio into the ring buffer differs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.events import EndStats, SessionInfo, SpeakersEvent, StatusEvent, TranscriptEvent, Word
from wlk_cli.policies.base import PolicyUpdate, StreamingPolicy
from wlk_cli.policies.text import repair_times
from wlk_cli.sinks.base import Sink
from wlk_cli.vad import VoiceActivityController

RESET_CONTEXT_AFTER_S = 10.0  # a silence this long starts a new context: the old prompt no longer helps
STATUS_EVERY_S = 0.25


class AudioFeed(Protocol):
    """What the pipeline needs from a clock: wait for audio, and when it was released."""

    ring: RingBuffer

    def wait_beyond(self, pos: int, timeout: float = 0.5) -> bool: ...

    def wall_now(self) -> float: ...

    def release_wall(self, pos: int) -> float | None: ...

    def stop(self) -> None: ...


def _source_drops(feed: AudioFeed) -> int:
    return int(getattr(feed, "overflows", 0)) + int(getattr(feed, "dropped_blocks", 0))


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    t = os.times()
    return t.user + t.system


@dataclass
class _Latency:
    values: list[float] = field(default_factory=list)

    def add(self, v: float) -> None:
        self.values.append(v)

    def summary(self) -> tuple[float | None, float | None, float | None]:
        if not self.values:
            return None, None, None
        a = np.asarray(self.values)
        return float(a.mean()), float(np.percentile(a, 50)), float(np.percentile(a, 90))


class Pipeline:
    """Runs one stream to its end (or interruption) and reports it to the sinks."""

    def __init__(
        self,
        feed: AudioFeed,
        policy: StreamingPolicy,
        sink: Sink,
        vad: VoiceActivityController | None,
        language: Callable[[], str | None] = lambda: None,
        total_s: float | None = None,
        diarization: Any = None,
        attribution: Any = None,
        stopped_early: Callable[[], bool] = lambda: False,
    ) -> None:
        self.feed = feed
        self.stopped_early = stopped_early  # the user stopped the stream before its end (q in the TUI)
        self.ring = feed.ring
        self.policy = policy
        self.sink = sink
        self.vad = vad
        self.language = language
        self.total_s = total_s
        self.diarization = diarization  # a DiarizationWorker, or None
        self.attribution = attribution  # its SpeakerAttribution
        self._diarization_failed = False
        self._seq = 0
        self._next_id = 0
        self._tentative: tuple[Word, ...] = ()
        self._confirmed_end = 0.0  # end of the last confirmed word
        self._latency = _Latency()
        self._first_latency: float | None = None
        self._max_lag = 0.0
        self._dropped = 0
        self._read_pos = 0
        self._in_speech = not vad
        self._fed_pos = 0
        self._last_speech_end = 0
        self._speech_start = 0  # where the VAD put the current utterance's start (samples)
        self._last_status = -1.0
        self._last_latency: float | None = None
        self._busy_s = 0.0
        self.words = 0

    # -- emission ------------------------------------------------------------------------------
    def _emit(self, update: PolicyUpdate, utterance_end: bool = False) -> None:
        # times in order and never overlapping on every CPU: alignment noise is cut where it is
        words = repair_times([*update.confirmed, *update.tentative], self._confirmed_end)
        update = PolicyUpdate(words[: len(update.confirmed)], words[len(update.confirmed) :])
        if update.confirmed:
            self._confirmed_end = update.confirmed[-1].end
        tentative = tuple(update.tentative)
        if not update.confirmed and tentative == self._tentative:
            return
        wall = self.feed.wall_now()
        confirmed: list[Word] = []
        for w in update.confirmed:
            confirmed.append(Word(w.start, w.end, w.text, w.prob, w.speaker, self._next_id))
            self._next_id += 1
            released = self.feed.release_wall(int(w.end * SAMPLE_RATE))
            lat = max(0.0, wall - (released if released is not None else w.end))
            self._latency.add(lat)
            self._last_latency = lat
            if self._first_latency is None:
                self._first_latency = lat
        if self.attribution is not None:
            confirmed = self.attribution.assign(confirmed)
        self.words += len(confirmed)
        self._tentative = tentative
        self.sink.transcript(
            TranscriptEvent(
                self._seq,
                wall,
                self.ring.end / SAMPLE_RATE,
                tuple(confirmed),
                tentative,
                self.language(),
                utterance_end,
            )
        )
        self._seq += 1

    def _speakers(self, batches: list[Any], final: bool = False) -> None:
        """Take decided turns from the diarizer; report words whose speaker changed."""
        if self.attribution is None:
            return
        decided_turns = []
        for turns, decided in batches:
            decided_turns += self.attribution.add_turns(turns, decided)
        if decided_turns:
            self.sink.turns(decided_turns)
        updates = self.attribution.finish() if final else self.attribution.revisions()
        if updates:
            self.sink.speakers(SpeakersEvent(self._seq, self.feed.wall_now(), tuple(updates)))
            self._seq += 1

    def _poll_diarization(self) -> None:
        if self.diarization is None or self._diarization_failed:
            return
        if self.diarization.error is not None:
            self._diarization_failed = True
            return
        self._speakers(self.diarization.drain())

    def _measure_lag(self) -> float:
        # in speech: the policy has transcribed up to its last pass, and the silence the VAD skipped
        # before this utterance counts as done (the previous utterance's end is not a backlog)
        processed = (
            max(self.policy.transcribed_until, self._speech_start / SAMPLE_RATE)
            if self._in_speech
            else self._read_pos / SAMPLE_RATE
        )
        lag = max(0.0, self.ring.end / SAMPLE_RATE - max(processed, 0.0))
        self._max_lag = max(self._max_lag, lag)
        return lag

    def _status(self, force: bool = False) -> None:
        wall = self.feed.wall_now()
        if not force and wall - self._last_status < STATUS_EVERY_S:
            return
        self._last_status = wall
        lag = self._measure_lag()
        self.sink.status(
            StatusEvent(
                wall,
                self.ring.end / SAMPLE_RATE,
                lag,
                self.total_s,
                speech=None if self.vad is None else self._in_speech,
                level_db=getattr(self.feed, "level_db", None),
                latency_s=self._last_latency,
                processing_s=self._busy_s,
                dropped_frames=_source_drops(self.feed),
                diarization_lag_s=None if self.diarization is None else self.diarization.lag_s,
            )
        )

    # -- audio ---------------------------------------------------------------------------------
    def _feed_policy(self, start: int, end: int) -> None:
        if end <= start:
            return
        got, audio = self.ring.read(start, end)
        if audio.size:
            self.policy.insert_audio(audio, got / SAMPLE_RATE)

    def _consume(self, audio: np.ndarray) -> None:
        if self.vad is None:
            self.policy.insert_audio(audio, (self._read_pos - audio.size) / SAMPLE_RATE)
            return
        for ev in self.vad.process(audio):
            if ev.kind == "start":
                if ev.pos - self._last_speech_end > RESET_CONTEXT_AFTER_S * SAMPLE_RATE:
                    self.policy.reset_context()
                self._in_speech = True
                self._fed_pos = self._speech_start = ev.pos
            else:
                self._feed_policy(self._fed_pos, ev.pos)
                self._fed_pos = max(self._fed_pos, ev.pos)
                self._last_speech_end = ev.pos
                self._in_speech = False
                self._emit(self.policy.finish(), utterance_end=True)
        if self._in_speech:
            self._feed_policy(self._fed_pos, self.vad.position)
            self._fed_pos = max(self._fed_pos, self.vad.position)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, session: SessionInfo) -> EndStats:
        cpu0, t0 = cpu_seconds(), time.monotonic()
        self.sink.start(session)
        if self.diarization is not None:
            self.diarization.start()
        interrupted = False
        error: BaseException | None = None
        try:
            while self.feed.wait_beyond(self._read_pos):
                start, audio = self.ring.read(self._read_pos)
                if start > self._read_pos:
                    self._dropped += start - self._read_pos
                self._read_pos = start + audio.size
                self._consume(audio)
                if self._in_speech and self.policy.ready():
                    t = time.monotonic()
                    update = self.policy.step()
                    self._busy_s += time.monotonic() - t
                    self._emit(update)
                    self._measure_lag()
                self._poll_diarization()
                self._status()
        except KeyboardInterrupt:
            interrupted = True
        except BaseException as e:  # finish what was heard, then let the caller report it
            error = e
        finally:
            self.feed.stop()
        try:
            self._flush()
        except KeyboardInterrupt:
            interrupted = True
        self._status(force=True)
        stats = self._stats(cpu0, t0, interrupted or self.stopped_early(), error)
        self.sink.end(stats)
        if error is not None:
            raise error
        return stats

    def _flush(self) -> None:
        if self.vad is not None:
            for ev in self.vad.flush():
                self._feed_policy(self._fed_pos, ev.pos)
            self._in_speech = False
        self._emit(self.policy.finish(), utterance_end=True)
        if self.diarization is not None:
            self._speakers(self.diarization.finish(), final=True)

    def _stats(self, cpu0: float, t0: float, interrupted: bool, error: BaseException | None) -> EndStats:
        audio_s = self.ring.end / SAMPLE_RATE
        proc = time.monotonic() - t0
        mean, p50, p90 = self._latency.summary()
        last_release = self.feed.release_wall(self.ring.end)
        final_lag = self.feed.wall_now() - last_release if last_release is not None else 0.0
        return EndStats(
            audio_duration_s=audio_s,
            processing_time_s=proc,
            real_time_factor=proc / audio_s if audio_s else 0.0,
            cpu_time_s=cpu_seconds() - cpu0,
            words=self.words,
            latency_mean_s=mean,
            latency_p50_s=p50,
            latency_p90_s=p90,
            first_word_latency_s=self._first_latency,
            max_lag_s=self._max_lag,
            dropped_audio_s=self._dropped / SAMPLE_RATE,
            dropped_frames=_source_drops(self.feed),
            language=self.language(),
            interrupted=interrupted,
            error=str(error) if error is not None else None,
            extra={
                "final_lag_s": round(max(0.0, final_lag), 3),
                **({"note": "no speech found"} if self.words == 0 and error is None else {}),
                **({"diarization_error": str(self.diarization.error)} if self._diarization_failed else {}),
            },
        )
