#!/usr/bin/env python3
"""The real-speech corpus: every case a WAV (16 kHz mono) with its reference transcript.

Built from the project's own real speech (a phone call in tests/data, a LibriVox reading in
benchmarks/data), the shared LibriSpeech,
pocketsphinx and AMI clips (../shared/data), and espeak-ng voices, with sox/ffmpeg/numpy for the
telephone band, noise, music and pauses. Deterministic: the same inputs give the same files. Sources
and licences: benchmarks/CORPUS.md.

    python benchmarks/corpus.py OUT_DIR          # writes OUT_DIR/*.wav and OUT_DIR/cases.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TESTS = ROOT / "tests" / "data"
BENCH = ROOT / "benchmarks" / "data"


@dataclass(frozen=True)
class Case:
    name: str
    wav: str
    reference: str
    language: str  # en, de, fr, es, ar
    kind: str  # what it tests
    seconds: float


def _read(path: Path) -> np.ndarray:
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != SR:
        raise SystemExit(f"{path}: {sr} Hz, want {SR}")
    return audio


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SR)), dtype=np.float32)


def _join(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts).astype(np.float32)


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def speak(text: str, voice: str, tmp: Path, speed: int = 150) -> np.ndarray:
    """espeak-ng speech at 16 kHz."""
    raw, out = tmp / "raw.wav", tmp / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    _ffmpeg(["-i", str(raw), "-ar", str(SR), "-ac", "1", str(out)])
    return _read(out)


def _through(audio: np.ndarray, tmp: Path, encode: list[str], ext: str) -> np.ndarray:
    """Audio through a codec and back to 16 kHz."""
    src, coded, back = tmp / "src.wav", tmp / f"coded.{ext}", tmp / "back.wav"
    sf.write(str(src), audio, SR, subtype="PCM_16")
    _ffmpeg(["-i", str(src), *encode, str(coded)])
    _ffmpeg(["-i", str(coded), "-ar", str(SR), "-ac", "1", str(back)])
    return _read(back)


def _mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Speech plus noise scaled to ``snr_db`` (power over the speech's active part)."""
    noise = np.resize(noise, speech.size)
    active = speech[np.abs(speech) > 0.02 * np.abs(speech).max()]
    p_speech = float(np.mean(active**2))
    p_noise = float(np.mean(noise**2)) or 1.0
    out = speech + noise * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    peak = float(np.abs(out).max())
    return (out / peak * 0.9 if peak > 0.99 else out).astype(np.float32)


def music(seconds: float) -> np.ndarray:
    """A deterministic piece: chords of harmonics with a beat (no words in it)."""
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1)]
    for i, chord in enumerate(chords * int(np.ceil(seconds / 8))):
        span = (t >= i * 2.0) & (t < (i + 1) * 2.0)
        for f in chord:
            for h in (1, 2, 3):
                out[span] += np.sin(2 * np.pi * f * h * t[span]) / (h * 3)
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95).astype(float) * np.sin(2 * np.pi * 80 * t)
    return (0.3 * (out / np.abs(out).max() + 0.5 * beat)).astype(np.float32)


def librispeech() -> list[tuple[str, np.ndarray, str]]:
    """(id, audio, reference) of the shared LibriSpeech clips."""
    d = SHARED / "librispeech"
    manifest = json.loads((d / "manifest.json").read_text())
    return [(f["id"], _read(d / f["filename"]), f["reference_transcript"].lower()) for f in manifest["files"]]


def call() -> tuple[np.ndarray, str]:
    d = TESTS / "call"
    return _read(d / "call.wav"), (d / "call.txt").read_text().strip()


REPEATS = [
    ("en-us", "Hello? Hello? Oh, hello. I didn't know you were there."),
    ("en-gb", "No, no, no. That is not what I said."),
    ("en-us+f3", "It was very, very cold that night, and we walked home."),
    ("en-gb+m3", "Okay. Okay. Yes, yes. I think so."),
]
LANGUAGES = {
    "de": "Guten Morgen. Heute sprechen wir über das Wetter in Berlin und die Pläne für das Wochenende. "
    "Wir treffen uns um zehn Uhr am Bahnhof und fahren dann mit dem Zug an den See.",
    "fr": "Bonjour à tous. Aujourd'hui nous parlons du temps qu'il fait à Paris et des projets pour le "
    "week-end. Nous nous retrouvons à dix heures à la gare et nous prenons le train pour la mer.",
    "es": "Buenos días a todos. Hoy hablamos del tiempo en Madrid y de los planes para el fin de semana. "
    "Nos encontramos a las diez en la estación y tomamos el tren hacia la playa.",
    "ar": "صباح الخير. اليوم نتحدث عن الطقس في القاهرة وعن خطط نهاية الأسبوع. نلتقي في الساعة العاشرة في المحطة.",
}


