#!/usr/bin/env python3
"""Diarization quality of `wlk file --diarization`, after refine (the default) and live (`--no-refine`):
DER on the AMI clips and on same-meeting AMI clips joined into 60-120 s sessions; DER and word-speaker
accuracy on LibriSpeech dialogues with exact labels (2 and 3 speakers) and on a constructed 5-minute
session of five voices that leave and come back.

DER: pyannote.metrics, no collar, overlap included, scored inside the UEM. Each file is run through the
real CLI (`--formats rttm`, JSON lines on stdout); extra wlk flags go after `--`. AMI: the mean of the
per-clip DERs and the pooled DER (all clips' errors over all clips' speech, pyannote's `abs(metric)`).

Dialogues: LibriSpeech clips of different speakers joined with 0.5 s of silence, so who speaks is known
exactly. Where they speak inside a clip is not: the clips hold pauses. The reference speech is Silero
VAD's (faster-whisper's bundled ONNX model, Silero's default settings) on each clip alone;
`dialogueN_der_whole_clips` also scores against whole clips as speech.

    python benchmarks/diarization_bench.py [--speed 1] [--model tiny.en]
        [--only ami|joined|dialogues|session|enrolment] [--voices 012,345] [--one-profile]
        [-- --tau-active 0.55]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from report import emit  # noqa: E402  (benchmarks/report.py)

from wlk_cli.sinks.jsonl import final_words  # noqa: E402


def read_rttm(path: Path, uri: str | None = None) -> Annotation:
    ann = Annotation(uri=uri)
    for line in path.read_text().splitlines():
        x = line.split()
        if len(x) >= 8 and x[0] == "SPEAKER" and (uri is None or x[1] == uri):
            start, dur = float(x[3]), float(x[4])
            seg = Segment(start, start + dur)
            ann[seg, ann.new_track(seg)] = x[7]  # two speakers may share a segment
    return ann


def annotation(turns: list[Any]) -> Annotation:
    """Turns (start, end, speaker) as a pyannote annotation."""
    ann = Annotation()
    for t in turns:
        if t.end > t.start:
            seg = Segment(t.start, t.end)
            ann[seg, ann.new_track(seg)] = t.speaker
    return ann


def run_wlk(
    wav: Path, out: Path, args: argparse.Namespace, flags: list[str], env: dict[str, str] | None = None
) -> list[dict]:  # type: ignore[type-arg]
    cmd = [
        sys.executable,
        "-m",
        "wlk_cli",
        "file",
        str(wav),
        "--model",
        args.model,
        "--speed",
        str(args.speed),
        "--diarization",
        "--formats",
        "rttm",
        "--output-dir",
        str(out),
        "--format",
        "jsonl",
        *flags,
        *args.extra,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"wlk failed on {wav}: {r.stderr.strip()[-300:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """Silero VAD with Silero's own defaults (threshold 0.5, 250 ms speech, 100 ms silence, 30 ms pad)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(threshold=0.5, min_speech_duration_ms=250, min_silence_duration_ms=100, speech_pad_ms=30)
    return [(s["start"] / 16000, s["end"] / 16000) for s in get_speech_timestamps(audio, opts)]


def dialogue(n_speakers: int, tmp: Path) -> tuple[Path, Annotation, Annotation]:
    """The dialogue's file, its reference (VAD speech inside each clip) and whole clips as reference."""
    manifest = json.loads((SHARED / "librispeech" / "manifest.json").read_text())["files"]
    clips = [sf.read(SHARED / "librispeech" / f["filename"], dtype="float32")[0] for f in manifest[:n_speakers]]
    order = [0, 1, 0, 1] if n_speakers == 2 else [0, 1, 2, 0, 2, 1]
    gap = np.zeros(8000, dtype=np.float32)
    parts, t = [], 0.0
    ref, whole = Annotation(uri=f"dialogue{n_speakers}"), Annotation(uri=f"dialogue{n_speakers}")
    for k in order:
        parts += [gap, clips[k]]
        t += 0.5
        whole[Segment(t, t + clips[k].size / 16000)] = f"spk{k}"
        for a, b in speech_regions(clips[k]):
            ref[Segment(t + a, t + b)] = f"spk{k}"
        t += clips[k].size / 16000
    parts.append(gap)
    path = tmp / f"dialogue{n_speakers}.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path, ref, whole


