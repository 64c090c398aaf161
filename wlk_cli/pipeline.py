"""The one loop: audio feed -> ring buffer -> speech gate (VAD) -> streaming policy -> emitter -> sinks,
and each closed utterance -> the final pass (its own thread) -> emitter -> sinks.

The same loop serves a file fed as if live, a file fed as fast as possible, and a microphone: only
the feed that releases audio into the ring buffer differs. Its parts, each with one concern:
:class:`SpeechGate` (which audio reaches the policy, and where utterances end), :class:`Emitter`
(word ids, the tentative tail, events in order, speakers), :class:`StreamMetrics` (latency, lag,
drops, the end statistics).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.events import EndStats, FinalEvent, SessionInfo, SpeakersEvent, StatusEvent, TranscriptEvent, Word
from wlk_cli.final_pass import FORCE_CLOSE_S, PAD_S, FinalPass, FinalResult, Utterance, UtteranceDecoder
from wlk_cli.policies.base import PolicyUpdate, StreamingPolicy
from wlk_cli.policies.text import repair_times
from wlk_cli.sinks.base import Sink
from wlk_cli.vad import VoiceActivityController

MIN_UTTERANCE_S = 0.3  # an utterance shorter than this with no word confirmed gets no final pass
RESET_CONTEXT_AFTER_S = 10.0  # a silence this long starts a new context: the old prompt no longer helps
STATUS_EVERY_S = 0.25


class AudioFeed(Protocol):
    """Everything the pipeline (and a session) reads of a feed: a file's clock or a microphone."""

    ring: RingBuffer
    live: bool
    """True for a microphone (no end of its own), False for a file."""

    def start(self) -> None: ...

    def wait_beyond(self, pos: int, timeout: float = 0.5) -> bool:
        """True once audio past ``pos`` is in the ring (or ``timeout`` passed); False at the end."""
        ...

    def wall_now(self) -> float: ...

    def release_wall(self, pos: int) -> float | None:
        """When the audio at ``pos`` was released (as a microphone would have delivered it)."""
        ...

    def pause(self, paused: bool) -> None: ...

    def stop(self) -> None: ...

    @property
    def exhausted(self) -> bool:
        """Whether all of the source was released (never, for a live feed)."""
        ...

    @property
    def level_db(self) -> float | None: ...

    @property
    def dropped_frames(self) -> int:
        """Blocks lost before the ring (a sound system's overflows)."""
        ...


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    t = os.times()
    return t.user + t.system


# -- the speech gate -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Feed:
    """Give the policy the ring's samples ``start``..``end``."""

    start: int
    end: int


@dataclass(frozen=True)
class UtteranceStart:
    pos: int
    fresh_context: bool
    """After a long silence: the policy's prompt no longer helps."""


@dataclass(frozen=True)
class UtteranceEnd:
    pos: int


GateStep = Feed | UtteranceStart | UtteranceEnd


class SpeechGate:
    """Which audio reaches the policy. With a VAD: each utterance, from the VAD's start to its end
    (a pause); without one: all of it, as one utterance until the stream ends."""

    def __init__(self, vad: VoiceActivityController | None) -> None:
        self.vad = vad
        self.in_speech = vad is None
        self.speech_start = 0  # where the current utterance starts (samples)
        self._fed = 0  # the policy has everything before this
        self._last_end = 0

    def consume(self, audio: np.ndarray, end: int) -> list[GateStep]:
        """The steps for ``audio``, the ring's samples up to ``end``."""
        if self.vad is None:
            self._fed = end
            return [Feed(end - audio.size, end)]
        steps: list[GateStep] = []
        for ev in self.vad.process(audio):
            if ev.kind == "start":
                fresh = ev.pos - self._last_end > RESET_CONTEXT_AFTER_S * SAMPLE_RATE
                steps.append(UtteranceStart(ev.pos, fresh))
                self.in_speech = True
                self._fed = self.speech_start = ev.pos
            else:
                steps.append(Feed(self._fed, ev.pos))
                self._fed = max(self._fed, ev.pos)
                self._last_end = ev.pos
                self.in_speech = False
                steps.append(UtteranceEnd(ev.pos))
        if self.in_speech:
            steps.append(Feed(self._fed, self.vad.position))
            self._fed = max(self._fed, self.vad.position)
        return steps

    def skip_to(self, pos: int) -> None:
        """The audio before ``pos`` was shed: the gate goes on from there, out of any utterance."""
        self._fed = self._last_end = pos
        if self.vad is not None:
            self.vad.skip_to(pos)
            self.in_speech = False

    def flush(self) -> list[GateStep]:
        """End of stream: the audio of an open utterance (the caller then finishes the policy)."""
        if self.vad is None:
            return []
        steps: list[GateStep] = [Feed(self._fed, ev.pos) for ev in self.vad.flush()]
        self.in_speech = False
        return steps


