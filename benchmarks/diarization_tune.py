#!/usr/bin/env python3
"""Sweep diart's clustering knobs on the AMI clips and the LibriSpeech dialogues, fast.

diart's segmentation and embeddings of a 5 s chunk do not depend on tau_active, rho_update, delta_new,
max_speakers or the latency, so each file is run through the models once (about 2 min for all) and every
setting replays those outputs through diart's clustering and aggregation (about 8 s per setting here).

    python benchmarks/diarization_tune.py '{"tau_active": [0.5, 0.6], "delta_new": [0.7, 0.8]}'

The argument maps DiarizationOptions fields to lists of values; every combination is scored. Prints one JSON
line per setting: AMI mean and pooled DER with the pooled false alarm / missed / confusion shares, and the
dialogues' DER (same scoring as benchmarks/diarization_bench.py, which runs the whole CLI).
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diarization_bench import SHARED, annotation, dialogue, read_rttm  # noqa: E402

from wlk_cli.diarization.diarizer import DiarizationModels, DiarizationOptions, StreamingDiarizer  # noqa: E402

STEP = 8000  # samples fed per call, as the worker does


_MODELS: list[DiarizationModels] = []


def _models() -> DiarizationModels:
    if not _MODELS:
        _MODELS.append(DiarizationModels())
    return _MODELS[0]


def diarize(audio: np.ndarray, opts: DiarizationOptions, hook: Callable[[StreamingDiarizer], None]) -> Annotation:
    d = StreamingDiarizer(_models(), opts)
    hook(d)
    turns = []
    for k in range(0, audio.size, STEP):
        turns += d.process(audio[k : k + STEP])
    return annotation(turns + d.finish())


def record(audio: np.ndarray) -> list[tuple[Any, Any]]:
    """The models' outputs for every chunk of one file."""
    steps: list[tuple[Any, Any]] = []

    def hook(d: StreamingDiarizer) -> None:
        seg_model, emb_model = d.pipeline.segmentation, d.pipeline.embedding

        def seg(batch: Any) -> Any:
            steps.append((seg_model(batch), None))
            return steps[-1][0]

        def emb(batch: Any, s: Any) -> Any:
            steps[-1] = (steps[-1][0], emb_model(batch, s))
            return steps[-1][1]

        d.pipeline.segmentation, d.pipeline.embedding = seg, emb

    diarize(audio, DiarizationOptions(), hook)
    return steps


def replay(audio: np.ndarray, steps: list[tuple[Any, Any]], opts: DiarizationOptions) -> Annotation:
    it = iter(steps)
    current: list[Any] = []

    def hook(d: StreamingDiarizer) -> None:
        def seg(batch: Any) -> Any:
            current[:] = next(it)
            return current[0]

        d.pipeline.segmentation = seg
        d.pipeline.embedding = lambda batch, s: current[1]

    return diarize(audio, opts, hook)


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        raise SystemExit(__doc__)
    grid: dict[str, list[Any]] = json.loads(sys.argv[1])
    files: dict[str, tuple[np.ndarray, Annotation, Timeline]] = {}
    for i in range(10):
        uri = f"trn0{i}"
        audio = sf.read(SHARED / "ami" / f"{uri}.wav", dtype="float32")[0]
        files[uri] = (audio, read_rttm(SHARED / "ami" / "debug.train.rttm", uri), Timeline([Segment(0, 30)]))
    with tempfile.TemporaryDirectory() as tmp:
        for n in (2, 3):
            wav, ref, _ = dialogue(n, Path(tmp))
            audio = sf.read(wav, dtype="float32")[0]
            files[f"dialogue{n}"] = (audio, ref, Timeline([Segment(0, audio.size / 16000)]))
    steps = {name: record(audio) for name, (audio, _, _) in files.items()}
    for values in itertools.product(*grid.values()):
        cfg = dict(zip(grid, values))
        opts = DiarizationOptions(**cfg)
        pooled = DiarizationErrorRate(collar=0.0, skip_overlap=False)
        ders: dict[str, float] = {}
        parts = {"false alarm": 0.0, "missed detection": 0.0, "confusion": 0.0, "total": 0.0}
        for name, (audio, ref, uem) in files.items():
            hyp = replay(audio, steps[name], opts)
            if name.startswith("trn"):
                detail = pooled(ref, hyp, uem=uem, detailed=True)
                for k in parts:
                    parts[k] += detail[k]
                ders[name] = round(float(detail["diarization error rate"]), 3)
            else:
                ders[name] = round(float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp, uem=uem)), 3)
        ami = [v for k, v in ders.items() if k.startswith("trn")]
        line = {
            "options": cfg,
            "ami_der_mean": round(float(np.mean(ami)), 4),
            "ami_der_pooled": round(float(abs(pooled)), 4),
            "ami_pooled_shares": {k: round(v / parts["total"], 3) for k, v in parts.items() if k != "total"},
            "der": ders,
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
