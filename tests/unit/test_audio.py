from __future__ import annotations

import time

import numpy as np
import soundfile as sf

from tests.helpers import clips
from wlk_cli.audio.clock import AudioClock, rechunk
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.vad import SileroModel, SileroVAD, VoiceActivityController


def test_ring_buffer_keeps_absolute_positions() -> None:
    r = RingBuffer(10)
    r.write(np.arange(7, dtype=np.float32))
    r.write(np.arange(7, 13, dtype=np.float32))
    assert r.end == 13 and r.start == 3
    start, got = r.read(0, 13)
    assert start == 3 and got.tolist() == list(range(3, 13))
    start, got = r.read(5, 8)
    assert start == 5 and got.tolist() == [5, 6, 7]
    r.write(np.arange(100, 125, dtype=np.float32))  # bigger than the ring
    assert r.end == 38
    start, got = r.read(0)
    assert start == 28 and got.tolist() == list(range(115, 125))


def test_rechunk_makes_exact_chunks() -> None:
    blocks = [np.ones(n, dtype=np.float32) for n in (3, 7, 1, 12, 2)]
    sizes = [c.size for c in rechunk(blocks, 5)]
    assert sizes == [5, 5, 5, 5, 5] and sum(sizes) == 25


def test_clock_at_speed_zero_releases_one_chunk_per_request() -> None:
    ring = RingBuffer(16000)
    clock = AudioClock([np.zeros(4000, dtype=np.float32)], ring, chunk_ms=100, speed=0)
    positions = []
    while clock.wait_beyond(ring.end):
        positions.append(ring.end)
    assert positions == [1600, 3200, 4000]


def test_clock_paces_in_real_time() -> None:
    ring = RingBuffer(16000)
    clock = AudioClock([np.zeros(8000, dtype=np.float32)], ring, chunk_ms=100, speed=2.0)
    t0 = time.monotonic()
    clock.start()
    pos = 0
    while clock.wait_beyond(pos):
        pos = ring.end
        # never ahead of the clock: at 2x, 0.5 s of audio cannot be out before 0.2 s (first chunk at t0)
        assert ring.end / 16000 <= 0.1 + (time.monotonic() - t0) * 2.0 + 0.05
    assert pos == 8000
    assert time.monotonic() - t0 >= 0.18
    assert clock.release_wall(8000) is not None


def test_vad_finds_speech_between_silences() -> None:
    src, _ = clips()[0]
    speech, sr = sf.read(src, dtype="float32")
    silence = np.zeros(2 * sr, dtype=np.float32)
    audio = np.concatenate([silence, speech, silence, speech, silence])
    vac = VoiceActivityController(SileroVAD(SileroModel()), min_silence_ms=500)
    events = []
    for k in range(0, audio.size, 1600):
        events += vac.process(audio[k : k + 1600])
    events += vac.flush()
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("start") == kinds.count("end")
    first_start = events[0].pos / sr
    assert 1.7 <= first_start <= 2.6
    second_start = next(e.pos for e in events if e.kind == "start" and e.pos > (2 + speech.size / sr) * sr) / sr
    assert abs(second_start - (4 + speech.size / sr)) < 0.7
    last_end = events[-1].pos / sr
    assert abs(last_end - (4 + 2 * speech.size / sr)) < 1.0
