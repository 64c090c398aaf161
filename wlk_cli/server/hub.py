"""The sessions of one server: the shared engine, how many may run at once, one thread per stream
handing its events to the event loop, and what `/metrics` reports.

A stream runs :class:`~wlk_cli.session.Session` on a :class:`~wlk_cli.audio.network.NetworkFeed`, on
its own thread (the model calls release the GIL); the connection's handler feeds it audio and reads
its events from an asyncio queue. A slot is taken before a connection is served and given back when
the stream's thread has finished, so a refused client never slows the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wlk_cli.config import ENGINE_FIELDS, OPTS, Settings, coerce
from wlk_cli.engine import Engine
from wlk_cli.errors import UsageError, WlkError
from wlk_cli.events import (
    EndStats,
    FinalEvent,
    SessionInfo,
    SpeakersEvent,
    SpeakerTurn,
    StatusEvent,
    TranscriptEvent,
)

log = logging.getLogger("wlk.server")

# CPU seconds per audio second of one stream: what a default --max-sessions is worked out from. The
# figures of `wlk file --speed 1` on this project's 2-core benchmark machine (benchmarks/RESULTS.md), a
# margin over what a session of a server costs (tiny.en local-agreement: 0.12, server_bench.py)
_CPU_COST = {("tiny", "local-agreement"): 0.35, ("tiny", "simulstreaming"): 0.85}
_CPU_COST_OTHER = {"local-agreement": 0.8, "simulstreaming": 1.6}
_DIARIZATION_COST = 0.15
# the final pass (beam 5 on each closed utterance, the encoder on the utterance + 3 s): tiny.en 0.073 s a
# second of speech on long.wav (`final_processing_s`, one thread), with a margin
_FINAL_COST = {"tiny": 0.1, "other": 0.3}
CPU_HEADROOM = 0.8  # the share of the CPU sessions may use: the rest is the server, decoding, spikes
NOT_PER_STREAM = {"speed": "a network stream is paced by its client"}


@functools.cache
def _libc() -> Any:
    """glibc, found once (find_library runs ldconfig)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") else None


def limit_malloc_arenas(n: int = 2) -> None:
    """Ask glibc for at most ``n`` malloc arenas. Each thread that allocates gets an arena of its own,
    up to 8 per core, and memory freed in one is kept for it: with a thread per session a server's RSS
    climbs with every new thread. Call before the threads start; a no-op without glibc."""
    lib = _libc()
    if lib is not None:
        lib.mallopt(-8, n)  # M_ARENA_MAX


def release_memory() -> None:
    """Give the memory a finished session freed back to the system (glibc's malloc_trim)."""
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)


def default_max_sessions(settings: Settings, cpus: int, device: str) -> int:
    """How many streams of ``settings`` this machine holds in real time (GPU: 8, a guess to tune)."""
    if device == "cuda":
        return 8
    from wlk_cli.asr.models import is_tiny

    size = "tiny" if is_tiny(settings.model) else "other"
    cost = _CPU_COST.get((size, settings.policy), _CPU_COST_OTHER[settings.policy])
    cost += _DIARIZATION_COST if settings.diarization else 0.0
    cost += _FINAL_COST[size] if settings.final == "on" else 0.0
    return max(1, int(cpus * CPU_HEADROOM / cost))


@dataclass(frozen=True)
class Limits:
    """What one connection may do."""

    max_sessions: int
    max_frame_bytes: int = 1 << 20
    max_upload_bytes: int = 200 << 20
    max_session_s: float = 4 * 3600.0
    idle_s: float = 60.0
    send_timeout_s: float = 10.0
    """A client that reads nothing for this long is cut off (its events would pile up here)."""
    max_queue: int = 5000
    """Events waiting for a client beyond this: the client is too slow and is cut off."""


