"""Every bad input: one line naming the problem, a non-zero exit, no traceback, no invalid files."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from tests.formats import parse_srt
from tests.helpers import clips, one_line_error, wlk

CLIP = str(clips()[0][0])


def make(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / {"dir": "adir", "empty": "empty.wav", "text": "notes.wav", "noaudio": "video.mp4"}.get(kind, kind)
    if kind == "dir":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not audio\n" * 20)
    elif kind == "noaudio":
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x64:rate=5",
                "-t",
                "1",
                "-an",
                str(p),
            ],
            check=True,
        )
    return p


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing.wav", "no such file"),
        ("dir", "is a directory"),
        ("empty", "file is empty"),
        ("text", "not an audio file"),
        ("noaudio", "has no audio track"),
    ],
)
def test_bad_files(tmp_path: Path, kind: str, needle: str) -> None:
    p = make(tmp_path, kind)
    out = tmp_path / "out"
    out.mkdir()
    r = wlk("file", str(p), "--model", "tiny.en", "--speed", "0", "--output-dir", str(out))
    one_line_error(r, 3, needle, p.name)
    assert not list(out.iterdir())


def test_truncated_wav_keeps_what_was_heard(tmp_path: Path) -> None:
    p = tmp_path / "cut.wav"
    p.write_bytes(Path(CLIP).read_bytes()[:110_000])
    r = wlk("file", str(p), "--model", "tiny.en", "--speed", "0", "--output-dir", str(tmp_path))
    one_line_error(r, 3, "truncated")
    srt = (tmp_path / "cut.srt").read_text()
    assert parse_srt(srt), "what was decoded before the cut is transcribed into a valid file"


def test_corrupt_ogg(tmp_path: Path) -> None:
    p = tmp_path / "bad.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", CLIP, "-c:a", "libvorbis", str(p)], check=True)
    b = bytearray(p.read_bytes())
    rng = random.Random(1)
    for i in range(len(b) // 3, 2 * len(b) // 3):
        b[i] = rng.randrange(256)
    p.write_bytes(bytes(b))
    r = wlk("file", str(p), "--model", "tiny.en", "--speed", "0", "--no-files")
    one_line_error(r, 3, "bad.ogg")


def test_stdin_that_closes_at_once() -> None:
    r = wlk("file", "-", "--model", "tiny.en", input=b"")
    one_line_error(r, 3, "stdin")


def test_stdin_garbage() -> None:
    r = wlk("file", "-", "--model", "tiny.en", input=b"\x00\x01garbage" * 100)
    one_line_error(r, 3, "stdin")


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["--model", "nosuchmodel"], 4, "unknown model 'nosuchmodel'"),
        (["--model", "small"], 4, "could not be downloaded"),
        (["--model", "/nonexistent/dir"], 4, "model directory not found"),
        (["--model", "base", "--language", "xx"], 2, "unknown language 'xx'"),
        (["--model", "tiny.en", "--language", "de"], 2, "English-only"),
        (["--model", "tiny.en", "--language", "german"], 2, "cannot transcribe German (de)"),
        (["--preset", "nope"], 2, "unknown preset 'nope'"),
        (["--speed", "-1"], 2, "speed"),
        (["--speed", "1e9"], 2, "speed"),
        (["--chunk-ms", "0"], 2, "chunk_ms"),
        (["--chunk-ms", "-5"], 2, "chunk_ms"),
        (["--chunk-ms", "999999"], 2, "chunk_ms"),
        (["--formats", "srt,doc"], 2, "formats"),
        (["--format", "xml"], 2, "format"),
        (["--raw-format", "mp5"], 3, "raw-format"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    r = wlk("file", CLIP, *args, "--output-dir", str(tmp_path))
    one_line_error(r, code, needle)
    assert not list(tmp_path.iterdir())


def test_bad_preset_file_names_the_key(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text('model = "tiny.en"\nbeam = 3\n')
    r = wlk("file", CLIP, "--preset", str(p), "--no-files")
    one_line_error(r, 2, "unknown key 'beam'")
    p.write_text('model = "tiny.en"\nmin_chunk_size = "fast"\n')
    one_line_error(wlk("file", CLIP, "--preset", str(p), "--no-files"), 2, "min_chunk_size")
    p.write_text("model = \n")
    one_line_error(wlk("file", CLIP, "--preset", str(p), "--no-files"), 2, "not valid TOML")


def test_help_and_presets() -> None:
    r = wlk("--help")
    assert r.returncode == 0 and b"file" in r.stdout and b"presets" in r.stdout
    r = wlk("presets")
    names = [line.split()[0] for line in r.stdout.decode().splitlines()]
    assert {"ultra-fast", "balanced", "high-accuracy", "meeting"} <= set(names)
