"""Speakers you can trust, through the real CLI and models: refine at the end of `wlk file`, known voices
(`wlk speakers add|list|rm`, `--speakers`) and every bad input of enrolment as one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import clips, one_line_error, parse_jsonl, wlk
from wlk_cli.sinks.jsonl import final_words

SR = 16000


def audio(k: int) -> np.ndarray:
    return sf.read(clips()[k][0], dtype="float32")[0]


def join(parts: list[tuple[np.ndarray, str]], path: Path) -> list[tuple[float, float, str]]:
    """Write the parts with 0.5 s between them; returns (start, end, who) of each."""
    gap = np.zeros(SR // 2, dtype=np.float32)
    out, spans, t = [], [], 0.0
    for x, who in parts:
        out += [gap, x]
        t += 0.5
        spans.append((t, t + x.size / SR, who))
        t += x.size / SR
    out.append(gap)
    sf.write(path, np.concatenate(out), SR, subtype="PCM_16")
    return spans


def who(word: dict, spans: list[tuple[float, float, str]]) -> str:  # type: ignore[type-arg]
    mid = (word["start"] + word["end"]) / 2
    return min(spans, key=lambda s: 0 if s[0] <= mid <= s[1] else min(abs(mid - s[0]), abs(mid - s[1])))[2]


@pytest.fixture()
def data_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose user data directory (the profiles) is a fresh folder."""
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}


def test_refine_at_the_end_gives_the_end_of_a_phrase_back_to_its_speaker(tmp_path: Path) -> None:
    """Clips 0 and 1: live, diart gives the last phrase of clip 0 to the next speaker every time."""
    a, b = audio(0), audio(1)
    wav = tmp_path / "abab.wav"
    spans = join([(a, "A"), (b, "B"), (a, "A"), (b, "B")], wav)
    accuracy = {}
    for flags in ([], ["--no-refine"]):
        r = wlk("file", str(wav), "--model", "tiny.en", "--speed", "0", "--diarization", "--formats", "rttm",
                "--output-dir", str(tmp_path), *flags, timeout=600)  # fmt: skip
        assert r.returncode == 0, r.stderr.decode()
        events = parse_jsonl(r.stdout)
        refined = [e for e in events if e["type"] == "speakers" and e["refined"]]
        assert bool(refined) == (not flags)
        words = final_words(events)
        labels = {w["speaker"] for w in words}
        assert len(labels) == 2
        truth = [who(w, spans) for w in words]
        best = max(
            sum((w["speaker"] == la) == (t == "A") for w, t in zip(words, truth)) for la in labels
        )  # the label that stands for A
        accuracy[bool(flags)] = best / len(words)
        rttm = [x.split() for x in (tmp_path / "abab.rttm").read_text().splitlines()]
        assert {x[7] for x in rttm} == labels
    assert accuracy[False] >= 0.95 and accuracy[False] > accuracy[True], accuracy