JOINED = {
    "trn00-03": ["trn00", "trn01", "trn02", "trn03"],
    "trn07-08": ["trn07", "trn08"],
    "trn06+09": ["trn06", "trn09"],
}
"""AMI clips of one meeting (or sharing a speaker: FEE083 speaks in trn06 and trn09), joined end to end."""


def joined_ami(name: str, tmp: Path) -> tuple[Path, Annotation]:
    ref, parts, t = Annotation(uri=name), [], 0.0
    for uri in JOINED[name]:
        audio = sf.read(SHARED / "ami" / f"{uri}.wav", dtype="float32")[0][: 30 * 16000]
        for seg, _, label in read_rttm(SHARED / "ami" / "debug.train.rttm", uri).itertracks(yield_label=True):
            if seg.start < 30.0:
                s = Segment(t + seg.start, t + min(seg.end, 30.0))
                ref[s, ref.new_track(s)] = label
        parts.append(audio)
        t += audio.size / 16000
    path = tmp / f"{name}.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path, ref


def long_session(tmp: Path, seconds: float = 300.0) -> tuple[Path, Annotation]:
    """About 5 minutes of five LibriSpeech voices (clips 1-5): the first two talk for a third of it,
    leave while the next two talk, and all come back in the last third. Every turn is a whole clip at
    its own gain with its own faint noise (30 dB SNR, seeded), so no two turns are the same samples;
    0.3-2 s between turns. Reference: Silero VAD's speech inside each turn."""
    rng = np.random.default_rng(15)
    manifest = json.loads((SHARED / "librispeech" / "manifest.json").read_text())["files"]
    clips = [sf.read(SHARED / "librispeech" / f["filename"], dtype="float32")[0] for f in manifest[:5]]
    speech = [speech_regions(c) for c in clips]
    phases = [[0, 1], [2, 3], [0, 1, 2, 3, 4]]
    parts, t, ref, last = [], 0.0, Annotation(uri="session5"), -1
    for p, voices in enumerate(phases):
        while t < seconds * (p + 1) / len(phases):
            k = int(rng.choice([v for v in voices if v != last] if rng.random() < 0.8 else voices))
            gap = np.zeros(int(rng.uniform(0.3, 2.0) * 16000), dtype=np.float32)
            clip = clips[k] * 10 ** (rng.uniform(-6, 3) / 20)
            clip = clip + rng.normal(0, np.sqrt(np.mean(clip**2)) / 10**1.5, clip.size).astype(np.float32)
            t += gap.size / 16000
            for a, b in speech[k]:
                ref[Segment(t + a, t + b)] = f"spk{k}"
            parts += [gap, clip.astype(np.float32)]
            t += clip.size / 16000
            last = k
    parts.append(np.zeros(8000, dtype=np.float32))
    path = tmp / "session5.wav"
    sf.write(path, np.clip(np.concatenate(parts), -1, 1), 16000, subtype="PCM_16")
    return path, ref


ENROLMENT_VOICES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (5, 8, 1)]
"""Clip indices (known, known, unknown) of the enrolment dialogues: the first is the bar's, the others
check that what helps it is not tuned to those two voices."""