# -- metrics -------------------------------------------------------------------------------------
@dataclass
class StreamMetrics:
    """What one stream measures of itself: confirmation latency, lag, drops, time spent in the policy."""

    latencies: list[float] = field(default_factory=list)
    max_lag: float = 0.0
    dropped_samples: int = 0
    busy_s: float = 0.0
    words: int = 0
    final_latencies: list[float] = field(default_factory=list)
    finals: int = 0
    kept_live: dict[str, int] = field(default_factory=dict)
    refilled: int = 0
    from_live: int = 0
    unheard_s: float = 0.0
    final_s: float = 0.0
    final_words: int = 0

    def confirmed(self, latency: float) -> None:
        self.latencies.append(latency)
        self.words += 1

    @property
    def last_latency(self) -> float | None:
        return self.latencies[-1] if self.latencies else None

    @property
    def first_latency(self) -> float | None:
        return self.latencies[0] if self.latencies else None

    def lag(self, lag: float) -> float:
        self.max_lag = max(self.max_lag, lag)
        return lag

    def final(self, result: FinalResult, latency: float | None) -> None:
        self.finals += 1
        self.final_words += len(result.words)
        if latency is not None:
            self.final_latencies.append(latency)
        if result.kept_live is not None:
            why = result.kept_live.split(":")[0]
            self.kept_live[why] = self.kept_live.get(why, 0) + 1
        self.refilled += result.refilled
        self.from_live += result.from_live
        self.unheard_s += result.unheard_s
        self.final_s += result.decode_s

    def final_summary(self) -> dict[str, Any]:
        """The final pass's end statistics."""
        lat = np.asarray(self.final_latencies) if self.final_latencies else None
        return {
            "finals": self.finals,
            "final_words": self.final_words,
            "final_latency_mean_s": None if lat is None else round(float(lat.mean()), 3),
            "final_latency_p90_s": None if lat is None else round(float(np.percentile(lat, 90)), 3),
            "finals_kept_live": dict(self.kept_live),
            "final_processing_s": round(self.final_s, 3),
            "refilled": self.refilled,
            "final_places_from_live": self.from_live,
            "speech_without_words_s": round(self.unheard_s, 3),
        }

    def summary(self) -> tuple[float | None, float | None, float | None]:
        """Mean, median and 90th percentile of the confirmation latency."""
        if not self.latencies:
            return None, None, None
        a = np.asarray(self.latencies)
        return float(a.mean()), float(np.percentile(a, 50)), float(np.percentile(a, 90))


