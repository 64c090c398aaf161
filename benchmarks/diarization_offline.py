#!/usr/bin/env python3
"""An experiment for issue #15 ("for files, a second segmentation pass with overlapping 10 s windows if
it measures better"), not in wlk: does an offline pass over a whole file beat refine (refine.py) on it?

The pass, pyannote's offline recipe on our models: windows of ``--window`` s every ``--step`` s;
segmentation-3.0 (argmax powerset) on each; one CAM++ embedding per window and local speaker, on the
frames where that speaker speaks alone (all its frames when it has under ``CLEAN_FRAMES`` of those);
average-linkage clustering on cosine distance (``threshold``; clusters under 4 embeddings join their
nearest); each window's local speakers assigned to the clusters as refine does (``assign_chunk``); then
either pyannote's reconstruction (per frame, the most active ``count`` clusters, ``count`` = the mean
number of local speakers the windows hear there, rounded) or diart's (mean activity >= ``tau``).

``--oracle`` assigns each window's local speakers to reference speakers by shared frames (Hungarian):
what perfect clustering of this segmentation would score. ``--onto-live LOGS`` keeps the streaming
diarizer's 5 s chunks (a ``diarization_refine.py --cache`` file) and only takes the clusters' centres
from the pass.

    python benchmarks/diarization_offline.py --window 10 --step 1 '{"threshold": [0.5, 0.6]}' [--oracle]

Files and scoring as diarization_refine.py (the 10 AMI clips pooled, the joined sessions pooled, the
dialogues, the 5-minute session; no collar, overlap scored). One JSON line per setting.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import pickle
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diarization_bench import annotation  # noqa: E402
from diarization_refine import JOINED, files  # noqa: E402
from report import emit  # noqa: E402

from wlk_cli.diarization.refine import _unit, aggregate, assign_chunk  # noqa: E402

SR = 16000
FRAME_STEP = 270  # samples between segmentation-3.0's frames
FRAME_CENTRE = 495  # the centre of frame 0's receptive field
CLEAN_FRAMES = 40  # frames alone (~0.7 s) for an embedding on clean speech only

Pass = tuple[np.ndarray, np.ndarray, list[int]]  # segmentations, embeddings (NaN: none), window starts


def windows(audio: np.ndarray, window: float, step: float) -> tuple[np.ndarray, list[int]]:
    n, hop = int(window * SR), int(step * SR)
    starts = list(range(0, max(1, audio.size - n + hop), hop))
    if audio.size > n and starts[-1] + n < audio.size:
        starts.append(audio.size - n)
    out = np.zeros((len(starts), n), np.float32)
    for i, a in enumerate(starts):
        part = audio[a : a + n]
        out[i, : part.size] = part
    return out, starts


def analyse(audio: np.ndarray, models: tuple[Any, Any], window: float, step: float) -> Pass:
    import torch

    from wlk_cli.diarization.models import weighted_stats

    seg_model, emb_model = models
    chunks, starts = windows(audio, window, step)
    with torch.no_grad():
        seg = np.concatenate(
            [seg_model(torch.from_numpy(chunks[i : i + 16]).unsqueeze(1)).numpy() for i in range(0, len(chunks), 16)]
        )
        embs = np.full((len(chunks), seg.shape[2], 192), np.nan, np.float32)
        for i in range(len(chunks)):
            frames = emb_model.frames(torch.from_numpy(chunks[i]).unsqueeze(0))
            alone = seg[i] * (seg[i].sum(axis=1, keepdims=True) == 1)
            for k in range(seg.shape[2]):
                if seg[i][:, k].sum() < 10:
                    continue
                w = alone[:, k] if alone[:, k].sum() >= CLEAN_FRAMES else seg[i][:, k]
                wt = torch.nn.functional.interpolate(torch.from_numpy(w)[None, None], size=frames.shape[-1])[:, 0]
                embs[i, k] = _unit(emb_model.dense(weighted_stats(frames, wt))[0].numpy())
    return seg, embs, starts


def centres(embs: np.ndarray, threshold: float) -> np.ndarray | None:
    from scipy.cluster.hierarchy import fcluster, linkage

    x = embs[np.isfinite(embs).all(axis=-1)]
    if len(x) < 2:
        return None
    labels = fcluster(linkage(x, method="average", metric="cosine"), threshold, criterion="distance")
    sizes = np.bincount(labels)
    keep = [k for k in range(1, labels.max() + 1) if sizes[k] >= 4] or [int(np.argmax(sizes))]
    return _unit(np.stack([x[labels == k].mean(axis=0) for k in keep]))


def assign(seg: np.ndarray, embs: np.ndarray, cent: np.ndarray, threshold: float) -> list[dict[int, int]]:
    out: list[dict[int, int]] = []
    for s, e in zip(seg, embs):
        local = [k for k in range(s.shape[1]) if np.isfinite(e[k]).all() and s[:, k].max() >= 0.5]
        if not local:
            out.append({})
            continue
        dist = 1.0 - e[local] @ cent.T
        chosen = assign_chunk(s[:, local], dist, threshold)
        out.append({k: c if c >= 0 else int(np.argmin(dist[j])) for j, (k, c) in enumerate(zip(local, chosen))})
    return out


def oracle(seg: np.ndarray, starts: list[int], ref: Annotation) -> tuple[list[dict[int, int]], int]:
    from scipy.optimize import linear_sum_assignment

    labels = sorted(ref.labels())
    n = seg.shape[1]
    out = []
    for s, a in zip(seg, starts):
        act = np.zeros((n, len(labels)))
        for segment, _, label in ref.itertracks(yield_label=True):
            f0 = max(0, int(np.ceil((segment.start * SR - a - FRAME_CENTRE) / FRAME_STEP)))
            f1 = min(n - 1, int(np.floor((segment.end * SR - a - FRAME_CENTRE) / FRAME_STEP)))
            if f1 >= f0:
                act[f0 : f1 + 1, labels.index(label)] = 1
        rows, cols = linear_sum_assignment(-(s.T @ act))
        out.append({int(r): int(c) for r, c in zip(rows, cols) if s[:, r].sum() > 0})
    return out, len(labels)


def reconstruct(p: Pass, mapping: list[dict[int, int]], speakers: int, samples: int, cfg: dict[str, Any]) -> Annotation:
    seg, _, starts = p
    n = seg.shape[1]
    total = (samples - FRAME_CENTRE) // FRAME_STEP + n + 2
    acc, count, weight = np.zeros((total, speakers)), np.zeros(total), np.zeros(total)
    for s, a, m in zip(seg, starts, mapping):
        g = round(a / FRAME_STEP)
        chunk = np.zeros((n, speakers))
        for local, c in m.items():
            chunk[:, c] = np.maximum(chunk[:, c], s[:, local])
        acc[g : g + n] += chunk
        count[g : g + n] += s.sum(axis=1)
        weight[g : g + n] += 1.0
    activity = acc / np.maximum(weight, 1e-9)[:, None]
    if cfg.get("mode", "count") == "count":
        c = np.rint(count / np.maximum(weight, 1e-9)).astype(int)
        ranked = np.argsort(-activity, axis=1)
        active = np.zeros_like(activity, dtype=bool)
        for t in range(total):
            active[t, ranked[t, : min(c[t], speakers)]] = True
    else:
        active = activity >= cfg.get("tau", 0.5)
    ann = Annotation()
    t0 = FRAME_CENTRE / SR - FRAME_STEP / SR / 2
    for k in range(speakers):
        col = np.concatenate([[False], active[:, k], [False]])
        edges = np.flatnonzero(col[1:] != col[:-1])
        for a, b in zip(edges[::2], edges[1::2]):
            start, end = max(0.0, t0 + a * FRAME_STEP / SR), min(samples / SR, t0 + b * FRAME_STEP / SR)
            if end > start:
                ann[Segment(start, end)] = k
    return ann


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", nargs="?", default="{}")
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--step", type=float, default=1.0)
    ap.add_argument("--oracle", action="store_true", help="also score perfect clustering of this segmentation")
    ap.add_argument("--onto-live", default="", help="a diarization_refine.py --cache file: centres onto its chunks")
    ap.add_argument("--out", default="", help="append the result lines to this JSON-lines file")
    args = ap.parse_args()
    from wlk_cli.diarization.models import load_campplus, load_segmentation

    models = (load_segmentation(), load_campplus())
    with tempfile.TemporaryDirectory() as tmp:
        data = files(Path(tmp))
    passes: dict[str, Pass] = {}
    cost = 0.0
    for name, (audio, _) in data.items():
        t0 = time.perf_counter()
        passes[name] = analyse(audio, models, args.window, args.step)
        cost += time.perf_counter() - t0
    seconds = sum(a.size for a, _ in data.values()) / SR
    live = pickle.loads(Path(args.onto_live).read_bytes()) if args.onto_live else None
    grid: dict[str, list[Any]] = json.loads(args.grid)
    settings = [dict(zip(grid, v)) for v in itertools.product(*grid.values())] if grid else [{}]
    for cfg in [{"oracle": True}] * args.oracle + settings:
        pooled = {g: DiarizationErrorRate(collar=0.0, skip_overlap=False) for g in ("ami", "joined")}
        per: dict[str, Any] = {}
        for name, (audio, ref) in data.items():
            p = passes[name]
            threshold = cfg.get("threshold", 0.6)
            cent = None if cfg.get("oracle") else centres(p[1], threshold)
            if cfg.get("oracle"):
                mapping, n = oracle(p[0], p[2], ref)
                hyp = reconstruct(p, mapping, n, audio.size, cfg)
            elif live is not None:  # the streaming chunks, assigned to the pass's centres
                turns, log = live[name]
                if cent is None:
                    hyp = annotation(turns)
                else:
                    segs = [s.astype(np.float32) for s in log.segmentations]
                    embs = [_unit(e) for e in log.embeddings]
                    hyp = annotation(aggregate(log, assign(np.stack(segs), np.stack(embs), cent, threshold), 0.6))
            else:
                mapping = assign(p[0], p[1], cent, threshold) if cent is not None else [{} for _ in p[2]]
                hyp = reconstruct(p, mapping, 1 if cent is None else len(cent), audio.size, cfg)
            uem = Timeline([Segment(0, audio.size / SR)])
            group = "ami" if name.startswith("trn0") and len(name) == 5 else "joined" if name in JOINED else None
            metric = pooled[group] if group else DiarizationErrorRate(collar=0.0, skip_overlap=False)
            d = metric(ref, hyp, uem=uem, detailed=True)
            parts = [d[k] / max(d["total"], 1e-9) for k in ("missed detection", "false alarm", "confusion")]
            per[name] = [round(x, 3) for x in [d["diarization error rate"], *parts]]
        line = {
            "bench": "diarization_offline_pass",
            "date": datetime.datetime.now().isoformat(timespec="minutes"),
            "machine": f"vm {platform.machine()} {os.cpu_count()} cpu",
            "window_s": args.window,
            "step_s": args.step,
            "onto_live": bool(live) and not cfg.get("oracle"),
            "setting": cfg,
            "ami_pooled": round(float(abs(pooled["ami"])), 4),
            "joined_pooled": round(float(abs(pooled["joined"])), 4),
            "pass_rtf": round(cost / seconds, 3),
            "der_missed_fa_confusion": per,
        }
        emit(line, args.out or None)


if __name__ == "__main__":
    main()
