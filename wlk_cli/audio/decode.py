"""Streaming decode of any container or raw PCM to 16 kHz mono float32, block by block.

PyAV (FFmpeg's libraries, already a faster-whisper dependency) demuxes and decodes packet by packet,
so a two-hour file is never held in memory at once.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.errors import InputError

RAW_FORMATS = ("s16le", "s16be", "s32le", "f32le", "f64le", "u8", "s8")
_MAX_BAD_PACKETS_IN_A_ROW = 50


@dataclass(frozen=True)
class RawSpec:
    """How to read headerless PCM."""

    fmt: str
    rate: int
    channels: int = 1


def _check_path(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise InputError(f"{path}: file is empty")


def _riff_shortfall(path: str) -> int:
    """Bytes a RIFF/WAVE file's header declares beyond the end of the file (FFmpeg trusts the file size)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return 0
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    declared = int.from_bytes(head[4:8], "little") + 8
    if declared in (0xFFFFFFFF + 8, 8):  # streamed WAV with unknown length
        return 0
    return max(0, declared - size)


def quiet_ffmpeg() -> None:
    """Keep FFmpeg's own log lines off the terminal (process-wide: called once by the front end); a
    problem with the input is reported as one line of ours instead."""
    import av.logging

    av.logging.set_level(None)


class AudioDecoder:
    """Opens a path (or ``-`` for stdin) and yields 16 kHz mono float32 blocks.

    ``duration_s`` is the container's declared duration when it has one (files, not pipes).
    Errors surface as :class:`InputError` with the source's name in the message.
    """

    def __init__(self, source: str, raw: RawSpec | None = None, stdin: IO[bytes] | None = None) -> None:
        import av

        self.name = "stdin" if source == "-" else source
        self.decoded_samples = 0
        self._bad_packets = 0
        self.note: str | None = None
        """Something the user should know about how the input is read (one line)."""
        fileobj: Any
        spooled: str | None = None
        if source == "-":
            fileobj = stdin if stdin is not None else sys.stdin.buffer
            if raw is None:
                from wlk_cli.audio.pipe import Prefixed, moov_at_end, spool

                head = bytearray()
                if moov_at_end(fileobj, head):
                    fileobj = spooled = spool(bytes(head), fileobj)
                    self.note = (
                        "stdin is an MP4/M4A whose index comes after its audio, which cannot be read from a "
                        "pipe: it was read to its end first (give the file's path to start at once)"
                    )
                else:
                    fileobj = io.BufferedReader(Prefixed(bytes(head), fileobj))
        else:
            _check_path(source)
            fileobj = source
        options: dict[str, str] = {}
        fmt: str | None = None
        if raw is not None:
            if raw.fmt not in RAW_FORMATS:
                raise InputError(f"--raw-format: {raw.fmt!r} is not one of {', '.join(RAW_FORMATS)}")
            if not 1000 <= raw.rate <= 384000:
                raise InputError(f"--raw-rate: {raw.rate} Hz is out of range (1000 to 384000)")
            if not 1 <= raw.channels <= 32:
                raise InputError(f"--raw-channels: {raw.channels} is out of range (1 to 32)")
            fmt = raw.fmt
            options = {"sample_rate": str(raw.rate), "ch_layout": f"{raw.channels}c"}
        try:
            self._container = av.open(fileobj, mode="r", format=fmt, options=options)
        except av.error.FFmpegError as e:
            raise InputError(f"{self.name}: {self._describe_open_error(e, source)}") from None
        except (OSError, ValueError) as e:
            raise InputError(f"{self.name}: cannot open ({e})") from None
        finally:
            if spooled is not None:
                os.unlink(spooled)  # FFmpeg holds it open; nothing is left behind
        if not self._container.streams.audio:
            kinds = sorted({s.type for s in self._container.streams})
            self._container.close()
            what = f" (only {', '.join(kinds)})" if kinds else ""
            raise InputError(f"{self.name}: has no audio track{what}")
        self._stream = self._container.streams.audio[0]
        self.duration_s = self._declared_duration()
        self._riff_short = _riff_shortfall(source) if source != "-" else 0

    @staticmethod
    def _describe_open_error(e: Exception, source: str) -> str:
        if source == "-":
            return "no audio data (stdin closed or is not a known audio format; for raw PCM give --raw-format)"
        return "not an audio file FFmpeg can read (unknown or corrupt format)"

    def _declared_duration(self) -> float | None:
        s = self._stream
        if s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base)
        if self._container.duration is not None:
            return float(self._container.duration) / 1_000_000
        return None

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield float32 mono 16 kHz blocks until the input ends; raises InputError for corrupt data."""
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        bad_in_a_row = 0
        try:
            packets = self._container.demux(self._stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError:
                    self._bad_packets += 1
                    break  # the demuxer cannot go on: the file is truncated or corrupt
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    self._bad_packets += 1
                    bad_in_a_row += 1
                    if bad_in_a_row > _MAX_BAD_PACKETS_IN_A_ROW:
                        break
                    continue
                bad_in_a_row = 0
                for frame in frames:
                    yield from self._convert(resampler.resample(frame))
            yield from self._convert(resampler.resample(None))
        finally:
            self._container.close()
        self._check_complete()

    def _convert(self, frames: list[Any]) -> Iterator[np.ndarray]:
        for f in frames:
            a = f.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            if a.size:
                self.decoded_samples += a.size
                yield a

    def _check_complete(self) -> None:
        got = self.decoded_samples / SAMPLE_RATE
        if self.decoded_samples == 0:
            if self._bad_packets:
                raise InputError(f"{self.name}: corrupt audio data, nothing could be decoded")
            raise InputError(f"{self.name}: contains no audio samples")
        if self._bad_packets:
            raise InputError(
                f"{self.name}: corrupt audio data ({self._bad_packets} bad packets); "
                f"transcribed the {got:.1f} s that could be decoded"
            )
        if self._riff_short > 0:
            raise InputError(
                f"{self.name}: file is truncated: its WAV header declares {self._riff_short} more bytes than it has; "
                f"transcribed the {got:.1f} s that are there"
            )
        if self.duration_s is not None and got < self.duration_s - max(0.5, 0.02 * self.duration_s):
            raise InputError(
                f"{self.name}: file is truncated: decoded {got:.1f} s of the {self.duration_s:.1f} s it declares"
            )


def read_audio(path: str) -> tuple[np.ndarray, InputError | None]:
    """A whole file's audio; with what could be decoded before an error (a truncated file) kept."""
    decoder = AudioDecoder(path)
    blocks: list[np.ndarray] = []
    try:
        for b in decoder.blocks():
            blocks.append(b)
    except InputError as e:
        if not blocks:
            raise
        return np.concatenate(blocks), e
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32), None
