"""When each stretch of audio was released into the ring buffer: the stream clock's memory."""

from __future__ import annotations

import threading
import time
from collections import deque


class ReleaseLog:
    """Remembers (ring end position, monotonic time) per released block; times are on the stream clock."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self.t0: float | None = None
        self._entries: deque[tuple[int, float]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def record(self, end: int, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        with self._lock:
            if self.t0 is None:
                self.t0 = at
            self._entries.append((end, at))

    def wall_now(self) -> float:
        """Seconds since the stream clock started (the first release)."""
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def release_wall(self, pos: int) -> float | None:
        """Stream-clock seconds at which sample ``pos`` had been released, if still remembered."""
        if self.t0 is None:
            return None
        found: float | None = None
        with self._lock:
            for end, t in reversed(self._entries):
                if end < pos:
                    break
                found = t
        return None if found is None else found - self.t0
