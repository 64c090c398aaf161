"""Audio on a pipe: a peek at its start, and a spool to a file for containers that cannot stream.

An MP4/M4A/MOV (ISO base media) file keeps its index (the ``moov`` box) wherever the writer put it:
phones and most encoders put it at the end, after the audio (``mdat``), so a reader without seeking
cannot decode a byte until it has the whole file. Such input is copied to a temporary file first.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from typing import IO

_MAX_PEEK = 1 << 20  # boxes before moov or mdat (ftyp, free, wide) are small
_CONTAINER_BOXES = {b"ftyp", b"free", b"skip", b"wide", b"pdin", b"uuid", b"styp"}


class Prefixed(io.RawIOBase):
    """``head``, then the rest of ``rest``: a stream read again from its start after a peek."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read1 = getattr(self._rest, "read1", None)  # what is there now: a live pipe is not held back
        data = read1(len(view)) if read1 is not None else self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _read_until(stream: IO[bytes], head: bytearray, size: int) -> bool:
    read1 = getattr(stream, "read1", None)
    while len(head) < size:
        data = read1(size - len(head)) if read1 is not None else stream.read(size - len(head))
        if not data:
            return False
        head += data
    return True


def moov_at_end(stream: IO[bytes], head: bytearray) -> bool:
    """Read the start of ``stream`` into ``head``; True when it is an ISO media file whose audio comes
    before its index (it cannot be decoded from a pipe)."""
    if not _read_until(stream, head, 8) or head[4:8] != b"ftyp":
        return False
    pos = 0
    while pos + 8 <= _MAX_PEEK and _read_until(stream, head, pos + 8):
        size, kind = int.from_bytes(head[pos : pos + 4], "big"), bytes(head[pos + 4 : pos + 8])
        if kind == b"moov":
            return False
        if kind == b"mdat" or kind not in _CONTAINER_BOXES or size < 8:
            return kind == b"mdat"
        pos += size
    return False


def spool(head: bytes, rest: IO[bytes]) -> str:
    """Copy ``head`` and the rest of the stream into a temporary file; returns its path (the caller
    removes it once the file is open)."""
    fd, path = tempfile.mkstemp(prefix="wlk-stdin-", suffix=".mp4")
    with os.fdopen(fd, "wb") as out:
        out.write(head)
        shutil.copyfileobj(rest, out, 1 << 20)
    return path