@dataclass
class Metrics:
    """Counters and gauges for `/metrics` (Prometheus text)."""

    sessions_total: dict[str, int] = field(default_factory=dict)
    refused_total: dict[str, int] = field(default_factory=dict)
    errors_total: dict[str, int] = field(default_factory=dict)
    audio_seconds_total: float = 0.0
    dropped_audio_seconds_total: float = 0.0
    processing_seconds_total: float = 0.0
    transcriptions_total: int = 0

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class Hub:
    """The engine and the sessions on it. Thread-safe."""

    def __init__(self, engine: Engine | None, settings: Settings, limits: Limits, pcm_input: bool = False) -> None:
        """``engine``: loaded already, or None (then :meth:`load` loads it; till then ``ready`` is False)."""
        self.engine = engine
        self.settings = settings
        self.limits = limits
        self.pcm_input = pcm_input
        self.metrics = Metrics()
        self.ready = engine is not None
        self.started = time.time()
        self._lock = threading.Lock()
        self._active: dict[int, StreamRun | None] = {}  # slot id -> its stream (None: not started yet)
        self._next_id = 0
        self._offline: Any = None
        self._runs: list[StreamRun] = []  # every stream whose thread may still run (see drain)

    def load(self, streams: int) -> None:
        """Load the models for ``streams`` sessions at once; then the server is ready."""
        engine = Engine(self.settings, streams=streams)
        engine.prepare(self.settings)
        self.engine = engine
        self.ready = True

    @property
    def loaded(self) -> Engine:
        if self.engine is None:
            raise UsageError("the server is still loading its models")
        return self.engine

    # -- capacity ----------------------------------------------------------------------------------
    @property
    def sessions(self) -> int:
        with self._lock:
            return len(self._active)

    def take_slot(self, kind: str) -> int | None:
        """A slot for a new session, or None when every one is taken (the caller refuses the client)."""
        with self._lock:
            if len(self._active) >= self.limits.max_sessions:
                self.metrics.count(self.metrics.refused_total, "capacity")
                return None
            slot = self._next_id
            self._next_id += 1
            self._active[slot] = None
            self.metrics.count(self.metrics.sessions_total, kind)
            return slot

    def give_back(self, slot: int) -> None:
        with self._lock:
            self._active.pop(slot, None)

    def refused(self, reason: str) -> None:
        with self._lock:
            self.metrics.count(self.metrics.refused_total, reason)

    def lags(self) -> list[float]:
        with self._lock:
            runs = [r for r in self._active.values() if r is not None]
        return [r.lag_s for r in runs]

    # -- per-stream settings -------------------------------------------------------------------------
    def stream_settings(self, values: dict[str, Any], where: str = "start") -> Settings:
        """This server's settings with a client's per-stream ones; engine settings and unknown keys are
        refused with one line naming them."""
        unknown = sorted(k for k in values if k not in OPTS)
        if unknown:
            raise UsageError(f"{where}: unknown setting(s): {', '.join(unknown)}")
        engine = sorted(k for k in values if k in ENGINE_FIELDS and values[k] != getattr(self.settings, k))
        if engine:
            raise UsageError(
                f"{where}: engine settings cannot be set per session: {', '.join(engine)} "
                f"(this server runs model={self.settings.model!r}; they are fixed when it starts)"
            )
        for k in values:
            if k in NOT_PER_STREAM:
                raise UsageError(f"{where}: {k} cannot be set per session ({NOT_PER_STREAM[k]})")
        changes = {k: coerce(k, v, where) for k, v in values.items() if v is not None}
        settings = dataclasses.replace(self.settings, **changes).validate()
        self.loaded.check(settings)
        if settings.speakers:  # the profiles on this server, as the stream will read them
            from wlk_cli.diarization.voices import chosen

            chosen(settings.speakers)
        return settings

    # -- the offline path (OpenAI endpoint) ----------------------------------------------------------
    def offline(self) -> Any:
        """`wlk transcribe`'s decoding on this engine's model (made on first use): an OfflineDecoder."""
        with self._lock:
            if self._offline is None:
                from wlk_cli.asr.offline import OFFLINE_BEAMS

                beams = self.settings.beam_size or OFFLINE_BEAMS
                self._offline = self.loaded.offline_decoder(self.settings.task, beams)
            return self._offline

    def transcribed(self, audio_s: float, processing_s: float) -> None:
        with self._lock:
            self.metrics.transcriptions_total += 1
            self.metrics.audio_seconds_total += audio_s
            self.metrics.processing_seconds_total += processing_s

    # -- streams -------------------------------------------------------------------------------------
    def start(self, slot: int, run: StreamRun, sinks: list[Any]) -> None:
        """Run ``run`` in ``slot`` (taken before); the slot is free again when its thread has ended."""
        with self._lock:
            self._active[slot] = run
            self._runs = [r for r in self._runs if r.running]
            self._runs.append(run)
        run.start(sinks, lambda stats, error: self._finished(slot, stats, error))

    def drain(self, timeout: float) -> bool:
        """At shutdown: end every stream and wait up to ``timeout`` s for their threads (and their final
        passes) to end; False when some still run. A thread inside the model at interpreter exit aborts
        the process (CTranslate2 tears its workers down under it), so the server waits for them."""
        with self._lock:
            runs = list(self._runs)
        for r in runs:
            r.stop()
        deadline = time.monotonic() + timeout
        for r in runs:
            r.join(max(0.0, deadline - time.monotonic()))
        return not any(r.running for r in runs)

    def _finished(self, slot: int, stats: EndStats | None, error: BaseException | None) -> None:
        release_memory()
        with self._lock:
            self._active.pop(slot, None)
            if stats is not None:
                self.metrics.audio_seconds_total += stats.audio_duration_s
                self.metrics.dropped_audio_seconds_total += stats.dropped_audio_s
                self.metrics.processing_seconds_total += stats.processing_time_s
                if stats.error is not None:
                    self.metrics.count(self.metrics.errors_total, "session")
            elif error is not None:
                self.metrics.count(self.metrics.errors_total, type(error).__name__)

    def health(self) -> dict[str, Any]:
        n = self.sessions
        status = "loading" if not self.ready else ("full" if n >= self.limits.max_sessions else "ok")
        return {
            "status": status,
            "model": self.settings.model,
            "policy": self.settings.policy,
            "diarization": self.settings.diarization,
            "sessions": n,
            "capacity": self.limits.max_sessions,
        }

    def prometheus(self) -> str:
        """The metrics in Prometheus' text format."""
        m = self.metrics
        lags = self.lags()
        with self._lock:
            active = len(self._active)
            lines = [
                "# HELP wlk_sessions_active Sessions running now.",
                "# TYPE wlk_sessions_active gauge",
                f"wlk_sessions_active {active}",
                "# HELP wlk_sessions_capacity Sessions this server runs at once (--max-sessions).",
                "# TYPE wlk_sessions_capacity gauge",
                f"wlk_sessions_capacity {self.limits.max_sessions}",
                "# HELP wlk_sessions_total Sessions started, by endpoint.",
                "# TYPE wlk_sessions_total counter",
                *[f'wlk_sessions_total{{endpoint="{k}"}} {v}' for k, v in sorted(m.sessions_total.items())],
                "# HELP wlk_refused_total Connections refused, by reason.",
                "# TYPE wlk_refused_total counter",
                *[f'wlk_refused_total{{reason="{k}"}} {v}' for k, v in sorted(m.refused_total.items())],
                "# HELP wlk_errors_total Sessions that ended with an error, by kind.",
                "# TYPE wlk_errors_total counter",
                *[f'wlk_errors_total{{kind="{k}"}} {v}' for k, v in sorted(m.errors_total.items())],
                "# HELP wlk_audio_seconds_total Audio transcribed (finished sessions and requests).",
                "# TYPE wlk_audio_seconds_total counter",
                f"wlk_audio_seconds_total {m.audio_seconds_total:.3f}",
                "# HELP wlk_processing_seconds_total Wall time those sessions and requests took.",
                "# TYPE wlk_processing_seconds_total counter",
                f"wlk_processing_seconds_total {m.processing_seconds_total:.3f}",
                "# HELP wlk_real_time_factor Processing time over audio time of the finished ones.",
                "# TYPE wlk_real_time_factor gauge",
                f"wlk_real_time_factor {m.processing_seconds_total / max(m.audio_seconds_total, 1e-9):.4f}",
                "# HELP wlk_dropped_audio_seconds_total Audio shed by sessions that fell behind.",
                "# TYPE wlk_dropped_audio_seconds_total counter",
                f"wlk_dropped_audio_seconds_total {m.dropped_audio_seconds_total:.3f}",
                "# HELP wlk_transcriptions_total Files transcribed through /v1/audio/transcriptions.",
                "# TYPE wlk_transcriptions_total counter",
                f"wlk_transcriptions_total {m.transcriptions_total}",
                "# HELP wlk_lag_seconds_max The largest lag of the running sessions.",
                "# TYPE wlk_lag_seconds_max gauge",
                f"wlk_lag_seconds_max {max(lags, default=0.0):.3f}",
            ]
        return "\n".join(lines) + "\n"