# -- the emitter ---------------------------------------------------------------------------------
class Emitter:
    """Turns policy updates into transcript events: word ids in order, times repaired, the latency of
    each confirmed word, the tentative tail sent only when it changed; and speakers as they are decided."""

    def __init__(
        self,
        feed: AudioFeed,
        sink: Sink,
        metrics: StreamMetrics,
        language: Callable[[], str | None],
        attribution: Any = None,
    ) -> None:
        self.feed = feed
        self.sink = sink
        self.metrics = metrics
        self.language = language
        self.attribution = attribution  # a SpeakerAttribution, or None without diarization
        self._seq = 0
        self._next_id = 0
        self._tentative: tuple[Word, ...] = ()
        self._confirmed_end = 0.0  # end of the last confirmed word

    def words(self, update: PolicyUpdate, utterance_end: bool = False) -> list[Word]:
        """Emit ``update``; returns the words it confirmed (with their ids and speakers)."""
        # times in order and never overlapping on every CPU: alignment noise is cut where it is
        words = repair_times([*update.confirmed, *update.tentative], self._confirmed_end)
        update = PolicyUpdate(words[: len(update.confirmed)], words[len(update.confirmed) :])
        if update.confirmed:
            self._confirmed_end = update.confirmed[-1].end
        tentative = tuple(update.tentative)
        if not update.confirmed and tentative == self._tentative:
            return []
        wall = self.feed.wall_now()
        confirmed: list[Word] = []
        for w in update.confirmed:
            confirmed.append(Word(w.start, w.end, w.text, w.prob, w.speaker, self._next_id))
            self._next_id += 1
            released = self.feed.release_wall(int(w.end * SAMPLE_RATE))
            self.metrics.confirmed(max(0.0, wall - (released if released is not None else w.end)))
        if self.attribution is not None:
            confirmed = self.attribution.assign(confirmed)
        self._tentative = tentative
        audio_s = self.feed.ring.end / SAMPLE_RATE
        self.sink.transcript(
            TranscriptEvent(self._seq, wall, audio_s, tuple(confirmed), tentative, self.language(), utterance_end)
        )
        self._seq += 1
        return confirmed

    def final(self, result: FinalResult) -> None:
        """An utterance's final words in place of its confirmed ones (new ids; speakers by time)."""
        u = result.utterance
        replaces = tuple(w.id for w in u.live if w.id is not None)
        if result.kept_live is not None:  # the live words are final as they are (as labelled now)
            words = self.attribution.labelled(u.live) if self.attribution is not None else list(u.live)
        else:
            words = []
            for w in repair_times(result.words):
                words.append(Word(w.start, w.end, w.text, w.prob, None, self._next_id))
                self._next_id += 1
            if self.attribution is not None:
                self.attribution.forget(replaces)
                words = self.attribution.assign(words)
        if not replaces and not words:
            return
        wall = self.feed.wall_now()
        last = max((w.end for w in [*u.live, *words]), default=None)
        released = self.feed.release_wall(int(last * SAMPLE_RATE)) if last is not None else None
        latency = None if last is None else max(0.0, wall - (released if released is not None else last))
        self.metrics.final(result, latency)
        event = FinalEvent(self._seq, wall, u.number, replaces, tuple(words), self.language(), result.kept_live)
        self.sink.final(event)
        self._seq += 1

    def speakers(self, batches: list[Any], final: bool = False) -> None:
        """Take decided turns from the diarizer; report words whose speaker changed."""
        if self.attribution is None:
            return
        from wlk_cli.diarization.refine import Refined

        decided_turns: list[Any] = []
        for item in batches:
            if isinstance(item, Refined):  # the whole session again: its turns replace the live ones
                if decided_turns:
                    self.sink.turns(decided_turns)
                    decided_turns = []
                self._revise()
                turns, updates = self.attribution.refine(item)
                self.sink.turns(turns, since=item.start)
                self._updates(updates, refined=True)
            elif isinstance(item, dict):  # known voices found among the speakers
                self._updates(self.attribution.name(item))
            else:
                decided_turns += self.attribution.add_turns(*item)
        if decided_turns:
            self.sink.turns(decided_turns)
        if self.attribution.take_renamed() and (shown := self.attribution.shown_turns()):
            self.sink.turns(shown, since=shown[0].start)  # the turns sent with a label now named
        self._revise(final)

    def _revise(self, final: bool = False) -> None:
        self._updates(self.attribution.finish() if final else self.attribution.revisions())

    def _updates(self, updates: list[tuple[int, str]], refined: bool = False) -> None:
        if updates:
            self.sink.speakers(SpeakersEvent(self._seq, self.feed.wall_now(), tuple(updates), refined))
            self._seq += 1


