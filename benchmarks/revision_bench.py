#!/usr/bin/env python3
"""The same `wlk file` figures from two source trees, interleaved in one run: a refactor must leave them
within noise (#13: same WER, latency within 5%).

    git worktree add /tmp/before <rev>
    python benchmarks/revision_bench.py ../shared/data/librispeech/long.wav ../shared/data/librispeech/long.txt \
        --before /tmp/before --after . --runs 2 --out benchmarks/results.jsonl

Each configuration (the stream figures of run_all.sh: both policies, tiny.en and base, --speed 1 and 0,
diarization on) runs `--runs` times per tree, the trees alternating first, through stream_bench's
run_stream with PYTHONPATH pointing at the tree. Per configuration: each tree's WER, mean and p90
latency, first-word latency, real-time factor, CPU seconds per audio second, peak RSS; whether the
confirmed words are the same; and the after/before ratio of the mean latency.

    python benchmarks/revision_bench.py --before /tmp/before --after . --script "diarization_bench.py --speed 1"

``--script`` runs another benchmark script instead, each tree its own copy (its own benchmarks/), with
PYTHONPATH at that tree, alternating; every JSON line it prints is kept, and the numbers the two trees'
lines share are set side by side (mean of the runs) with their after/before ratio.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from stream_bench import run_stream, wer

CONFIGS = {
    "tiny.en LA speed 1": ("tiny.en", 1.0, ""),
    "tiny.en SS speed 1": ("tiny.en", 1.0, "--policy simulstreaming"),
    "base LA speed 1": ("base", 1.0, ""),
    "base SS speed 1": ("base", 1.0, "--policy simulstreaming"),
    "tiny.en LA speed 0": ("tiny.en", 0.0, ""),
    "tiny.en SS speed 0": ("tiny.en", 0.0, "--policy simulstreaming"),
    "tiny.en LA speed 1 diarization": ("tiny.en", 1.0, "--diarization"),
}
FIGURES = ("latency_mean_s", "latency_p90_s", "first_word_latency_s", "real_time_factor", "cpu_s_per_audio_s")


def one(tree: Path, wav: str, ref: str, model: str, speed: float, flags: str) -> dict[str, Any]:
    os.environ["PYTHONPATH"] = str(tree.resolve())
    try:
        r = run_stream(wav, model, speed, shlex.split(flags))
    finally:
        os.environ.pop("PYTHONPATH", None)
    return {"wer": round(wer(ref, r["text"]), 4), "text": r["text"], "peak_rss_mb": r["peak_rss_mb"]} | {
        k: r[k] for k in FIGURES
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"wer": [r["wer"] for r in runs]}
    for k in (*FIGURES, "peak_rss_mb"):
        vals = [r[k] for r in runs if r[k] is not None]
        out[k] = round(statistics.mean(vals), 3) if vals else None
    return out


def script_lines(tree: Path, script: str) -> list[dict[str, Any]]:
    argv = shlex.split(script)
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    cmd = [sys.executable, str(tree.resolve() / "benchmarks" / argv[0]), *argv[1:]]
    r = subprocess.run(cmd, cwd=tree / "benchmarks", env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{argv[0]} failed in {tree}: {r.stderr.strip()[-400:]}")
    out = []
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _numbers(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out[prefix + k] = float(v)
        elif isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}."))
    return out


def compare_script(trees: dict[str, Path], script: str, runs: int) -> dict[str, Any]:
    got: dict[str, list[list[dict[str, Any]]]] = {"before": [], "after": []}
    for i in range(runs):
        for which in ["before", "after"] if i % 2 == 0 else ["after", "before"]:
            got[which].append(script_lines(trees[which], script))
    side: dict[str, dict[str, float]] = {}
    n_lines = min(len(r) for rs in got.values() for r in rs)
    for line in range(n_lines):
        label = str(got["before"][0][line].get("config") or got["before"][0][line].get("dataset") or line)
        means = {}
        for which in ("before", "after"):
            nums = [_numbers(r[line]) for r in got[which]]
            keys = set.intersection(*(set(n) for n in nums))
            means[which] = {k: statistics.mean(n[k] for n in nums) for k in keys}
        for k in sorted(set(means["before"]) & set(means["after"])):
            b, a = means["before"][k], means["after"][k]
            side[f"{label}: {k}"] = {"before": round(b, 4), "after": round(a, 4)} | (
                {"after_over_before": round(a / b, 3)} if b else {}
            )
    return {"bench": "revision", "date": datetime.date.today().isoformat(), "script": script, "runs": runs,
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu", "figures": side}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav", nargs="?")
    ap.add_argument("reference", nargs="?")
    ap.add_argument("--before", required=True, help="the source tree before the change")
    ap.add_argument("--after", default=".", help="the source tree after it")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--only", action="append", help="run only these configurations (names above)")
    ap.add_argument("--script", action="append", help="another benchmark script and its arguments (repeatable)")
    ap.add_argument("--out")
    a = ap.parse_args()
    trees = {"before": Path(a.before), "after": Path(a.after)}
    if a.script:
        for script in a.script:
            result = compare_script(trees, script, a.runs)
            line = json.dumps(result)
            print(line, flush=True)
            if a.out:
                with open(a.out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
        return
    ref = Path(a.reference).read_text(encoding="utf-8")
    for name, (model, speed, flags) in CONFIGS.items():
        if a.only and name not in a.only:
            continue
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for i in range(a.runs):
            order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
            for which in order:
                runs[which].append(one(trees[which], a.wav, ref, model, speed, flags))
        before, after = summary(runs["before"]), summary(runs["after"])
        result = {
            "bench": "revision",
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu",
            "config": name,
            "runs": a.runs,
            "before": before,
            "after": after,
            "same_words": all(x["text"] == y["text"] for x, y in zip(runs["before"], runs["after"])),
            "latency_after_over_before": round(after["latency_mean_s"] / before["latency_mean_s"], 3),
        }
        line = json.dumps(result)
        print(line, flush=True)
        if a.out:
            with open(a.out, "a", encoding="utf-8") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