def enrolment(tmp: Path, voices: tuple[int, int, int] = (0, 1, 2)) -> tuple[Path, Annotation, dict[str, Path]]:
    """Two known voices and an unknown one. The corpus has one clip per speaker, so each known voice's
    profile is made from the first part of its clip (up to the pause nearest 70% of it: 2.9 and 3.3 s of
    speech for the first pair) and the dialogue from the rest of it, with a third voice that has no
    profile. Reference labels are the names wlk should print: the profiles' names, and S1 for the
    unknown voice."""
    manifest = json.loads((SHARED / "librispeech" / "manifest.json").read_text())["files"]
    clips = [sf.read(SHARED / "librispeech" / manifest[k]["filename"], dtype="float32")[0] for k in voices]
    names = ["Hugo", "Vera", "S1"] if voices == (0, 1, 2) else [f"Voice{voices[0]}", f"Voice{voices[1]}", "S1"]
    profiles, rest = {}, []
    for k, name in enumerate(names[:2]):
        regions = speech_regions(clips[k])
        pauses = [
            int((b + c) / 2 * 16000)
            for i, ((_, b), (c, _)) in enumerate(zip(regions, regions[1:]))
            if sum(e - s for s, e in regions[: i + 1]) >= 2.2  # a profile needs 2 s of speech
        ]
        # the pause nearest 70% of the clip (70% itself in a clip without such a pause)
        cut = min(pauses or [int(0.7 * clips[k].size)], key=lambda p: abs(p - 0.7 * clips[k].size))
        profiles[name] = tmp / f"profile-{name}.wav"
        sf.write(profiles[name], clips[k][:cut], 16000, subtype="PCM_16")
        rest.append(clips[k][cut:])
    rest.append(clips[2])
    order = [0, 1, 2, 1, 0, 2, 0, 1]
    parts, t, ref = [], 0.0, Annotation(uri="enrolment")
    gap = np.zeros(8000, dtype=np.float32)
    for k in order:
        parts += [gap, rest[k]]
        t += 0.5
        for a, b in speech_regions(rest[k]):
            ref[Segment(t + a, t + b)] = names[k]
        t += rest[k].size / 16000
    parts.append(gap)
    path = tmp / f"enrolment{''.join(map(str, voices))}.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path, ref, profiles


def said_by(w: dict, ref: Annotation) -> list[str]:  # type: ignore[type-arg]
    """The reference speakers at a word's middle (the nearest turn's when it falls in a pause)."""
    mid = (w["start"] + w["end"]) / 2
    return ref.crop(Segment(mid - 0.01, mid + 0.01)).labels() or [
        min(ref.itertracks(yield_label=True), key=lambda x: abs(x[0].middle - mid))[2]
    ]


def name_accuracy(words: list[dict], ref: Annotation) -> float:  # type: ignore[type-arg]
    """Share of words labelled with exactly the reference's label (no mapping: names must be right)."""
    ok = 0
    for w in words:
        truth = said_by(w, ref)
        ok += w["speaker"] in truth
    return ok / max(1, len(words))


def known_accuracy(words: list[dict], ref: Annotation, name: str) -> float:  # type: ignore[type-arg]
    """Share of words named ``name`` exactly when the reference has that voice speaking (one profile:
    the other voices may get any S-label)."""
    ok = 0
    for w in words:
        truth = said_by(w, ref)
        ok += (w["speaker"] == name) == (name in truth)
    return ok / max(1, len(words))


def word_accuracy(words: list[dict], ref: Annotation, hyp: Annotation) -> float:  # type: ignore[type-arg]
    mapping = DiarizationErrorRate().optimal_mapping(ref, hyp)
    ok = 0
    for w in words:
        truth = said_by(w, ref)
        ok += mapping.get(w["speaker"]) in truth
    return ok / max(1, len(words))


