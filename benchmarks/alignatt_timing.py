#!/usr/bin/env python3
"""How far simulstreaming's word times are from an offline alignment (calibrates its attention lead).

AlignAtt stops by the audio frame each token's decoder query attends to most; that peak comes about
0.24 s (tiny.en) or 0.13 s (base) after the token's onset, so words are timed by where the peak begins
(``alignatt.onset``). This runs `wlk file --policy simulstreaming --speed 0` on each file and compares
its word starts and ends with faster-whisper's offline word timestamps (same model, beam 5), matched
word by word: a late word end would make the latency benchmark flatter simulstreaming.

    python benchmarks/alignatt_timing.py ../shared/data/ami/trn0*.wav --model tiny.en
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import platform
import sys

import numpy as np
import psutil
from policy_bench import offline_words
from report import emit, split_wlk_flags
from stream_bench import normalize, run_stream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wavs", nargs="+")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--out", help="append the result line to this JSON-lines file")
    own, flags = split_wlk_flags(sys.argv[1:])
    a = ap.parse_args(own)
    a.flags = flags
    starts, ends = [], []
    for wav in a.wavs:
        ref = offline_words(wav, a.model)
        res = run_stream(wav, a.model, 0.0, ["--policy", "simulstreaming", *a.flags])
        hyp = [w for ev in res["events"] if ev["type"] == "transcript" for w in ev["confirmed"]]  # type: ignore[attr-defined]
        ra = ["".join(normalize(r[0])) for r in ref]
        hb = ["".join(normalize(h["text"])) for h in hyp]
        for i, j, n in difflib.SequenceMatcher(a=ra, b=hb, autojunk=False).get_matching_blocks():
            for k in range(n):
                starts.append(hyp[j + k]["start"] - ref[i + k][1])
                ends.append(hyp[j + k]["end"] - ref[i + k][2])
    emit(
        {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {psutil.cpu_count()} cpu",
            "bench": "alignatt-timing",
            "files": a.wavs,
            "model": a.model,
            "flags": a.flags,
            "matched_words": len(starts),
            "start_offset_median_s": round(float(np.median(starts)), 3),
            "start_offset_p10_p90_s": [round(float(np.percentile(starts, q)), 3) for q in (10, 90)],
            "end_offset_median_s": round(float(np.median(ends)), 3),
            "end_offset_p10_p90_s": [round(float(np.percentile(ends, q)), 3) for q in (10, 90)],
        },
        a.out,
    )


if __name__ == "__main__":
    main()
