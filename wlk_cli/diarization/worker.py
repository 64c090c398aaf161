"""Runs the diarizer on its own thread, reading the same ring buffer as the ASR by absolute position,
so diarization and recognition work side by side on two cores and neither waits for the other."""

from __future__ import annotations

import queue
import threading

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.diarization.diarizer import StreamingDiarizer, Turn


class DiarizationWorker:
    def __init__(self, ring: RingBuffer, diarizer: StreamingDiarizer) -> None:
        self.ring = ring
        self.diarizer = diarizer
        self._pos = 0
        self._out: queue.Queue[tuple[list[Turn], float]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the thread and finish() never feed the diarizer at once
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wlk-diarization", daemon=True)
        self._thread.start()

    def _feed_until(self, end: int | None) -> bool:
        with self._lock:
            start, audio = self.ring.read(self._pos, end)
            if start > self._pos:  # the ring overwrote audio we had not read: keep stream time with silence
                gap = np.zeros(start - self._pos, dtype=np.float32)
                self._out.put((self.diarizer.process(gap), self.diarizer.decided_until))
            if audio.size == 0:
                self._pos = max(self._pos, start)
                return False
            self._out.put((self.diarizer.process(audio), self.diarizer.decided_until))
            self._pos = start + audio.size
            return True

    def _run(self) -> None:
        try:
            import torch

            torch.set_num_threads(1)  # this thread only (PyTorch keeps the count per thread): one core here
            while not self._stop.is_set():
                if not self._feed_until(None):
                    self._stop.wait(0.05)
        except BaseException as e:  # reported by the pipeline, which keeps transcribing without speakers
            self.error = e

    def drain(self) -> list[tuple[list[Turn], float]]:
        out = []
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    @property
    def lag_s(self) -> float:
        return max(0.0, (self.ring.end - self._pos) / SAMPLE_RATE) + self.diarizer.latency

    def finish(self) -> list[tuple[list[Turn], float]]:
        """Stop the thread, diarize what is left and push the last ``latency`` seconds through."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is None:
            self._feed_until(self.ring.end)
            with self._lock:
                self._out.put((self.diarizer.finish(), float("inf")))
        return self.drain()
