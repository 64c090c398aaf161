"""Audio that arrives over a network connection (the feed `wlk serve` gives a session, #14): raw PCM of any
rate and channel count, or container audio (WebM/Opus as a browser's MediaRecorder sends it) decoded
as it arrives, cut into frames at any byte; bad bytes end the stream with one clear error."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import clips, wer
from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.audio.network import AudioFormat, NetworkFeed
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.config import build_settings
from wlk_cli.engine import Engine
from wlk_cli.errors import InputError
from wlk_cli.session import Session

SETTINGS = build_settings(None, {"model": "tiny.en", "speed": 0.0})


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(SETTINGS)


class Words:
    def __init__(self) -> None:
        self.text = ""
        self.stats = None

    def transcript(self, event) -> None:  # type: ignore[no-untyped-def]
        self.text += "".join(w.text for w in event.confirmed)

    def end(self, stats) -> None:  # type: ignore[no-untyped-def]
        self.stats = stats

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *a, **k: None


def transcribe(engine: Engine, fmt: AudioFormat, data: bytes, frame: int, pace_s: float = 0.0) -> Words:
    """Send ``data`` in frames of ``frame`` bytes from another thread (as a connection would), then end."""
    feed = NetworkFeed(fmt, RingBuffer(SAMPLE_RATE * 120), "test-stream")

    def client() -> None:
        for i in range(0, len(data), frame):
            feed.receive(data[i : i + frame])
            if pace_s:
                time.sleep(pace_s)
        feed.end()
        feed.receive(b"\x00" * 64000)  # audio after the end is ignored

    sender = threading.Thread(target=client, daemon=True)
    sender.start()
    sink = Words()
    Session(engine, SETTINGS, feed, "test-stream", None).run([sink])  # type: ignore[list-item]
    sender.join()
    return sink


def test_s16le_in_frames_cut_anywhere(engine: Engine) -> None:
    path, ref = clips()[0]
    audio, sr = sf.read(path, dtype="int16")
    out = transcribe(engine, AudioFormat("s16le", sr, 1), audio.tobytes(), frame=3001)  # odd: samples split
    assert wer(ref, out.text) <= 0.2, out.text
    assert out.stats.audio_duration_s == pytest.approx(audio.size / sr, abs=0.01)  # type: ignore[attr-defined]


def test_f32le_stereo_48k_is_resampled(engine: Engine) -> None:
    path, ref = clips()[1]
    audio, sr = sf.read(path, dtype="float32")
    n = int(audio.size * 48000 / sr)
    up = np.interp(np.linspace(0, audio.size - 1, n), np.arange(audio.size), audio).astype(np.float32)
    stereo = np.stack([up, up], axis=1)
    out = transcribe(engine, AudioFormat("f32le", 48000, 2), stereo.tobytes(), frame=8192)
    assert wer(ref, out.text) <= 0.2, out.text
    assert out.stats.audio_duration_s == pytest.approx(audio.size / sr, abs=0.05)  # type: ignore[attr-defined]


def test_webm_opus_decoded_as_it_arrives(engine: Engine, tmp_path: Path) -> None:
    # Four speakers' clips joined (22 s, 54 words), so that one word misheard through a lossy codec on another
    # CPU moves the score by 2%, not 7%.
    parts, refs = [], []
    for path, ref in clips()[1:5]:
        audio, sr = sf.read(path, dtype="float32")
        parts += [audio, np.zeros(sr // 2, np.float32)]
        refs.append(ref)
    wav = tmp_path / "clips.wav"
    sf.write(wav, np.concatenate(parts), sr)
    webm = tmp_path / "clips.webm"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "32k", str(webm)], check=True
    )
    out = transcribe(engine, AudioFormat(), webm.read_bytes(), frame=4096, pace_s=0.01)
    assert wer(" ".join(refs), out.text) <= 0.15, out.text
    seconds = sum(p.size for p in parts) / sr
    assert out.stats.audio_duration_s == pytest.approx(seconds, abs=0.1)  # type: ignore[attr-defined]


def test_bytes_that_are_not_audio_end_the_stream_with_one_clear_error(engine: Engine) -> None:
    junk = bytes(range(256)) * 200
    with pytest.raises(InputError, match="test-stream: not audio FFmpeg can read"):
        transcribe(engine, AudioFormat(), junk, frame=1000)


def test_a_stream_ended_before_any_audio_has_no_words(engine: Engine) -> None:
    out = transcribe(engine, AudioFormat("s16le"), b"", frame=1)
    assert out.text == "" and out.stats.words == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "fmt,needle",
    [
        (AudioFormat("mp3"), "format: 'mp3'"),
        (AudioFormat("s16le", 1000), "rate"),
        (AudioFormat("s16le", 16000, 9), "channels"),
    ],
)
def test_a_bad_format_is_refused(fmt: AudioFormat, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        fmt.check()
