"""`wlk file` end to end with the real tiny.en model on real speech."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.formats import check_cues, parse_srt, parse_vtt
from tests.helpers import LIBRI, ROOT, check_jsonl, clips, final_text, parse_jsonl, transcript, wer, wlk

FAST = ["--model", "tiny.en", "--speed", "0"]


def joined(tmp_path: Path, silence_s: float = 1.0, n: int = 3) -> tuple[Path, list[tuple[float, float, str]]]:
    """Clips joined with silence between; returns the file and each clip's (start, end, reference)."""
    parts, spans, t = [], [], 0.0
    for p, ref in clips()[:n]:
        a, sr = sf.read(p, dtype="float32")
        gap = np.zeros(int(silence_s * sr), dtype=np.float32)
        parts += [gap, a]
        t += silence_s
        spans.append((t, t + a.size / sr, ref))
        t += a.size / sr
    parts.append(np.zeros(int(silence_s * 16000), dtype=np.float32))
    out = tmp_path / "joined.wav"
    sf.write(out, np.concatenate(parts), 16000, subtype="PCM_16")
    return out, spans


def test_librispeech_clips_within_wer_bound(tmp_path: Path) -> None:
    refs, hyps = [], []
    for p, ref in clips():
        r = wlk("file", str(p), *FAST, "--output-dir", str(tmp_path), "--formats", "srt,vtt,json,txt")
        assert r.returncode == 0, r.stderr.decode()
        events = parse_jsonl(r.stdout)
        check_jsonl(events)
        assert wer(ref, transcript(events)) <= 0.25  # the confirmed words
        text = final_text(events)  # what the files hold
        refs.append(ref)
        hyps.append(text)
        doc = json.loads((tmp_path / f"{p.stem}.json").read_text())
        assert doc["text"] == text and doc["language"] == "en" and doc["model"] == "tiny.en"
        check_cues(parse_srt((tmp_path / f"{p.stem}.srt").read_text()))
        check_cues(parse_vtt((tmp_path / f"{p.stem}.vtt").read_text()))
        assert (tmp_path / f"{p.stem}.txt").read_text().split() == text.split()
    assert wer(" ".join(refs), " ".join(hyps)) <= 0.15, hyps


def test_timestamps_stay_true_across_skipped_silence(tmp_path: Path) -> None:
    wav, spans = joined(tmp_path, silence_s=4.0, n=3)
    r = wlk("file", str(wav), *FAST, "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    words = [w for e in parse_jsonl(r.stdout) if e["type"] == "transcript" for w in e["confirmed"]]
    for start, end, ref in spans:
        inside = [w for w in words if start - 0.5 <= w["start"] <= end + 0.5]
        assert wer(ref, "".join(w["text"] for w in inside)) <= 0.35, (ref, inside)
    assert all(any(s - 0.5 <= w["start"] <= e + 0.5 for s, e, _ in spans) for w in words)


FORMATS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "ogg": ["-c:a", "libopus", "-b:a", "32k"],
    "flac": ["-c:a", "flac"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
    "webm": ["-c:a", "libopus"],
}


@pytest.mark.parametrize("ext", [*FORMATS, "mp4-video"])
def test_common_containers_decode(tmp_path: Path, ext: str) -> None:
    src, ref = clips()[1]
    if ext == "mp4-video":
        out = tmp_path / "clip.mp4"
        cmd = [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=64x64:r=5",
            "-i",
            str(src),
            "-shortest",
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
            "-ar",
            "44100",
            "-ac",
            "2",
            str(out),
        ]
    else:
        out = tmp_path / f"clip.{ext}"
        cmd = ["ffmpeg", "-loglevel", "error", "-i", str(src), "-ar", "48000", "-ac", "2", *FORMATS[ext], str(out)]
    subprocess.run(cmd, check=True)
    r = wlk("file", str(out), *FAST, "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    assert wer(ref, transcript(parse_jsonl(r.stdout))) <= 0.25


def test_stdin_container_from_ffmpeg() -> None:
    src, ref = clips()[0]
    audio = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(src), "-ar", "44100", "-f", "wav", "-"],
        capture_output=True,
        check=True,
    ).stdout
    r = wlk("file", "-", *FAST, input=audio)
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    check_jsonl(events)
    assert events[0]["source"] == "stdin"
    assert wer(ref, transcript(events)) <= 0.25


