#!/usr/bin/env python3
"""Benchmark `wlk file` against an offline faster-whisper transcription of the same file.

Runs wlk as a subprocess (JSONL on stdout), samples its memory, then transcribes the same file offline
in this process with the same model (faster-whisper's defaults: beam 5; greedy beside it) as the baseline.
Prints one JSON object: WER of both, confirmation latency (emission wall_s minus the word's end),
time to first confirmed word, real-time factor, CPU seconds per audio second, RSS.

    python benchmarks/stream_bench.py ../shared/data/librispeech/long.wav ../shared/data/librispeech/long.txt \
        --model tiny.en --speed 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from report import emit, split_wlk_flags


def normalize(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def wer(ref: str, hyp: str) -> float:
    import jiwer

    return float(jiwer.wer(" ".join(normalize(ref)), " ".join(normalize(hyp)) or "<empty>"))


def repeat_wav(src: str, ref: str, minutes: float, tmpdir: str) -> tuple[str, str]:
    import soundfile as sf

    audio, sr = sf.read(src, dtype="float32")
    reps = int(np.ceil(minutes * 60 * sr / audio.size))
    out = os.path.join(tmpdir, f"repeat{reps}.wav")
    sf.write(out, np.tile(audio, reps), sr, subtype="PCM_16")
    return out, " ".join([ref] * reps)


def run_stream(wav: str, model: str, speed: float, extra: list[str]) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "wlk_cli",
        "file",
        wav,
        "--model",
        model,
        "--speed",
        str(speed),
        "--format",
        "jsonl",
        "--no-files",
        *extra,
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    rss: list[tuple[float, int]] = []

    def sample() -> None:
        while proc.poll() is None:
            try:
                rss.append((time.monotonic() - t0, ps.memory_info().rss))
                cpu = ps.cpu_times()
                sample.cpu = cpu.user + cpu.system  # type: ignore[attr-defined]
            except psutil.Error:
                break
            time.sleep(0.5)

    sample.cpu = 0.0  # type: ignore[attr-defined]
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(json.loads(line))
    proc.wait()
    th.join()
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"wlk failed ({proc.returncode}): {err.strip()[-500:]}")
    end = lines[-1]["stats"]
    words = [w for ev in lines if ev["type"] == "transcript" for w in ev["confirmed"]]
    lat = []
    first = None
    for ev in lines:
        if ev["type"] != "transcript":
            continue
        for w in ev["confirmed"]:
            lat.append(ev["wall_s"] - w["end"])
            if first is None:
                first = ev["wall_s"] - w["end"]
    arr = np.asarray(lat) if lat else np.zeros(1)
    minute2 = [r for t, r in rss if t >= 120]
    return {
        "text": "".join(w["text"] for w in words),
        "words": len(words),
        "latency_mean_s": round(float(arr.mean()), 3),
        "latency_p50_s": round(float(np.percentile(arr, 50)), 3),
        "latency_p90_s": round(float(np.percentile(arr, 90)), 3),
        "first_word_latency_s": None if first is None else round(first, 3),
        "real_time_factor": end["real_time_factor"],
        "audio_s": end["audio_duration_s"],
        "cpu_s": round(float(sample.cpu), 2),  # type: ignore[attr-defined]
        "cpu_s_per_audio_s": round(float(sample.cpu) / end["audio_duration_s"], 3),  # type: ignore[attr-defined]
        "max_lag_s": end["max_lag_s"],
        "final_lag_s": end.get("final_lag_s"),
        "peak_rss_mb": round(max((r for _, r in rss), default=0) / 2**20, 1),
        "rss_growth_min2_to_end_mb": round((max(minute2) - minute2[0]) / 2**20, 1) if minute2 else None,
        "wlk_stats": end,
        "events": lines,
    }


def offline(wav: str, model: str, beam_size: int = 5) -> str:
    """faster-whisper on the whole file with its own defaults (the honest offline result)."""
    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model

    m = WhisperModel(str(resolve_model(model)), device="cpu", compute_type="int8", cpu_threads=2)
    segs, _ = m.transcribe(wav, beam_size=beam_size)
    return "".join(s.text for s in segs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav")
    ap.add_argument("reference", help="text file with the reference transcript")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--repeat-minutes", type=float, default=0.0, help="loop the file to this length first")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--out", help="append the result as one JSON line to this file")
    own, extra = split_wlk_flags(sys.argv[1:])
    a = ap.parse_args(own)
    a.extra = extra  # more wlk flags, after --
    ref = Path(a.reference).read_text().strip()
    with tempfile.TemporaryDirectory() as tmp:
        wav = a.wav
        if a.repeat_minutes:
            wav, ref = repeat_wav(a.wav, ref, a.repeat_minutes, tmp)
        res = run_stream(wav, a.model, a.speed, a.extra)
        text = str(res.pop("text"))
        res.pop("events")
        out: dict[str, object] = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {psutil.cpu_count()} cpu",
            "file": a.wav,
            "repeat_minutes": a.repeat_minutes,
            "model": a.model,
            "speed": a.speed,
            "extra": a.extra,
            "wer": round(wer(ref, text), 4),
        }
        if not a.no_baseline:
            out["wer_offline_beam5"] = round(wer(ref, offline(wav, a.model)), 4)
            out["wer_offline_greedy"] = round(wer(ref, offline(wav, a.model, 1)), 4)
            out["wer_gap_points"] = round(100 * (float(out["wer"]) - float(out["wer_offline_beam5"])), 2)
        out.update(res)
        out["hypothesis"] = text
    emit(out, a.out)


if __name__ == "__main__":
    main()
