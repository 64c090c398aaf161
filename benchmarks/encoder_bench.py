#!/usr/bin/env python3
"""Which Whisper encoder feeds simulstreaming's PyTorch decoder: CTranslate2's (int8) or ours (float32)?

Times both encoders on the same log-mel input in this process (best of 3, interleaved), for buffer
lengths a streaming run sees, with the engine's thread counts. Prints one JSON line.

    python benchmarks/encoder_bench.py --model tiny.en
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import numpy as np
import psutil
from report import emit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--threads", type=int, default=0, help="0: the engine's choice (1 for tiny, else 2)")
    ap.add_argument("--out")
    a = ap.parse_args()
    import ctranslate2
    import torch
    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model
    from wlk_cli.asr.torch_whisper import load

    threads = a.threads or (1 if "tiny" in a.model else 2)
    torch.set_num_threads(threads)
    path = resolve_model(a.model)
    fw = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
    tw = load(path)
    rows = {}
    for secs in (3, 5, 10, 20, 30):
        mel = np.random.default_rng(0).standard_normal((80, secs * 100)).astype(np.float32)
        ct2_t, torch_t = [], []
        for _ in range(3):
            t = time.perf_counter()
            fw.model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True)
            ct2_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            tw.encode(mel)
            torch_t.append(time.perf_counter() - t)
        rows[f"{secs}s"] = {
            "ct2_int8_s": round(min(ct2_t), 4),
            "torch_f32_s": round(min(torch_t), 4),
            "torch_over_ct2": round(min(torch_t) / min(ct2_t), 2),
        }
    emit(
        {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {psutil.cpu_count()} cpu",
            "bench": "encoder",
            "model": a.model,
            "threads": threads,
            **rows,
        },
        a.out,
    )


if __name__ == "__main__":
    main()
