"""Language auto-detection with the multilingual base model on non-English speech (espeak-ng)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import clips, parse_jsonl, transcript, wer, wlk

GERMAN = (
    "Guten Morgen. Heute ist das Wetter in Berlin sehr schön, und wir gehen am Nachmittag in den Park. "
    "Danach kaufen wir Brot und Käse auf dem Markt und fahren mit dem Fahrrad nach Hause."
)


def speak(tmp_path: Path, text: str, voice: str) -> Path:
    raw = tmp_path / "raw.wav"
    out = tmp_path / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(raw), "-ar", "16000", "-ac", "1", str(out)], check=True)
    return out


@pytest.mark.slow
def test_german_is_detected_and_transcribed(tmp_path: Path) -> None:
    wav = speak(tmp_path, GERMAN, "de")
    r = wlk("file", str(wav), "--model", "base", "--speed", "0", "--output-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    assert events[-1]["stats"]["language"] == "de"
    assert wer(GERMAN, transcript(events)) <= 0.5, transcript(events)
    assert '"language": "de"' in (tmp_path / "de.json").read_text()


@pytest.mark.slow
def test_english_is_detected_with_the_default_model() -> None:
    src, ref = clips()[1]
    r = wlk("file", str(src), "--speed", "0", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    assert events[0]["model"] == "base"
    assert events[-1]["stats"]["language"] == "en"
    assert wer(ref, transcript(events)) <= 0.25
