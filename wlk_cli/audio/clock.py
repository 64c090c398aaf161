"""Releases a file's audio into the ring buffer chunk by chunk, as a microphone would.

At ``speed > 0`` a thread releases each chunk when the wall clock reaches it, whatever the engine is
doing (computation-aware: when the engine falls behind, audio keeps arriving). At ``speed == 0`` the
engine pulls the next chunk itself, so audio arrives exactly as fast as the engine takes it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
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
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.t0: float | None = None  # monotonic time of the first release
        self._releases: deque[tuple[int, float]] = deque(maxlen=200_000)
        self._thread: threading.Thread | None = None

    # -- producer side -------------------------------------------------------------------------
    def _release(self, chunk: np.ndarray) -> None:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        end = self.ring.write(chunk)
        with self._cond:
            self._releases.append((end, now))
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            first_end: int | None = None
            for chunk in self._chunks:
                if self._stop.is_set():
                    return
                if first_end is not None and self.t0 is not None:
                    due = self.t0 + (self.ring.end + chunk.size - first_end) / (SAMPLE_RATE * self.speed)
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                self._release(chunk)
                if first_end is None:
                    first_end = self.ring.end
        except BaseException as e:  # handed to the engine thread, which reports it
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def start(self) -> None:
        if self.speed > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wlk-clock", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # -- engine side ---------------------------------------------------------------------------
    def wait_beyond(self, pos: int, timeout: float = 0.5) -> bool:
        """Wait until audio beyond ``pos`` is released; False once the stream has ended and nothing is new.

        Re-raises an error the producer met (a decode error) once all released audio is consumed.
        """
        if self.speed == 0:
            if self.ring.end > pos:
                return True
            if self._done:
                return self._finish_or_raise()
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
                return self._finish_or_raise()
            self._release(chunk)
            return True
        with self._cond:
            while self.ring.end <= pos and not self._done:
                self._cond.wait(timeout)
        if self.ring.end > pos:
            return True
        return self._finish_or_raise()

    def _finish_or_raise(self) -> bool:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return False

    @property
    def ended(self) -> bool:
        return self._done and self._error is None

    def wall_now(self) -> float:
        """Seconds since the stream clock started (the first chunk's release)."""
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def release_wall(self, pos: int) -> float | None:
        """Wall seconds (stream clock) at which sample ``pos`` had been released, if still remembered."""
        if self.t0 is None:
            return None
        found: float | None = None
        with self._cond:
            for end, t in reversed(self._releases):
                if end < pos:
                    break
                found = t
        return None if found is None else found - self.t0