# -- one stream ------------------------------------------------------------------------------------
Event = tuple[str, Any]


class EventSink:
    """A sink that hands every event to the connection's queue, from the stream's thread."""

    def __init__(self, put: Callable[[Event], None]) -> None:
        self.put = put

    def start(self, session: SessionInfo) -> None:
        self.put(("start", session))

    def transcript(self, event: TranscriptEvent) -> None:
        self.put(("transcript", event))

    def final(self, event: FinalEvent) -> None:
        self.put(("final", event))

    def status(self, event: StatusEvent) -> None:
        self.put(("status", event))

    def speakers(self, event: SpeakersEvent) -> None:
        self.put(("speakers", event))

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        self.put(("turns", turns))

    def end(self, stats: EndStats) -> None:
        self.put(("end", stats))


class _OnEnd:
    """The first sink of a stream: hears only its end."""

    def __init__(self, call: Callable[[EndStats], None]) -> None:
        self.call = call

    def start(self, session: SessionInfo) -> None:
        pass

    def transcript(self, event: TranscriptEvent) -> None:
        pass

    def final(self, event: FinalEvent) -> None:
        pass

    def status(self, event: StatusEvent) -> None:
        pass

    def speakers(self, event: SpeakersEvent) -> None:
        pass

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        pass

    def end(self, stats: EndStats) -> None:
        self.call(stats)