def score(ref: Annotation, hyp: Annotation, uem: Timeline, pooled: DiarizationErrorRate | None = None) -> float:
    metric = pooled if pooled is not None else DiarizationErrorRate(collar=0.0, skip_overlap=False)
    return round(float(metric(ref, hyp, uem=uem)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--only", choices=["ami", "joined", "dialogues", "session", "enrolment"])
    ap.add_argument("--voices", default="", help="enrolment triples instead of ENROLMENT_VOICES: 012,345,...")
    ap.add_argument("--one-profile", action="store_true", help="enrolment with the first voice's profile only")
    ap.add_argument("--out")
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    res: dict[str, object] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}",
        "speed": args.speed,
        "model": args.model,
        "extra": args.extra,
    }
    modes = {"": [], "_live": ["--no-refine"]}  # after refine (the default) and diart's live labels
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "ami"):
            uems = {
                x.split()[0]: (float(x.split()[2]), float(x.split()[3]))
                for x in (SHARED / "ami" / "debug.train.uem").read_text().splitlines()
                if x.strip()
            }
            for mode, flags in modes.items():
                ders, pooled = {}, DiarizationErrorRate(collar=0.0, skip_overlap=False)
                for uri in sorted(uems):
                    run_wlk(SHARED / "ami" / f"{uri}.wav", tmp, args, flags)
                    ref = read_rttm(SHARED / "ami" / "debug.train.rttm", uri)
                    hyp = read_rttm(tmp / f"{uri}.rttm")
                    ders[uri] = score(ref, hyp, Timeline([Segment(*uems[uri])]), pooled)
                res[f"ami_der{mode}"] = ders
                res[f"ami_der_mean{mode}"] = round(statistics.mean(ders.values()), 4)
                res[f"ami_der_pooled{mode}"] = round(float(abs(pooled)), 4)
        if args.only in (None, "joined"):
            sessions = {name: joined_ami(name, tmp) for name in JOINED}
            for mode, flags in modes.items():
                ders, pooled = {}, DiarizationErrorRate(collar=0.0, skip_overlap=False)
                for name, (wav, ref) in sessions.items():
                    run_wlk(wav, tmp, args, flags)
                    uem = Timeline([Segment(0, sf.info(wav).duration)])
                    ders[name] = score(ref, read_rttm(tmp / f"{wav.stem}.rttm"), uem, pooled)
                res[f"joined_der{mode}"] = ders
                res[f"joined_der_pooled{mode}"] = round(float(abs(pooled)), 4)
        cases: list[tuple[str, Path, Annotation, Annotation | None]] = []
        if args.only in (None, "dialogues"):
            for n in (2, 3):
                wav, ref, whole = dialogue(n, tmp)
                cases.append((f"dialogue{n}", wav, ref, whole))
        if args.only in (None, "session"):
            wav, ref = long_session(tmp)
            cases.append(("session5", wav, ref, None))
        for name, wav, ref, whole in cases:
            uem = Timeline([Segment(0, sf.info(wav).duration)])
            for mode, flags in modes.items():
                events = run_wlk(wav, tmp, args, flags)
                hyp = read_rttm(tmp / f"{wav.stem}.rttm")
                res[f"{name}_der{mode}"] = score(ref, hyp, uem)
                if whole is not None:
                    res[f"{name}_der_whole_clips{mode}"] = score(whole, hyp, uem)
                acc = word_accuracy(final_words(events), ref, hyp)
                res[f"{name}_word_speaker_accuracy{mode}"] = round(acc, 4)
                res[f"{name}_latency_mean_s{mode}"] = next(e for e in events if e["type"] == "end")["stats"][
                    "latency_mean_s"
                ]
        if args.only in (None, "enrolment"):
            triples = [tuple(int(c) for c in v) for v in args.voices.split(",")] if args.voices else ENROLMENT_VOICES
            for voices in triples:
                wav, ref, profiles = enrolment(tmp, voices)  # type: ignore[arg-type]
                # each dialogue its own profiles (voice 6 is known in two triples)
                env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data" / "".join(map(str, voices)))}
                if args.one_profile:  # the second known voice is an unknown one then
                    profiles = dict(list(profiles.items())[:1])
                for name, clip in profiles.items():
                    r = subprocess.run(
                        [sys.executable, "-m", "wlk_cli", "speakers", "add", name, str(clip)],
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                        env=env,
                    )
                    if r.returncode != 0:
                        raise SystemExit(f"wlk speakers add failed: {r.stderr.strip()[-300:]}")
                uem = Timeline([Segment(0, sf.info(wav).duration)])
                key = "enrolment" if voices == ENROLMENT_VOICES[0] else f"enrolment{''.join(map(str, voices))}"
                for mode, flags in modes.items():
                    events = run_wlk(wav, tmp, args, [*flags, "--speakers", ",".join(profiles)], env)
                    hyp = read_rttm(tmp / f"{wav.stem}.rttm")
                    res[f"{key}_der{mode}"] = score(ref, hyp, uem)
                    if args.one_profile:
                        (known,) = profiles
                        acc = known_accuracy(final_words(events), ref, known)
                        res[f"{key}_one_profile_accuracy{mode}"] = round(acc, 4)
                    else:
                        res[f"{key}_name_accuracy{mode}"] = round(name_accuracy(final_words(events), ref), 4)
    emit(res, args.out)


if __name__ == "__main__":
    main()
