"""Live capture: a PortAudio input stream whose callback only copies blocks into a queue.

The engine thread drains the queue, mixes down and resamples to 16 kHz and writes the ring buffer the
pipeline reads, so the callback never waits for the engine, the UI or a lock held by either.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from wlk_cli.audio.devices import InputDevice, _sounddevice
from wlk_cli.audio.releases import ReleaseLog
from wlk_cli.audio.resample import StreamResampler
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.errors import DeviceError

STALL_S = 3.0  # no callback for this long while running: the device is gone


class MicrophoneFeed:
    """An :class:`~wlk_cli.pipeline.AudioFeed` fed by a sound device."""

    def __init__(
        self,
        device: InputDevice,
        ring: RingBuffer,
        block_ms: int = 100,
        queue_s: float = 120.0,
        stream_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.device = device
        self.ring = ring
        self.block_ms = block_ms
        self.releases = ReleaseLog()
        self._factory = stream_factory
        self._queue: deque[tuple[np.ndarray, float]] = deque()
        self._max_blocks = max(10, int(queue_s * 1000 / block_ms))
        self._new = threading.Event()
        self._stopped = threading.Event()
        self._error: DeviceError | None = None
        self._stream: Any = None
        self._resample: StreamResampler | None = None
        self._last_callback = 0.0
        self.rate = 0
        self.overflows = 0
        self.dropped_blocks = 0
        self.paused = False
        self.level_db = -120.0

    # -- PortAudio side --------------------------------------------------------------------------
    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status and getattr(status, "input_overflow", False):
            self.overflows += 1
        self._last_callback = time.monotonic()
        if len(self._queue) >= self._max_blocks:
            self.dropped_blocks += 1
            return
        self._queue.append((indata.copy(), self._last_callback))
        self._new.set()

    def _finished(self) -> None:
        if not self._stopped.is_set():
            self._error = DeviceError(
                f"audio device {self.device.label!r} stopped delivering audio (unplugged or lost)"
            )
        self._new.set()

    def open(self) -> None:
        """Open and start the input stream, trying the device's rate first, then common ones."""
        sd = _sounddevice()
        factory = self._factory or sd.InputStream
        channels = max(1, min(self.device.channels, 2))
        rates = list(dict.fromkeys(int(r) for r in (self.device.default_rate, 16000, 48000, 44100) if r > 0))
        errors = []
        for rate in rates:
            try:
                stream = factory(
                    device=self.device.index,
                    samplerate=rate,
                    channels=channels,
                    dtype="float32",
                    blocksize=int(rate * self.block_ms / 1000),
                    callback=self._callback,
                    finished_callback=self._finished,
                )
                stream.start()
            except (sd.PortAudioError, ValueError) as e:
                errors.append(f"{rate} Hz: {str(e).splitlines()[0]}")
                continue
            self._stream, self.rate = stream, rate
            self._resample = StreamResampler(rate)
            self._last_callback = time.monotonic()
            return
        raise DeviceError(
            f"cannot open {self.device.label!r}: it refused every sample rate tried ({'; '.join(errors)})"
        )

    # -- engine side -----------------------------------------------------------------------------
    def _drain(self) -> None:
        assert self._resample is not None
        while self._queue:
            block, at = self._queue.popleft()
            mono = block.mean(axis=1) if block.ndim == 2 and block.shape[1] > 1 else block.reshape(-1)
            rms = float(np.sqrt(np.mean(np.square(mono)))) if mono.size else 0.0
            self.level_db = 20 * math.log10(rms + 1e-6)
            if self.paused:
                continue
            out = self._resample(mono)
            if out.size:
                self.releases.record(self.ring.write(out), at)

    def wait_beyond(self, pos: int, timeout: float = 0.5) -> bool:
        """True when audio beyond ``pos`` arrived or ``timeout`` passed; False once stopped and drained."""
        deadline = time.monotonic() + timeout
        while True:
            self._new.clear()
            self._drain()
            if self.ring.end > pos:
                return True
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            if self._stopped.is_set():
                return False
            if not self.paused and time.monotonic() - self._last_callback > STALL_S:
                raise DeviceError(f"no audio from {self.device.label!r} for {STALL_S:.0f} s (device lost?)")
            if time.monotonic() >= deadline:
                return True  # nothing new yet, the stream goes on: let the pipeline update its status
            self._new.wait(0.05)

    def pause(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self._last_callback = time.monotonic()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._new.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # closing a device that is already gone must not hide the transcript
                pass

    live = True
    """A microphone has no end of its own: stopping it is how it ends."""
    exhausted = False

    def start(self) -> None:
        """Nothing to do: capture started with :meth:`open`, before the session (so a bad device is
        refused before the transcript begins)."""

    @property
    def dropped_frames(self) -> int:
        """Blocks the sound system or the queue lost before they reached the ring."""
        return self.overflows + self.dropped_blocks

    def wall_now(self) -> float:
        return self.releases.wall_now()

    def release_wall(self, pos: int) -> float | None:
        return self.releases.release_wall(pos)
