#!/usr/bin/env python3
"""Diarization quality of `wlk file --diarization`: DER on the AMI clips, DER and word-speaker accuracy on
LibriSpeech dialogues with exact labels (2 and 3 speakers).

DER: pyannote.metrics, no collar, overlap included, scored inside the UEM. Each file is run through the
real CLI (`--formats rttm`, JSON lines on stdout); extra wlk flags go after `--`. AMI: the mean of the
per-clip DERs and the pooled DER (all clips' errors over all clips' speech, pyannote's `abs(metric)`).

Dialogues: LibriSpeech clips of different speakers joined with 0.5 s of silence, so who speaks is known
exactly. Where they speak inside a clip is not: the clips hold pauses. The reference speech is Silero
VAD's (faster-whisper's bundled ONNX model, Silero's default settings) on each clip alone;
`dialogueN_der_whole_clips` also scores against whole clips as speech.

    python benchmarks/diarization_bench.py [--speed 1] [--model tiny.en] [--only ami|dialogues] [-- --tau-active 0.55]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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


def run_wlk(wav: Path, out: Path, args: argparse.Namespace) -> list[dict]:  # type: ignore[type-arg]
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
        *args.extra,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
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


def word_accuracy(words: list[dict], ref: Annotation, hyp: Annotation) -> float:  # type: ignore[type-arg]
    mapping = DiarizationErrorRate().optimal_mapping(ref, hyp)
    ok = 0
    for w in words:
        mid = (w["start"] + w["end"]) / 2
        truth = ref.crop(Segment(mid - 0.01, mid + 0.01)).labels() or [
            min(ref.itertracks(yield_label=True), key=lambda x: abs(x[0].middle - mid))[2]
        ]
        ok += mapping.get(w["speaker"]) in truth
    return ok / max(1, len(words))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--only", choices=["ami", "dialogues"])
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
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "ami"):
            ders, pooled = {}, DiarizationErrorRate(collar=0.0, skip_overlap=False)
            uems = {
                x.split()[0]: (float(x.split()[2]), float(x.split()[3]))
                for x in (SHARED / "ami" / "debug.train.uem").read_text().splitlines()
                if x.strip()
            }
            for uri in sorted(uems):
                run_wlk(SHARED / "ami" / f"{uri}.wav", tmp, args)
                ref = read_rttm(SHARED / "ami" / "debug.train.rttm", uri)
                hyp = read_rttm(tmp / f"{uri}.rttm")
                uem = Timeline([Segment(*uems[uri])])
                ders[uri] = round(float(pooled(ref, hyp, uem=uem)), 4)
            res["ami_der"] = ders
            res["ami_der_mean"] = round(statistics.mean(ders.values()), 4)
            res["ami_der_pooled"] = round(float(abs(pooled)), 4)
        if args.only in (None, "dialogues"):
            for n in (2, 3):
                wav, ref, whole = dialogue(n, tmp)
                events = run_wlk(wav, tmp, args)
                hyp = read_rttm(tmp / f"{wav.stem}.rttm")
                uem = Timeline([Segment(0, sf.info(wav).duration)])
                res[f"dialogue{n}_der"] = round(
                    float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp, uem=uem)), 4
                )
                res[f"dialogue{n}_der_whole_clips"] = round(
                    float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(whole, hyp, uem=uem)), 4
                )
                res[f"dialogue{n}_word_speaker_accuracy"] = round(word_accuracy(final_words(events), ref, hyp), 4)
    emit(res, args.out)


if __name__ == "__main__":
    main()
