"""A bounded ring buffer of mono float32 audio addressed by absolute sample positions."""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """Keeps the newest ``capacity`` samples; positions count every sample ever written.

    One thread writes (the audio clock or a device callback), another reads by absolute position.
    A read of samples that were already overwritten returns only what is still held and the caller
    learns how many were lost from the returned start position.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=np.float32)
        self._end = 0
        self._lock = threading.Lock()

    @property
    def end(self) -> int:
        """Absolute position one past the newest sample."""
        return self._end

    @property
    def start(self) -> int:
        """Absolute position of the oldest sample still held."""
        return max(0, self._end - self.capacity)

    def write(self, samples: np.ndarray) -> int:
        """Append samples; returns the new end position."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            if x.size > self.capacity:
                self._end += x.size - self.capacity
                x = x[-self.capacity :]
            n = x.size
            i = self._end % self.capacity
            first = min(n, self.capacity - i)
            self._data[i : i + first] = x[:first]
            if first < n:
                self._data[: n - first] = x[first:]
            self._end += n
            return self._end

    def read(self, start: int, end: int | None = None) -> tuple[int, np.ndarray]:
        """Copy of samples in [start, end); returns (actual_start, samples).

        ``actual_start`` is larger than ``start`` when the oldest requested samples were overwritten.
        """
        with self._lock:
            stop = self._end if end is None else min(end, self._end)
            begin = max(start, self._end - self.capacity, 0)
            if stop <= begin:
                return begin, np.zeros(0, dtype=np.float32)
            n = stop - begin
            i = begin % self.capacity
            first = min(n, self.capacity - i)
            out = np.empty(n, dtype=np.float32)
            out[:first] = self._data[i : i + first]
            if first < n:
                out[first:] = self._data[: n - first]
            return begin, out
