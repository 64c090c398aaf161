"""Real speech nobody tuned for: a phone call that opens "Hello? Hello?", pauses, speed 2, languages,
and bad input. Real tiny.en / base weights; bounds with a margin, never exact strings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import DATA, check_jsonl, clips, lost_at_pauses, normalize, parse_jsonl, transcript, wer, wlk

CALL = DATA / "call" / "call.wav"
CALL_REF = (DATA / "call" / "call.txt").read_text()
POLICIES = ["local-agreement", "simulstreaming"]
SR = 16000


def run(path: Path, *flags: str) -> list[dict]:  # type: ignore[type-arg]
    r = wlk("file", str(path), "--speed", "0", "--no-files", *flags)
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    check_jsonl(events)  # ordered, non-overlapping, never zero-length, nothing committed twice
    return events


def speak(tmp: Path, text: str, voice: str, name: str) -> np.ndarray:
    raw, out = tmp / f"{name}-raw.wav", tmp / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(raw), "-ar", "16000", "-ac", "1", str(out)], check=True)
    return sf.read(out, dtype="float32")[0]


def write(tmp: Path, name: str, *parts: np.ndarray) -> Path:
    path = tmp / f"{name}.wav"
    sf.write(path, np.concatenate(parts).astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES)
def test_phone_call_that_opens_with_hello_hello(policy: str) -> None:
    # offline tiny.en: 16% (beam 5) / 14% (greedy) on this call; before the loop guard was fixed the
    # stream confirmed 1 word of 80
    events = run(CALL, "--model", "tiny.en", "--policy", policy)
    text = transcript(events)
    assert wer(CALL_REF, text) <= 0.3, text
    words = normalize(text)
    assert words[:2] == ["hello", "hello"], text  # the genuine repeat is kept
    assert "chicago" in words[-40:] and "jersey" in words[-8:], text  # and nothing after it is lost


def offline_words(path: Path, model: str) -> list[str]:
    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model

    segments, _ = WhisperModel(str(resolve_model(model)), device="cpu", compute_type="int8").transcribe(str(path))
    return normalize("".join(s.text for s in segments))


@pytest.mark.slow
def test_words_repeated_without_end_are_not_invented(tmp_path: Path) -> None:
    # all "hello hello hello": the stream says no more than offline Whisper itself says of it
    said = "hello, hello, hello, hello, hello, hello"
    path = write(tmp_path, "hellos", speak(tmp_path, said, "en-us", "h"), np.zeros(SR, dtype=np.float32))
    offline = offline_words(path, "tiny.en")
    for policy in POLICIES:
        words = normalize(transcript(run(path, "--model", "tiny.en", "--policy", policy)))
        assert len(words) <= max(len(offline), 6) + 2, (words, offline)
        assert all(words.count(w) <= max(offline.count(w), 6) + 1 for w in set(words)), (words, offline)


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES)
def test_nothing_shown_is_lost_at_pauses(tmp_path: Path, policy: str) -> None:
    cl = clips()
    audio = [sf.read(c, dtype="float32")[0] for c, _ in cl[:4]]
    gap = np.zeros(int(1.2 * SR), dtype=np.float32)
    path = write(tmp_path, "pauses", audio[0], gap, audio[1], gap, gap, audio[2], gap, audio[3])
    events = run(path, "--model", "tiny.en", "--policy", policy)
    assert sum(1 for e in events if e.get("utterance_end")) >= 4
    assert lost_at_pauses(events) == []
    assert wer(" ".join(r for _, r in cl[:4]), transcript(events)) <= 0.15


def said_twice(words: list[str], n: int = 3) -> list[list[str]]:
    """n-grams (n or longer) said twice back to back."""
    return [
        words[i : i + k]
        for k in range(n, 8)
        for i in range(len(words) - 2 * k + 1)
        if words[i : i + k] == words[i + k : i + 2 * k]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES)
def test_quick_turns_say_no_phrase_twice(tmp_path: Path, policy: str) -> None:
    # 0.15 s between speakers: the end of a turn is where Whisper likes to say the last phrase again
    cl = clips()
    gap = np.zeros(int(0.15 * SR), dtype=np.float32)
    path = write(tmp_path, "turns", *[x for c, _ in cl for x in (sf.read(c, dtype="float32")[0], gap)])
    text = transcript(run(path, "--model", "tiny.en", "--policy", policy))
    assert said_twice(normalize(text)) == [], text
    assert wer(" ".join(r for _, r in cl), text) <= 0.15, text


@pytest.mark.slow
def test_speed_two_commits_no_word_twice(tmp_path: Path) -> None:
    cl = clips()
    audio = [x for c, _ in cl for x in (sf.read(c, dtype="float32")[0], np.zeros(SR // 2, dtype=np.float32))]
    path = write(tmp_path, "joined", *audio)
    ref = " ".join(r for _, r in cl)
    r = wlk("file", str(path), "--speed", "2", "--no-files", "--model", "tiny.en")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    check_jsonl(events)
    assert wer(ref, transcript(events)) <= 0.15, transcript(events)


@pytest.mark.slow
@pytest.mark.parametrize(
    "lang,voice,text",
    [
        (
            "fr",
            "fr",
            "Bonjour à tous. Aujourd'hui nous parlons du temps qu'il fait à Paris et des projets pour le week-end.",
        ),
        ("es", "es", "Buenos días a todos. Hoy hablamos del tiempo en Madrid y de los planes para el fin de semana."),
    ],
)
def test_language_is_detected_as_faster_whisper_does(tmp_path: Path, lang: str, voice: str, text: str) -> None:
    path = write(tmp_path, lang, speak(tmp_path, text, voice, lang))
    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model

    model = WhisperModel(str(resolve_model("base")), device="cpu", compute_type="int8")
    _, info = model.transcribe(str(path))
    events = run(path, "--model", "base")
    assert events[-1]["stats"]["language"] == info.language  # (espeak-ng French reads as Thai to base)
    if info.language == lang:
        assert wer(text, transcript(events)) <= 0.5, transcript(events)


@pytest.mark.slow
def test_silence_and_music_get_no_invented_text(tmp_path: Path) -> None:
    silence = write(tmp_path, "silence", np.zeros(10 * SR, dtype=np.float32))
    events = run(silence, "--model", "tiny.en")
    assert events[-1]["stats"]["words"] == 0 and events[-1]["stats"]["note"] == "no speech found"
    t = np.arange(12 * SR) / SR
    tones = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.1 * (1 + np.sin(2 * np.pi * 0.5 * t))
    music = write(tmp_path, "music", tones.astype(np.float32))
    for policy in POLICIES:
        stats = run(music, "--model", "tiny.en", "--policy", policy)[-1]["stats"]
        assert stats["words"] <= 3, stats