def test_stdin_raw_pcm(tmp_path: Path) -> None:
    src, ref = clips()[0]
    raw = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(src), "-ar", "8000", "-ac", "2", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    r = wlk(
        "file",
        "-",
        *FAST,
        "--raw-format",
        "s16le",
        "--raw-rate",
        "8000",
        "--raw-channels",
        "2",
        "--output-dir",
        str(tmp_path),
        input=raw,
    )
    assert r.returncode == 0, r.stderr.decode()
    assert wer(ref, transcript(parse_jsonl(r.stdout))) <= 0.3
    assert (tmp_path / "stdin.srt").exists()


def test_real_time_pacing_releases_audio_on_the_clock() -> None:
    src, _ = clips()[3]
    duration = sf.info(src).duration
    for speed in (1.0, 2.0):
        r = wlk("file", str(src), "--model", "tiny.en", "--speed", str(speed), "--no-files")
        assert r.returncode == 0, r.stderr.decode()
        events = parse_jsonl(r.stdout)
        for e in events[1:-1]:
            if e["type"] != "transcript":
                continue
            # audio is never released ahead of the clock (one chunk of slack)
            assert e["audio_s"] <= e["wall_s"] * speed + 0.1 + 1e-6, e
        stats = events[-1]["stats"]
        assert stats["processing_time_s"] >= duration / speed - 0.15
        assert stats["final_lag_s"] < 2.0


def test_a_pause_is_not_counted_as_lag(tmp_path: Path) -> None:
    # 4 s of silence between clips: the lag is the backlog of unprocessed audio, and silence the VAD
    # has passed over is not one (the previous utterance's end must not count from the new one's start)
    wav, _ = joined(tmp_path, silence_s=4.0, n=2)
    r = wlk("file", str(wav), "--model", "tiny.en", "--speed", "2", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    stats = parse_jsonl(r.stdout)[-1]["stats"]
    assert stats["words"] > 10 and stats["max_lag_s"] < 2.5, stats


def test_speed_zero_is_the_same_streaming_path() -> None:
    src, ref = clips()[2]
    r = wlk("file", str(src), *FAST, "--no-files")
    events = parse_jsonl(r.stdout)
    # words are confirmed incrementally over many events, not in one batch at the end
    with_words = [e for e in events[1:-1] if e.get("confirmed")]
    assert len(with_words) >= 3
    assert events[-1]["stats"]["real_time_factor"] < 1.0


def test_default_files_beside_the_input(tmp_path: Path) -> None:
    src, _ = clips()[0]
    local = tmp_path / "meeting.wav"
    shutil.copy(src, local)
    r = wlk("file", str(local), *FAST)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meeting.json", "meeting.srt", "meeting.wav"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_flushes_and_leaves_valid_files(tmp_path: Path, sig: int) -> None:
    wav, _ = joined(tmp_path, silence_s=0.5, n=5)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wlk_cli",
            "file",
            str(wav),
            "--model",
            "tiny.en",
            "--speed",
            "1",
            "--output-dir",
            str(tmp_path),
            "--formats",
            "srt,json,vtt,txt",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    time.sleep(9.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    events = parse_jsonl(out)
    assert events[-1]["type"] == "end" and events[-1]["stats"]["interrupted"] is True
    text = final_text(events)
    assert len(text.split()) >= 5
    assert len(text.split()) >= len(transcript(events).split()) - 2
    doc = json.loads((tmp_path / "joined.json").read_text())
    assert doc["text"] == text  # every utterance's final, nothing lost
    check_cues(parse_srt((tmp_path / "joined.srt").read_text()))
    check_cues(parse_vtt((tmp_path / "joined.vtt").read_text()))
    assert not list(tmp_path.glob(".*.tmp"))


def test_no_vad_path_transcribes_too() -> None:
    src, ref = clips()[4]
    r = wlk("file", str(src), *FAST, "--no-vad", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    assert wer(ref, transcript(parse_jsonl(r.stdout))) <= 0.3


def test_librispeech_data_present() -> None:
    assert len(clips()) >= 5 and (LIBRI / "manifest.json").exists()