@pytest.mark.parametrize(
    ("known", "unknown", "cut", "bar"),
    [
        ({"Hayley": 2, "Perla": 4}, 3, 0.65, 0.9),
        # two voices 0.43 apart that segmentation-3.0 keeps in one local speaker across the pause between
        # them (live, Vera's first words went to Hugo: 84.8% before known voices split a local speaker)
        ({"Hugo": 0, "Vera": 1}, 2, 0.7, 0.95),
    ],
)
def test_known_voices_are_named_and_an_unknown_one_gets_s1(
    tmp_path: Path, data_home: dict[str, str], known: dict[str, int], unknown: int, cut: float, bar: float
) -> None:
    """Profiles from the first part of two speakers' clips; a dialogue of the rest and a third voice."""
    rest = {}
    for name, k in known.items():
        x = audio(k)
        at = int(x.size * cut)  # >= 2 s of speech in each of these clips' first part
        rest[name] = x[at:]
        sf.write(tmp_path / f"{name}.wav", x[:at], SR, subtype="PCM_16")
        r = wlk("speakers", "add", name, str(tmp_path / f"{name}.wav"), env=data_home, timeout=300)
        assert r.returncode == 0, r.stderr.decode()
    listed = wlk("speakers", "list", env=data_home).stdout.decode()
    assert all(name in listed for name in known)
    other = audio(unknown)
    wav = tmp_path / "meeting.wav"
    h, p = list(known)
    order = [(rest[h], h), (rest[p], p), (other, "S1"), (rest[p], p), (rest[h], h), (other, "S1")]
    spans = join(order, wav)
    r = wlk("file", str(wav), "--model", "tiny.en", "--speed", "0", "--diarization", "--speakers", f"{h},{p}",
            "--no-files", env=data_home, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    words = final_words(parse_jsonl(r.stdout))
    named = sum(w["speaker"] == who(w, spans) for w in words) / len(words)
    assert named >= bar, [(w["text"], w["speaker"], who(w, spans)) for w in words]


def test_one_known_voice_among_unknown_ones_is_named_and_only_it(tmp_path: Path, data_home: dict[str, str]) -> None:
    """One profile: a local speaker carrying the known voice and then an unknown one is cut between them
    (before, with one profile, the unknown voice's first words took the known name: 80% right)."""
    x = audio(0)
    at = int(x.size * 0.7)
    sf.write(tmp_path / "hugo.wav", x[:at], SR, subtype="PCM_16")
    r = wlk("speakers", "add", "Hugo", str(tmp_path / "hugo.wav"), env=data_home, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    hugo, b, c = x[at:], audio(1), audio(2)
    wav = tmp_path / "three.wav"
    spans = join([(hugo, "Hugo"), (b, "B"), (c, "C"), (b, "B"), (hugo, "Hugo"), (c, "C")], wav)
    r = wlk("file", str(wav), "--model", "tiny.en", "--speed", "0", "--diarization", "--speakers", "Hugo",
            "--no-files", env=data_home, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    words = final_words(parse_jsonl(r.stdout))
    right = [(w["speaker"] == "Hugo") == (who(w, spans) == "Hugo") for w in words]
    assert sum(right) / len(words) >= 0.95, [(w["text"], w["speaker"], who(w, spans)) for w in words]
    assert {w["speaker"] for w in words} - {"Hugo"} <= {"S1", "S2"}  # the unknown voices: S1, S2, none missing


def test_enrolment_refuses_bad_clips_and_writes_nothing(tmp_path: Path, data_home: dict[str, str]) -> None:
    folder = Path(data_home["XDG_DATA_HOME"]) / "wlk" / "speakers"
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR * 5, np.float32), SR)
    t = np.arange(SR * 6) / SR
    music = tmp_path / "music.wav"
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 2 * t)))
    sf.write(music, (0.1 * chord).astype(np.float32), SR)
    short = tmp_path / "short.wav"
    sf.write(short, audio(0)[: int(1.6 * SR)], SR)
    two = tmp_path / "two.wav"
    join([(audio(2), "a"), (audio(3), "b"), (audio(2), "a"), (audio(3), "b")], two)
    notaudio = tmp_path / "notes.wav"
    notaudio.write_text("these are not samples\n")
    cases = [
        (silent, "no speech"),
        (music, "no speech"),
        (short, "at least 2 s"),
        (two, "more than one voice"),
        (notaudio, "notes.wav"),
    ]
    for clip, needle in cases:
        r = wlk("speakers", "add", "Ann", str(clip), env=data_home, timeout=300)
        assert r.returncode in (2, 3), (clip, r.stderr.decode())
        one_line_error(r, r.returncode, needle)
        assert not folder.exists() or not list(folder.iterdir()), clip
    bad_name = wlk("speakers", "add", "S2", str(two), env=data_home)
    one_line_error(bad_name, 2, "unknown speakers")


def test_profile_names_unknown_profiles_and_damaged_files_are_one_line(
    tmp_path: Path, data_home: dict[str, str]
) -> None:
    clip = tmp_path / "ann.wav"
    sf.write(clip, audio(2), SR)
    assert wlk("speakers", "add", "Ann", str(clip), env=data_home, timeout=300).returncode == 0
    one_line_error(wlk("speakers", "add", "ann", str(clip), env=data_home), 2, "exists")  # names ignore case
    assert wlk("speakers", "add", "Ann", str(clip), "--replace", env=data_home, timeout=300).returncode == 0
    wav = str(clips()[0][0])
    r = wlk("file", wav, "--model", "tiny.en", "--diarization", "--speakers", "Ann,Bob", "--no-files", env=data_home)
    one_line_error(r, 2, "Bob", "known: Ann")
    one_line_error(wlk("file", wav, "--speakers", "Ann", "--no-files", env=data_home), 2, "--diarization")
    profile = Path(data_home["XDG_DATA_HOME"]) / "wlk" / "speakers" / "ann.json"
    doc = json.loads(profile.read_text())
    profile.write_text(json.dumps({**doc, "embedding": doc["embedding"][:3]}))
    r = wlk("file", wav, "--model", "tiny.en", "--diarization", "--speakers", "all", "--no-files", env=data_home)
    one_line_error(r, 2, "damaged", "wlk speakers rm ann")
    assert wlk("speakers", "rm", "Ann", env=data_home).returncode == 0
    assert not profile.exists()
    one_line_error(wlk("speakers", "rm", "Ann", env=data_home), 2, "no voice profile named")
    one_line_error(wlk("speakers", "fly", env=data_home), 2, "not list, add or rm")
    assert "no voice profiles" in wlk("speakers", env=data_home).stdout.decode()
