"""Runs the diarizer on its own thread, reading the same ring buffer as the ASR by absolute position,
so diarization and recognition work side by side on two cores and neither waits for the other."""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Sequence

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.diarization.diarizer import StreamingDiarizer, Turn
from wlk_cli.diarization.refine import Refined, RefineOptions, refine
from wlk_cli.diarization.voices import NAME_DISTANCE, Voice, name_speakers

REFINE_EVERY_S = 120.0  # a live session is refined this often (and at its end)
Names = dict[int, str]
Decided = tuple[list[Turn], float] | Refined | Names
"""What the worker hands over: newly decided turns and the time decided up to, a refine, or the known
voices found among diart's speakers (speaker -> profile name), each time that changes."""


class DiarizationWorker:
    def __init__(
        self,
        ring: RingBuffer,
        diarizer: StreamingDiarizer,
        refine: RefineOptions | None = None,
        voices: Sequence[Voice] = (),
    ) -> None:
        """``refine``: re-cluster every REFINE_EVERY_S of audio and at the end (None: live labels only);
        ``voices``: known voices to name."""
        self.ring = ring
        self.diarizer = diarizer
        self.refine = refine
        self.voices = list(voices)
        diarizer.expect([v.embedding for v in self.voices], NAME_DISTANCE)
        self._names: Names = {}
        self.refine_s: float | None = None  # seconds the last refine took
        self._refined_at = 0  # samples fed at the last refine
        self._pos = 0
        self._out: queue.Queue[Decided] = queue.Queue()
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
            turns = self.diarizer.process(audio)
            self._name()
            self._out.put((turns, self.diarizer.decided_until))
            self._pos = start + audio.size
            if self.refine is not None and self._pos - self._refined_at >= REFINE_EVERY_S * SAMPLE_RATE:
                self._refined_at = self._pos
                self._refine()
            return True

    def _name(self) -> None:
        if self.voices:
            names = name_speakers(self.diarizer.centres(), self.voices)
            if names != self._names:
                self._names = names
                self._out.put(dict(names))

    def _refine(self) -> None:
        t0 = time.perf_counter()
        refined = refine(self.diarizer.log, self.refine, self._names)
        self.refine_s = time.perf_counter() - t0
        if refined is not None:
            if self.voices:
                refined = dataclasses.replace(refined, names=name_speakers(refined.centroids, self.voices))
            self._out.put(refined)

    def _run(self) -> None:
        try:
            import torch

            torch.set_num_threads(1)  # this thread only (PyTorch keeps the count per thread): one core here
            while not self._stop.is_set():
                if not self._feed_until(None):
                    self._stop.wait(0.05)
        except BaseException as e:  # reported by the pipeline, which keeps transcribing without speakers
            self.error = e

    def drain(self) -> list[Decided]:
        out = []
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    @property
    def lag_s(self) -> float:
        return max(0.0, (self.ring.end - self._pos) / SAMPLE_RATE) + self.diarizer.latency

    def finish(self) -> list[Decided]:
        """Stop the thread, diarize what is left, push the last ``latency`` seconds through, refine."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is None:
            self._feed_until(self.ring.end)
            with self._lock:
                turns = self.diarizer.finish()
                self._name()
                self._out.put((turns, float("inf")))
                if self.refine is not None:
                    self._refine()
        return self.drain()
