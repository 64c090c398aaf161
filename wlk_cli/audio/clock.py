"""Releases a file's audio into the ring buffer chunk by chunk, as a microphone would.

At ``speed > 0`` a thread releases each chunk when the wall clock reaches it, whatever the engine is
doing (computation-aware: when the engine falls behind, audio keeps arriving). At ``speed == 0`` the
engine pulls the next chunk itself, so audio arrives exactly as fast as the engine takes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.releases import ReleaseLog
from wlk_cli.audio.ring import RingBuffer


def rechunk(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup arbitrary blocks into chunks of exactly ``size`` samples (the last may be shorter)."""
    pending: list[np.ndarray] = []
    have = 0
    for b in blocks:
        pending.append(b)
        have += b.size
        if have < size:
            continue
        joined = np.concatenate(pending)
        n_full = joined.size // size
        for k in range(n_full):
            yield joined[k * size : (k + 1) * size]
        rest = joined[n_full * size :]
        pending = [rest] if rest.size else []
        have = rest.size
    if have:
        yield np.concatenate(pending)


class AudioClock:
    """The stream clock: releases audio into ``ring`` and remembers when each chunk was released."""

    def __init__(self, blocks: Iterable[np.ndarray], ring: RingBuffer, chunk_ms: int, speed: float) -> None:
        self.ring = ring
        self.speed = speed
        self.chunk_samples = max(1, SAMPLE_RATE * chunk_ms // 1000)
        self._chunks = rechunk(blocks, self.chunk_samples)
        self._cond = threading.Condition()
        self._done = False
        self._exhausted = False  # every chunk of the file was released
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._paused_s = 0.0  # wall time spent paused: pushes every later release back
        self.releases = ReleaseLog()
        self._thread: threading.Thread | None = None

    # -- producer side -------------------------------------------------------------------------
    def _release(self, chunk: np.ndarray) -> None:
        end = self.ring.write(chunk)
        self.releases.record(end)
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            first_end: int | None = None
            for chunk in self._chunks:
                if self._stop.is_set():
                    return
                self._wait_while_paused()
                t0 = self.releases.t0
                if first_end is not None and t0 is not None:
                    due = t0 + self._paused_s + (self.ring.end + chunk.size - first_end) / (SAMPLE_RATE * self.speed)
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                self._release(chunk)
                if first_end is None:
                    first_end = self.ring.end
            self._exhausted = True
        except BaseException as e:  # handed to the engine thread, which reports it
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _wait_while_paused(self) -> None:
        if self._running.is_set():
            return
        t = time.monotonic()
        while not self._running.wait(0.1):
            if self._stop.is_set():
                return
        self._paused_s += time.monotonic() - t

    def pause(self, paused: bool) -> None:
        """Stop releasing audio until resumed, as a paused microphone would."""
        if paused:
            self._running.clear()
        else:
            self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def start(self) -> None:
        if self.speed > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wlk-clock", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    # -- engine side ---------------------------------------------------------------------------
    def wait_beyond(self, pos: int, timeout: float = 0.5) -> bool:
        """True when audio beyond ``pos`` was released or ``timeout`` passed; False once the stream ended.

        Re-raises an error the producer met (a decode error) once all released audio is consumed.
        """
        if self.speed == 0:
            if self.ring.end > pos:
                return True
            if self._done or self._stop.is_set():
                return self._finish_or_raise()
            if self.paused:
                self._running.wait(timeout)
                return True
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = self._exhausted = True
                return self._finish_or_raise()
            self._release(chunk)
            return True
        with self._cond:
            if self.ring.end <= pos and not self._done:
                self._cond.wait(timeout)
        if self.ring.end > pos or not self._done:
            return True
        return self._finish_or_raise()

    def _finish_or_raise(self) -> bool:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return False

    @property
    def exhausted(self) -> bool:
        """Whether the whole file was released (a stop after that interrupts nothing)."""
        return self._exhausted

    live = False
    """A file has an end of its own (a microphone is live: stopping it is how it ends)."""
    level_db = None
    """A file's level is not shown (a microphone's is)."""
    dropped_frames = 0
    """A file's clock never loses audio before the ring."""

    def wall_now(self) -> float:
        return self.releases.wall_now()

    def release_wall(self, pos: int) -> float | None:
        return self.releases.release_wall(pos)