# -- the loop ------------------------------------------------------------------------------------
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
        max_lag: float = 0.0,
        final: UtteranceDecoder | None = None,
    ) -> None:
        """``final``: how a closed utterance is decoded again (None: no final pass, ``--final off``)."""
        self.feed = feed
        self.max_lag = max_lag if feed.live else 0.0  # a file's clock waits for the pipeline
        self.stopped_early = stopped_early  # the user stopped the stream before its end (q in the TUI)
        self.ring = feed.ring
        self.policy = policy
        self.sink = sink
        self.gate = SpeechGate(vad)
        self.language = language
        self.total_s = total_s
        self.diarization = diarization  # a DiarizationWorker, or None
        self._diarization_failed = False
        self.metrics = StreamMetrics()
        self.emitter = Emitter(feed, sink, self.metrics, language, attribution)
        self._read_pos = 0
        self._last_status = -1.0
        self._final_decode = final
        self.finals: FinalPass | None = None
        self._utterances = 0
        self._utt_start = 0.0  # stream time the open utterance (for its final pass) starts at
        self._utt_words: list[Word] = []  # its confirmed words
        self._utt_fresh = False

    # -- parts ---------------------------------------------------------------------------------
    def _apply(self, steps: list[GateStep]) -> None:
        for step in steps:
            if isinstance(step, Feed):
                if step.end > step.start:
                    got, audio = self.ring.read(step.start, step.end)
                    if audio.size:
                        self.policy.insert_audio(audio, got / SAMPLE_RATE)
            elif isinstance(step, UtteranceStart):
                if step.fresh_context:
                    self.policy.reset_context()
                self._utt_start = step.pos / SAMPLE_RATE
                self._utt_fresh = step.fresh_context
            else:  # the final pass starts on the audio while the live pass finishes the utterance
                end = step.pos / SAMPLE_RATE
                early = self._open(end)
                try:
                    self._words(self.policy.finish(), utterance_end=True)
                finally:
                    self._close(end, early=early)

    # -- the final pass ------------------------------------------------------------------------
    def _words(self, update: PolicyUpdate, utterance_end: bool = False) -> None:
        """Emit a policy update; the words it confirmed join the open utterance (closed between two words
        once it is FORCE_CLOSE_S long)."""
        self._utt_words += self.emitter.words(update, utterance_end)
        w = self._utt_words
        if self.finals is not None and len(w) >= 2 and w[-1].end - self._utt_start > FORCE_CLOSE_S:
            cut = (w[-2].end + w[-1].start) / 2
            self._utt_words = w[:-1]
            self._close(cut)
            self._utt_words = [w[-1]]
            self._utt_start = cut

    def _utterance(self, end: float, words: list[Word]) -> Utterance:
        start = self._utt_start
        got, audio = self.ring.read(int(max(0.0, start - PAD_S) * SAMPLE_RATE), int((end + PAD_S) * SAMPLE_RATE))
        self._utterances += 1
        return Utterance(
            self._utterances, start, end, audio, got / SAMPLE_RATE, tuple(words), self.language(), self._utt_fresh
        )

    def _open(self, end: float) -> Future[tuple[Word, ...]] | None:
        """Hand the open utterance, ending at ``end``, to the final pass before its last confirmed words
        are known (its decoding and the live pass's last one run at once); None when it is too short to
        surely get a final, or so long that its last words may close it first (FORCE_CLOSE_S)."""
        length = end - self._utt_start
        if self.finals is None or not MIN_UTTERANCE_S <= length < FORCE_CLOSE_S - 1.0:
            return None
        live: Future[tuple[Word, ...]] = Future()
        self.finals.close(self._utterance(end, []), live)
        return live

    def _close(self, end: float, speech: bool = True, early: Future[tuple[Word, ...]] | None = None) -> None:
        """The open utterance ends at stream time ``end``: its audio and confirmed words go to the final
        pass; ``speech``: whether the audio since its start was speech (False: only its words count);
        ``early``: the final pass has its audio already (``_open``) and waits for its words."""
        words = self._utt_words
        if early is not None:
            early.set_result(tuple(words))
        elif self.finals is not None and (words or (speech and end - self._utt_start >= MIN_UTTERANCE_S)):
            self.finals.close(self._utterance(end, words))
        self._utt_words = []
        self._utt_start = end
        self._utt_fresh = False

    def _emit_finals(self, wait: bool = False) -> None:
        if self.finals is not None:
            for result in self.finals.take(wait):
                self.emitter.final(result)

    def _poll_diarization(self) -> None:
        if self.diarization is None or self._diarization_failed:
            return
        if self.diarization.error is not None:
            self._diarization_failed = True
            return
        self.emitter.speakers(self.diarization.drain())

    def _processed(self) -> float:
        """Stream time up to which the audio is done with: in speech, the policy has transcribed up to its
        last pass, and the silence the VAD skipped before this utterance counts as done (the previous
        utterance's end is not a backlog)."""
        processed = (
            max(self.policy.transcribed_until, self.gate.speech_start / SAMPLE_RATE)
            if self.gate.in_speech
            else self._read_pos / SAMPLE_RATE
        )
        return max(processed, 0.0)

    def _measure_lag(self) -> float:
        return self.metrics.lag(max(0.0, self.ring.end / SAMPLE_RATE - self._processed()))

    def _shed_if_behind(self) -> None:
        """A live stream whose oldest audio not yet done with came more than ``max_lag`` seconds ago (wall
        time: a client that sends faster than real time is not behind for that) ends its utterance with
        the words heard so far and drops the audio that came during the passes (counted in
        ``dropped_audio_s``), so its lag stays bounded when the machine cannot keep up; transcription
        goes on from the newest audio."""
        if not self.max_lag:
            return
        came = self.feed.release_wall(int(self._processed() * SAMPLE_RATE))
        if came is None or self.feed.wall_now() - came <= self.max_lag:
            return
        in_speech = self.gate.in_speech
        self._words(self.policy.finish(), utterance_end=True)
        end = self.ring.end
        self._close(self._read_pos / SAMPLE_RATE, in_speech)
        self.metrics.dropped_samples += max(0, end - self._read_pos)
        self._read_pos = end
        self.gate.skip_to(end)
        self._status(force=True)

    def _status(self, force: bool = False) -> None:
        wall = self.feed.wall_now()
        if not force and wall - self._last_status < STATUS_EVERY_S:
            return
        self._last_status = wall
        self.sink.status(
            StatusEvent(
                wall,
                self.ring.end / SAMPLE_RATE,
                self._measure_lag(),
                self.total_s,
                speech=None if self.gate.vad is None else self.gate.in_speech,
                level_db=self.feed.level_db,
                latency_s=self.metrics.last_latency,
                processing_s=self.metrics.busy_s,
                dropped_frames=self.feed.dropped_frames,
                diarization_lag_s=None if self.diarization is None else self.diarization.lag_s,
                dropped_audio_s=self.metrics.dropped_samples / SAMPLE_RATE,
            )
        )

    # -- the loop ------------------------------------------------------------------------------
    def run(self, session: SessionInfo) -> EndStats:
        cpu0, t0 = cpu_seconds(), time.monotonic()
        self.sink.start(session)
        if self._final_decode is not None:
            self.finals = FinalPass(self._final_decode, self.language)
        if self.diarization is not None:
            self.diarization.start()
        interrupted = False
        error: BaseException | None = None
        try:
            while self.feed.wait_beyond(self._read_pos):
                start, audio = self.ring.read(self._read_pos)
                if start > self._read_pos:
                    self.metrics.dropped_samples += start - self._read_pos
                self._read_pos = start + audio.size
                self._apply(self.gate.consume(audio, self._read_pos))
                if self.gate.in_speech and self.policy.ready():
                    t = time.monotonic()
                    update = self.policy.step()
                    self.metrics.busy_s += time.monotonic() - t
                    self._words(update)
                    self._measure_lag()
                    self._shed_if_behind()
                self._emit_finals()
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
        finally:
            if self.finals is not None:
                self.finals.stop()
        self._status(force=True)
        stats = self._stats(cpu0, t0, interrupted or self.stopped_early(), error)
        self.sink.end(stats)
        if error is not None:
            raise error
        return stats

    def _flush(self) -> None:
        in_speech = self.gate.in_speech
        self._apply(self.gate.flush())
        self._words(self.policy.finish(), utterance_end=True)
        self._close(self.ring.end / SAMPLE_RATE, in_speech)
        self._emit_finals(wait=True)  # every utterance's final, however late: none is dropped
        if self.diarization is not None:
            self.emitter.speakers(self.diarization.finish(), final=True)

    def _stats(self, cpu0: float, t0: float, interrupted: bool, error: BaseException | None) -> EndStats:
        audio_s = self.ring.end / SAMPLE_RATE
        proc = time.monotonic() - t0
        m = self.metrics
        mean, p50, p90 = m.summary()
        last_release = self.feed.release_wall(self.ring.end)
        final_lag = self.feed.wall_now() - last_release if last_release is not None else 0.0
        return EndStats(
            audio_duration_s=audio_s,
            processing_time_s=proc,
            real_time_factor=proc / audio_s if audio_s else 0.0,
            cpu_time_s=cpu_seconds() - cpu0,
            words=m.words,
            latency_mean_s=mean,
            latency_p50_s=p50,
            latency_p90_s=p90,
            first_word_latency_s=m.first_latency,
            max_lag_s=m.max_lag,
            dropped_audio_s=m.dropped_samples / SAMPLE_RATE,
            dropped_frames=self.feed.dropped_frames,
            language=self.language(),
            interrupted=interrupted,
            error=str(error) if error is not None else None,
            extra={
                "final_lag_s": round(max(0.0, final_lag), 3),
                **(m.final_summary() if self.finals is not None else {}),
                **({"note": "no speech found"} if m.words == m.final_words == 0 and error is None else {}),
                **({"diarization_error": str(self.diarization.error)} if self._diarization_failed else {}),
                **(
                    {"diarization_refine_s": round(self.diarization.refine_s, 3)}
                    if self.diarization is not None and self.diarization.refine_s is not None
                    else {}
                ),
            },
        )
