#!/usr/bin/env python3
"""What one more stream costs on a warm engine (#13): the time to open a session and the memory it adds
while it runs, next to what the engine itself took to load (the baseline, in the same process).

python benchmarks/session_bench.py [--model tiny.en] [--policy local-agreement] [--runs 5] [--out results.jsonl]

Each run opens a session on a clip (a file clock at --speed 0) and runs it to its end while the sessions
before it stay open (their buffers and state alive), so the RSS growth is what a stream holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import clips  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Quiet:
    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *a, **k: None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--policy", default="local-agreement")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()

    from wlk_cli.app import start_engine
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.clock import AudioClock
    from wlk_cli.audio.decode import AudioDecoder
    from wlk_cli.audio.ring import RingBuffer
    from wlk_cli.config import build_settings
    from wlk_cli.session import Session

    settings = build_settings(None, {"model": a.model, "policy": a.policy, "speed": 0.0})
    rss0 = rss_mb()
    t = time.perf_counter()
    engine = start_engine(settings)  # every model the stream needs, loaded now
    engine_s = time.perf_counter() - t
    rss_engine = rss_mb()

    def open_session(path: Path) -> tuple[Session, float]:
        decoder = AudioDecoder(str(path))
        clock = AudioClock(decoder.blocks(), RingBuffer(SAMPLE_RATE * 120), settings.chunk_ms, 0.0)
        t = time.perf_counter()
        session = Session(engine, settings, clock, decoder.name, None, decoder.duration_s)
        return session, time.perf_counter() - t

    paths = [p for p, _ in clips()]
    first, first_open_s = open_session(paths[0])
    first.run([Quiet()])  # warm: the first pass allocates the model's working memory
    kept = [first]
    opens, added = [], []
    for i in range(a.runs):
        before = rss_mb()
        session, open_s = open_session(paths[(i + 1) % len(paths)])
        session.run([Quiet()])
        kept.append(session)
        opens.append(open_s)
        added.append(rss_mb() - before)
    result = {
        "bench": "session",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu",
        "model": a.model,
        "policy": a.policy,
        "engine_load_s": round(engine_s, 3),
        "engine_rss_mb": round(rss_engine - rss0, 1),
        "first_session_open_s": round(first_open_s, 4),
        "next_session_open_s_median": round(statistics.median(opens), 4),
        "next_session_open_s_max": round(max(opens), 4),
        "open_over_engine_load": round(statistics.median(opens) / engine_s, 4),
        "next_session_rss_mb_median": round(statistics.median(added), 1),
        "next_session_rss_mb_max": round(max(added), 1),
        "sessions_open": len(kept),
    }
    line = json.dumps(result)
    print(line)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
