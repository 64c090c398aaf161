#!/usr/bin/env python3
"""Sweep diart's knobs on the AMI clips with the diarizer alone (no ASR: about 2 min per setting here).

    python benchmarks/diarization_tune.py '{}' '{"tau_active": 0.6}' '{"delta_new": 0.8, "rho_update": 0.1}'

Each argument is a JSON object of DiarizationOptions fields; prints mean and per-clip DER (no collar,
overlap included, UEM 0-30 s) like benchmarks/diarization_bench.py, which scores the whole CLI.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diarization_bench import SHARED, read_rttm  # noqa: E402

from wlk_cli.diarization.diarizer import DiarizationOptions, StreamingDiarizer  # noqa: E402


def main() -> None:
    if any(a.startswith("-") for a in sys.argv[1:]):
        raise SystemExit(__doc__)
    uris = [f"trn0{i}" for i in range(10)]
    audio = {u: sf.read(SHARED / "ami" / f"{u}.wav", dtype="float32")[0] for u in uris}
    for arg in sys.argv[1:] or ["{}"]:
        cfg = json.loads(arg)
        t0, ders = time.time(), []
        for u in uris:
            d = StreamingDiarizer(DiarizationOptions(**cfg))
            turns = []
            for k in range(0, audio[u].size, 8000):
                turns += d.process(audio[u][k : k + 8000])
            turns += d.finish()
            hyp = Annotation()
            for t in turns:
                if t.end > t.start:
                    hyp[Segment(t.start, min(t.end, 30.0))] = t.speaker
            ref = read_rttm(SHARED / "ami" / "debug.train.rttm", u)
            der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp, uem=Timeline([Segment(0, 30)]))
            ders.append(round(float(der), 3))
        print(
            json.dumps(
                {
                    "options": cfg,
                    "ami_der_mean": round(float(np.mean(ders)), 4),
                    "ami_der": ders,
                    "seconds": round(time.time() - t0),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
