#!/usr/bin/env python3
"""SimulStreaming against LocalAgreement, side by side, in one script (runs interleaved).

Each configuration runs `wlk file` as a subprocess (see stream_bench.run_stream), `--runs` times,
interleaved so that machine noise hits all of them alike. Two latencies are reported per run:

- ``latency``: emission wall time minus the word's own ``end`` (the pipeline's figure), and
- ``ref_latency``: emission wall time minus the end of the same word in an offline alignment of the
  file (faster-whisper, same model, beam 5, word timestamps), matched word by word. Both policies are
  timed against the same clock here, so a policy whose word ends are late cannot look faster.

The offline run also gives the baseline WER. Prints one JSON line per run and one summary line.

    python benchmarks/policy_bench.py ../shared/data/librispeech/long.wav ../shared/data/librispeech/long.txt \
        --model tiny.en --runs 3 --config "la=--policy local-agreement" --config "ss=--policy simulstreaming"
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import platform
import shlex
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from report import emit
from stream_bench import normalize, repeat_wav, run_stream, wer


def offline_words(wav: str, model: str) -> list[tuple[str, float, float]]:
    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model

    m = WhisperModel(str(resolve_model(model)), device="cpu", compute_type="int8", cpu_threads=2)
    segs, _ = m.transcribe(wav, beam_size=5, language="en" if model.endswith(".en") else None, word_timestamps=True)
    return [(w.word, w.start, w.end) for s in segs for w in (s.words or [])]


def ref_timed(events: list[dict[str, Any]], ref: list[tuple[str, float, float]]) -> dict[str, Any]:
    """Latency against the offline word ends, and how far the policy's own word times are from them."""
    hyp = [(w, ev["wall_s"]) for ev in events if ev["type"] == "transcript" for w in ev["confirmed"]]
    a = ["".join(normalize(r[0])) for r in ref]
    b = ["".join(normalize(h[0]["text"])) for h in hyp]
    lat, d_end, d_start = [], [], []
    for i, j, n in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(n):
            (_, r_start, r_end), (w, wall) = ref[i + k], hyp[j + k]
            lat.append(wall - r_end)
            d_end.append(w["end"] - r_end)
            d_start.append(w["start"] - r_start)
    if not lat:
        return {"ref_matched": 0}
    arr = np.asarray(lat)
    return {
        "ref_matched": len(lat),
        "ref_latency_mean_s": round(float(arr.mean()), 3),
        "ref_latency_p90_s": round(float(np.percentile(arr, 90)), 3),
        "word_end_bias_s": round(float(np.median(d_end)), 3),
        "word_start_bias_s": round(float(np.median(d_start)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav")
    ap.add_argument("reference", help="text file with the reference transcript")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat-minutes", type=float, default=0.0, help="loop the file to this length first")
    ap.add_argument("--config", action="append", required=True, help="NAME=wlk flags (repeatable)")
    ap.add_argument("--out", help="append the result lines to this JSON-lines file")
    a = ap.parse_args()
    configs = [(c.split("=", 1)[0], shlex.split(c.split("=", 1)[1])) for c in a.config]
    text_ref = Path(a.reference).read_text().strip()
    stamp = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {psutil.cpu_count()} cpu",
        "file": a.wav,
        "model": a.model,
        "speed": a.speed,
        "repeat_minutes": a.repeat_minutes,
    }
    with tempfile.TemporaryDirectory() as tmp:
        wav = a.wav
        if a.repeat_minutes:
            wav, text_ref = repeat_wav(a.wav, text_ref, a.repeat_minutes, tmp)
        ref_words = offline_words(wav, a.model)
        baseline = wer(text_ref, "".join(w for w, _, _ in ref_words))
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in configs}
        for run in range(a.runs):
            for name, flags in configs:
                res = run_stream(wav, a.model, a.speed, flags)
                events = res.pop("events")
                text = str(res.pop("text"))
                res.pop("wlk_stats", None)
                row = {
                    **stamp,
                    "bench": "policy",
                    "config": name,
                    "flags": flags,
                    "run": run,
                    "wer": round(wer(text_ref, text), 4),
                    "wer_offline_beam5": round(baseline, 4),
                    **res,
                    **ref_timed(events, ref_words),
                    "hypothesis": text,
                }
                rows[name].append(row)
                emit(row, a.out)
    keys = ["wer", "latency_mean_s", "latency_p90_s", "ref_latency_mean_s", "ref_latency_p90_s", "real_time_factor"]
    keys += ["cpu_s_per_audio_s", "max_lag_s", "final_lag_s", "peak_rss_mb", "rss_growth_min2_to_end_mb"]
    summary: dict[str, Any] = {**stamp, "bench": "policy-summary", "runs": a.runs, "wer_offline_beam5": baseline}
    for name, rs in rows.items():
        summary[name] = {
            k: round(float(np.mean([r[k] for r in rs if r.get(k) is not None])), 3)
            for k in keys
            if any(r.get(k) is not None for r in rs)
        }
    names = [n for n, _ in configs]
    for other in names[1:]:
        for k in ("latency_mean_s", "ref_latency_mean_s"):
            summary[f"{other}/{names[0]} {k}"] = round(summary[other][k] / summary[names[0]][k], 3)
        summary[f"{other}-{names[0]} wer points"] = round(100 * (summary[other]["wer"] - summary[names[0]]["wer"]), 2)
    emit(summary, a.out)


if __name__ == "__main__":
    main()
