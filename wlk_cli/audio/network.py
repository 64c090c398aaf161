"""Audio a client sends over the network, as an :class:`~wlk_cli.pipeline.AudioFeed`.

Raw PCM (s16le or f32le at any rate and channel count) is converted as it comes; container audio
(WebM/Opus from a browser's MediaRecorder, Ogg, MP3, WAV, ...) goes through the same streaming decoder
as `wlk file -`, on its own thread, reading the bytes as they arrive. Every block is written into the
stream's ring buffer with the time it arrived, so latency counts from when the client sent it.
"""

from __future__ import annotations

import io
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.releases import ReleaseLog
from wlk_cli.audio.resample import StreamResampler
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.errors import InputError

PCM_FORMATS = {"s16le": np.int16, "f32le": np.float32}
NOT_AUDIO = "not audio FFmpeg can read (send WebM/Opus, Ogg, WAV, MP3, ... or raw PCM as s16le or f32le)"


@dataclass(frozen=True)
class AudioFormat:
    """What the client sends: ``container`` (anything FFmpeg reads) or raw PCM."""

    format: str = "container"
    rate: int = SAMPLE_RATE
    channels: int = 1

    def check(self) -> AudioFormat:
        if self.format != "container" and self.format not in PCM_FORMATS:
            raise InputError(f"format: {self.format!r} is not one of container, {', '.join(PCM_FORMATS)}")
        if not 8000 <= self.rate <= 192000:
            raise InputError(f"rate: {self.rate} Hz is out of range (8000 to 192000)")
        if not 1 <= self.channels <= 8:
            raise InputError(f"channels: {self.channels} is out of range (1 to 8)")
        return self


class ByteStream(io.RawIOBase):
    """A readable stream of the bytes another thread receives: ``read`` waits for them, or for the end."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._ended = False

    def readable(self) -> bool:
        return True

    def put(self, data: bytes) -> None:
        with self._cond:
            self._chunks.append(data)
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with self._cond:
            while not self._chunks and not self._ended:
                self._cond.wait()
            if not self._chunks:
                return 0
            chunk = self._chunks.popleft()
            n = min(len(buffer), len(chunk))
            buffer[:n] = chunk[:n]
            if n < len(chunk):
                self._chunks.appendleft(chunk[n:])
            return n


class NetworkFeed:
    """The audio of one network stream. The connection's handler calls :meth:`receive` with each binary
    frame and :meth:`end` when the client says the stream is over; the pipeline reads the ring."""

    live = True  # no end of its own until the client ends it: stopping is how a stream ends
    level_db = None

    def __init__(self, fmt: AudioFormat, ring: RingBuffer, name: str = "stream") -> None:
        self.fmt = fmt.check()
        self.ring = ring
        self.name = name
        self.releases = ReleaseLog()
        self.dropped_frames = 0
        self._cond = threading.Condition()
        self._ended = False  # the client ended the stream (or the connection closed)
        self._stopped = False
        self._error: BaseException | None = None
        self._pcm_rest = b""
        self._resample = StreamResampler(self.fmt.rate)
        self._bytes: ByteStream | None = None
        self._decoder: threading.Thread | None = None

    # -- the connection's side ---------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """One binary frame of the client's audio (ignored once the stream was ended)."""
        if self._ended or self._stopped or (self._bytes is not None and self._bytes.ended):
            return
        if self.fmt.format == "container":
            if self._bytes is None:
                self._start_decoder()
            assert self._bytes is not None
            self._bytes.put(data)
            return
        self._pcm(data)

    def end(self) -> None:
        """The client ended the stream: what was sent is transcribed to its end. Returns at once (the
        decoder, if any, ends the feed once it has decoded the last bytes)."""
        if self._bytes is not None:
            self._bytes.end()
        else:
            self._input_over()

    def _input_over(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    # -- decoding -------------------------------------------------------------------------------
    def _pcm(self, data: bytes) -> None:
        dtype = PCM_FORMATS[self.fmt.format]
        width = np.dtype(dtype).itemsize * self.fmt.channels
        data = self._pcm_rest + data
        usable = len(data) - len(data) % width
        self._pcm_rest = data[usable:]
        if not usable:
            return
        samples = np.frombuffer(data[:usable], dtype=dtype).astype(np.float32)
        if dtype is np.int16:
            samples /= 32768.0
        if self.fmt.channels > 1:
            samples = samples.reshape(-1, self.fmt.channels).mean(axis=1)
        self._write(self._resample(samples))

    def _start_decoder(self) -> None:
        self._bytes = ByteStream()
        self._decoder = threading.Thread(target=self._decode, name="wlk-net-decode", daemon=True)
        self._decoder.start()

    def _decode(self) -> None:
        from wlk_cli.audio.decode import AudioDecoder

        assert self._bytes is not None
        try:
            decoder = AudioDecoder("-", stdin=io.BufferedReader(self._bytes))
            for block in decoder.blocks():
                self._write(block)
        except InputError as e:
            if self.ring.end == 0 or "truncated" not in str(e):  # a stream cut short is no error
                text = str(e).replace("stdin", self.name, 1)
                if "no audio data" in text:  # (the hint for stdin names a flag a client does not have)
                    text = f"{self.name}: {NOT_AUDIO}"
                self._fail(InputError(text))
        except BaseException as e:  # noqa: BLE001 - reported to the pipeline, which ends the stream
            self._fail(e)
        finally:
            self._input_over()

    def _write(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        end = self.ring.write(samples)
        self.releases.record(end, time.monotonic())
        with self._cond:
            self._cond.notify_all()

    def _fail(self, error: BaseException) -> None:
        with self._cond:
            self._error = error
            self._cond.notify_all()

    # -- the pipeline's side ----------------------------------------------------------------------
    def start(self) -> None:
        """Nothing to start: audio comes as the client sends it."""

    def wait_beyond(self, pos: int, timeout: float = 0.5) -> bool:
        with self._cond:
            if self.ring.end <= pos and self._error is None and not (self._ended or self._stopped):
                self._cond.wait(timeout)
            if self.ring.end > pos:
                return True
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            return not (self._ended or self._stopped)

    @property
    def exhausted(self) -> bool:
        return self._ended

    def wall_now(self) -> float:
        return self.releases.wall_now()

    def release_wall(self, pos: int) -> float | None:
        return self.releases.release_wall(pos)

    def pause(self, paused: bool) -> None:
        """A network stream is paused by its client (it stops sending)."""

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._bytes is not None:
            self._bytes.end()
