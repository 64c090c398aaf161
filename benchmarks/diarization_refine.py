#!/usr/bin/env python3
"""Refine at the end (wlk_cli/diarization/refine.py) against diart's live output, fast.

Each file (the 10 AMI clips, the same-meeting joined sessions, the LibriSpeech dialogues and the
5-minute session of benchmarks/diarization_bench.py) goes through the streaming diarizer once; its chunk
log is kept (in ``--cache``), and every refine setting is replayed on the logs in seconds.

    python benchmarks/diarization_refine.py '{"threshold": [0.4, 0.5, 0.6]}' [--cache /tmp/refine.pkl]

    python benchmarks/diarization_refine.py --enrolment [--split-cost]

``--enrolment``: only the enrolment dialogue, its two profiles expected as ``--speakers`` does (seeded
centres and the known-voice split); ``--split-cost`` times the diarizer on it with and without the split.

Prints one JSON line per setting: pooled DER live / refined for AMI and the joined sessions, and each
file's DER both ways (scoring as diarization_bench.py: no collar, overlap scored).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diarization_bench import (  # noqa: E402
    JOINED,
    SHARED,
    annotation,
    dialogue,
    enrolment,
    joined_ami,
    long_session,
    read_rttm,
)

from wlk_cli.diarization.diarizer import WINDOW_S, DiarizationModels, StreamingDiarizer  # noqa: E402
from wlk_cli.diarization.refine import RefineOptions, refine  # noqa: E402
from wlk_cli.diarization.split import KnownVoiceSplit, SpeechTrack, cuts  # noqa: E402

STEP = 8000  # samples per call, as the worker feeds the diarizer


class SplitAtPauses:
    """An experiment (``--split``), not in wlk: diart's segmentation block with each local speaker's
    activity cut at pauses of at least ``pause_s`` into separate local speakers (each part at least
    ``min_s``), so each part gets its own embedding. Measured 2026-12-02 (0.3 s): dialogue2 refined
    0.167 -> 0.119, but AMI pooled live 0.316 -> 0.354 and refined 0.310 -> 0.320: not adopted."""

    def __init__(self, inner: Any, pause_s: float, min_s: float = 0.5) -> None:
        self.inner = inner
        self.pause_s = pause_s
        self.min_s = min_s

    def __call__(self, batch: Any) -> Any:
        import torch

        seg = self.inner(batch)  # (batch, frames, local speakers)
        frames = seg.shape[1]
        gap = max(1, round(self.pause_s * frames / WINDOW_S))
        shortest = max(1, round(self.min_s * frames / WINDOW_S))
        out = []
        for b in range(seg.shape[0]):
            cols = []
            for s in range(seg.shape[2]):
                col = seg[b, :, s]
                at = cuts(col.numpy() >= 0.5, gap, shortest)
                for lo, hi in zip([0, *at], [*at, frames]):
                    part = torch.zeros_like(col)
                    part[lo:hi] = col[lo:hi]
                    cols.append(part)
            out.append(torch.stack(cols, dim=1))
        width = max(x.shape[1] for x in out)
        return torch.stack([torch.nn.functional.pad(x, (0, width - x.shape[1])) for x in out])


class SplitWhereApart(KnownVoiceSplit):
    """An experiment (``--split-apart DIST``): wlk's known-voice split (``split.py``: cut a local
    speaker at Silero's pauses, keep a cut where the parts are two known voices) with a generic rule
    too: keep a cut wherever the two parts embed more than DIST apart (cosine), profiles or not.
    Measured 2026-12-03 (benchmarks/RESULTS.md): AMI worse at 0.5 and 0.6, so wlk keeps only the
    known-voice rule."""

    def __init__(self, d: StreamingDiarizer, dist: float, model: Any) -> None:
        profiles = np.zeros((0, 192)) if d.split is None else d.split.profiles
        speech = SpeechTrack(model, WINDOW_S + 1.0)
        super().__init__(d.pipeline.segmentation, d.pipeline.embedding, profiles, 0.5, speech)
        if d.split is not None:  # the product's own split is replaced by this one
            self.segmentation = d.split.segmentation
        self.dist = dist
        d.split = self
        d.pipeline.segmentation = self

    def apart(self, a: np.ndarray, b: np.ndarray) -> bool:
        known = len(self.profiles) >= 2 and super().apart(a, b)
        return known or bool(np.isfinite(a).all() and np.isfinite(b).all() and 1.0 - float(a @ b) > self.dist)


def files(tmp: Path) -> dict[str, tuple[np.ndarray, Annotation]]:
    out: dict[str, tuple[np.ndarray, Annotation]] = {}
    for i in range(10):
        uri = f"trn0{i}"
        audio = sf.read(SHARED / "ami" / f"{uri}.wav", dtype="float32")[0]
        out[uri] = (audio, read_rttm(SHARED / "ami" / "debug.train.rttm", uri))
    for name in JOINED:
        path, ref = joined_ami(name, tmp)
        out[name] = (sf.read(path, dtype="float32")[0], ref)
    for n in (2, 3):
        path, ref, _ = dialogue(n, tmp)
        out[f"dialogue{n}"] = (sf.read(path, dtype="float32")[0], ref)
    path, ref = long_session(tmp)
    out["session5"] = (sf.read(path, dtype="float32")[0], ref)
    path, ref, _ = enrolment(tmp)  # the dialogue of two voices 0.43 apart (no profiles here)
    out["enrolment"] = (sf.read(path, dtype="float32")[0], ref)
    return out


@functools.cache
def _silero() -> Any:
    """One Silero model for all the recordings (loaded once, not inside each timed run)."""
    from wlk_cli.vad import SileroModel

    return SileroModel()


def record(
    audio: np.ndarray,
    models: DiarizationModels,
    split: float = 0.0,
    apart: float = 0.0,
    profiles: np.ndarray | None = None,
    known_split: bool = True,
) -> tuple[list[Any], Any]:
    d = StreamingDiarizer(models, speech_model=_silero())
    if profiles is not None:  # as --speakers does: seeded centres and the known-voice split
        d.expect(list(profiles), 0.5)
        if not known_split and d.split is not None:  # only the seeded centres (wlk before the split)
            d.pipeline.segmentation, d.split = d.split.segmentation, None
    if apart:
        SplitWhereApart(d, apart, _silero())
    elif split:  # each local speaker cut at pauses of `split` s before the embeddings
        d.pipeline.segmentation = SplitAtPauses(d.pipeline.segmentation, split)
    turns = []
    for k in range(0, audio.size, STEP):
        turns += d.process(audio[k : k + STEP])
    turns += d.finish()
    return turns, d.log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", nargs="?", default="{}")
    ap.add_argument("--cache", default="")
    ap.add_argument("--minutes", type=float, default=0.0, help="only time refine on a session this long")
    ap.add_argument("--split", type=float, default=0.0, help="cut local speakers at pauses this long (s)")
    ap.add_argument("--enrolment", action="store_true", help="only the enrolment dialogue, with its profiles")
    ap.add_argument("--split-apart", type=float, default=0.0, help="also cut where two parts embed this far apart")
    ap.add_argument("--split-cost", action="store_true", help="time the diarizer with and without the split")
    args = ap.parse_args()
    grid: dict[str, list[Any]] = json.loads(args.grid)
    if args.minutes:  # the cost of a refine at the end of a long session (the bar: < 2 s for 10 minutes)
        with tempfile.TemporaryDirectory() as tmp:
            path, _ = long_session(Path(tmp), args.minutes * 60)
            audio = sf.read(path, dtype="float32")[0]
        _, log = record(audio, DiarizationModels())
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            refined = refine(log, RefineOptions())
            times.append(time.perf_counter() - t0)
        print(json.dumps({"bench": "refine_time", "audio_s": round(audio.size / 16000, 1), "chunks": len(log),
                          "refine_s": [round(t, 3) for t in times], "gated": refined is None}), flush=True)  # fmt: skip
        return
    profiles = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.enrolment:  # only the enrolment dialogue, its two profiles expected (as --speakers does)
            from wlk_cli.diarization.voices import enrol
            from wlk_cli.vad import SileroModel

            path, ref, clips = enrolment(Path(tmp))
            data = {"enrolment": (sf.read(path, dtype="float32")[0], ref)}
            profiles = np.stack(
                [enrol(DiarizationModels(), n, [str(c)], SileroModel()).embedding for n, c in clips.items()]
            )
        else:
            data = files(Path(tmp))
    if args.split_cost:  # seconds of diarizer per second of audio on the enrolment dialogue, split on/off
        assert profiles is not None, "--split-cost goes with --enrolment"
        audio, models, cost = data["enrolment"][0], DiarizationModels(), {"on": [], "off": []}
        for _ in range(3):  # interleaved: the machine is shared
            for mode in cost:
                t0 = time.perf_counter()
                record(audio, models, profiles=profiles, known_split=mode == "on")
                cost[mode].append(round((time.perf_counter() - t0) / (audio.size / 16000), 4))
        ratio = statistics.median(cost["on"]) / statistics.median(cost["off"])
        print(json.dumps({"bench": "known_voice_split_cost", "rtf": cost, "ratio": round(ratio, 3)}), flush=True)
        return
    cache = Path(args.cache) if args.cache else None
    if cache and cache.exists():
        logs = pickle.loads(cache.read_bytes())
    else:
        models = DiarizationModels()
        logs = {name: record(a, models, args.split, args.split_apart, profiles) for name, (a, _) in data.items()}
        if cache:
            cache.write_bytes(pickle.dumps(logs))
    for values in itertools.product(*grid.values()) if grid else [()]:
        cfg = dict(zip(grid, values))
        opts = RefineOptions(**cfg)
        pooled = {
            g: [DiarizationErrorRate(collar=0.0, skip_overlap=False) for _ in range(2)] for g in ("ami", "joined")
        }
        ders: dict[str, list[float]] = {}
        slowest = 0.0
        for name, (audio, ref) in data.items():
            live_turns, log = logs[name]
            t0 = time.perf_counter()
            refined = refine(log, opts)
            slowest = max(slowest, time.perf_counter() - t0)
            uem = Timeline([Segment(0, audio.size / 16000)])
            hyps = [annotation(live_turns), annotation(refined.turns) if refined else annotation(live_turns)]
            group = "ami" if name.startswith("trn0") and len(name) == 5 else "joined" if name in JOINED else None
            row = []
            for k, hyp in enumerate(hyps):
                metric = pooled[group][k] if group else DiarizationErrorRate(collar=0.0, skip_overlap=False)
                row.append(round(float(metric(ref, hyp, uem=uem)), 3))
            ders[name] = row + ([] if refined else ["gated"])  # type: ignore[list-item]
        line = {
            "options": cfg,
            "ami_pooled": [round(float(abs(m)), 4) for m in pooled["ami"]],
            "joined_pooled": [round(float(abs(m)), 4) for m in pooled["joined"]],
            "slowest_refine_s": round(slowest, 3),
            "der_live_refined": ders,
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