class StreamRun:
    """One stream on its own thread. The connection feeds :attr:`feed` and reads :attr:`queue`; the last
    item is ``("done", error or None)``."""

    def __init__(self, hub: Hub, settings: Settings, feed: Any, name: str, loop: asyncio.AbstractEventLoop) -> None:
        from wlk_cli.session import Session

        self.feed = feed
        self.loop = loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.session = Session(hub.loaded, settings, feed, name, None, None)
        self.threads = hub.loaded.threads
        self.error: BaseException | None = None
        self.lag_s = 0.0
        self._thread: threading.Thread | None = None

    def put(self, item: Event) -> None:
        if item[0] == "status":
            self.lag_s = item[1].lag_s
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    def start(self, sinks: list[Any], finished: Callable[[EndStats | None, BaseException | None], None]) -> None:
        """Run the session on its thread. ``finished`` is called once, as soon as the stream has ended
        and before any sink hears of it: a client that starts again on its ``end`` line finds its slot
        free."""
        once = threading.Lock()

        def release(stats: EndStats | None, error: BaseException | None = None) -> None:
            if once.acquire(blocking=False):
                finished(stats, error)

        sinks = [_OnEnd(release), *sinks]

        def run() -> None:
            try:
                if "torch" in sys.modules:  # simulstreaming's decoder or the diarizer: this stream's share
                    sys.modules["torch"].set_num_threads(self.threads)
                self.session.run(sinks)
            except WlkError as e:
                self.error = e
            except BaseException as e:  # noqa: BLE001 - reported to this client; the server goes on
                log.exception("session failed")
                self.error = e
            finally:
                release(None, self.error)
                self.put(("done", self.error))

        self._thread = threading.Thread(target=run, name="wlk-session", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Its thread has not ended (or not started yet)."""
        return self._thread is None or self._thread.is_alive()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """The client went away: end the stream (what was heard is finished, then the thread ends)."""
        self.session.stop(interrupted=True)