def build(out: Path) -> list[Case]:
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, audio: np.ndarray, ref: str, kind: str, language: str = "en") -> None:
        path = out / f"{name}.wav"
        sf.write(str(path), audio, SR, subtype="PCM_16")
        cases.append(Case(name, str(path), ref, language, kind, round(audio.size / SR, 2)))

    libri = librispeech()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        audio, ref = call()
        add("call", audio, ref, "real two-speaker phone call, repeats")
        # repeated speech: espeak-ng voices, joined to real speech
        parts, refs = [], []
        for (voice, text), (_, clip, clip_ref) in zip(REPEATS, libri[5:9]):
            parts += [speak(text, voice, tmp), _silence(0.6), clip, _silence(0.8)]
            refs += [text, clip_ref]
        add("repeats", _join(*parts), " ".join(refs), "natural repeats (espeak-ng) joined to LibriSpeech")
        # held-out read speech (not long.wav's tuning order): clips 6-9 back to back, short gaps
        add(
            "heldout",
            _join(*[x for _, clip, _ in libri[5:] for x in (clip, _silence(0.3))]),
            " ".join(r for _, _, r in libri[5:]),
            "read speech, clips not in the tests",
        )
        base = _join(*[x for _, clip, _ in libri[:4] for x in (clip, _silence(0.5))])
        base_ref = " ".join(r for _, _, r in libri[:4])
        add("phone_mulaw", _through(base, tmp, ["-ar", "8000", "-c:a", "pcm_mulaw"], "wav"), base_ref, "8 kHz mu-law")
        add(
            "phone_opus",
            _through(base, tmp, ["-ar", "8000", "-c:a", "libopus", "-b:a", "8k", "-application", "voip"], "ogg"),
            base_ref,
            "Opus 8 kb/s narrowband",
        )
        rng = np.random.default_rng(7)
        noise = rng.standard_normal(base.size).astype(np.float32)
        add("noise_10db", _mix(base, noise, 10.0), base_ref, "white noise, 10 dB SNR")
        add("noise_0db", _mix(base, noise, 0.0), base_ref, "white noise, 0 dB SNR")
        add("music_10db", _mix(base, music(base.size / SR), 10.0), base_ref, "music, 10 dB SNR")
        (_, a, ra), (_, b, rb), (_, c, rc) = libri[4], libri[6], libri[8]
        add("pauses", _join(a, _silence(10.0), b, _silence(60.0), c), f"{ra} {rb} {rc}", "10 s and 60 s pauses")
        # quick turns: four voices, one after the other with 0.15 s between them
        quick = _join(*[x for _, clip, _ in (libri[0], libri[1], libri[2], libri[3]) for x in (clip, _silence(0.15))])
        add("quick_turns", quick, base_ref, "four speakers, 0.15 s between turns")
        cards = SHARED / "pocketsphinx-cards"
        lines = (cards / "cards.transcription").read_text().splitlines()
        card_lines = [ln.split("</s>")[0].replace("<s>", "").strip() for ln in lines if ln.strip()]
        card_audio = [x for i in range(1, 6) for x in (_read(cards / f"{i:03d}.wav"), _silence(1.0))]
        add("cards", _join(*card_audio), " ".join(card_lines), "short commands, one word repeated (five five)")
        sonnet = BENCH / "sonnet"  # a LibriVox volunteer reads Shakespeare: a real voice, old words
        poem = " ".join((sonnet / "sonnet.txt").read_text().split())
        add("sonnet", _read(sonnet / "sonnet.flac"), poem, "real read poetry (LibriVox), 53 s, archaic words")
        for lang, text in LANGUAGES.items():
            add(f"speech_{lang}", speak(text, lang, tmp, 140), text, f"espeak-ng {lang}", lang)
    (out / "cases.json").write_text(json.dumps([asdict(c) for c in cases], ensure_ascii=False, indent=1))
    return cases


def load(out: Path) -> list[Case]:
    """The corpus in ``out``, built first when it is missing."""
    index = out / "cases.json"
    if not index.is_file():
        return build(out)
    return [Case(**c) for c in json.loads(index.read_text())]


if __name__ == "__main__":
    for c in build(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/corpus-audio")):
        print(f"{c.name:14s} {c.seconds:6.1f} s  {c.language}  {c.kind}")
