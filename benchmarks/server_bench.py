#!/usr/bin/env python3
"""`wlk serve` under load (#14): concurrency, overhead against `wlk file`, a soak.

python benchmarks/server_bench.py concurrency [--sessions 4] [--out results.jsonl]
python benchmarks/server_bench.py overhead [--runs 3] [--out ...]
python benchmarks/server_bench.py soak [--minutes 10] [--out ...]

concurrency: a server with --max-sessions N (tiny.en, local-agreement); N clients each play long.wav to
/v1/stream in real time (100 ms frames on an absolute schedule), and while they run one more client is
refused (the time from connecting to its close 1013). The baseline is one `wlk file --speed 1` run of
the same file, in the same script, before them.
overhead: one /v1/stream session against `wlk file --speed 1` on the same file, runs interleaved.
soak: 20 sessions one after another (2x real time) beside 3 lanes of back-to-back sessions in real time
(every 4th client leaves mid-stream without a word) for --minutes; the server's RSS, threads and open
files after warm-up and at the end, idle.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from report import emit  # noqa: E402
from stream_bench import wer  # noqa: E402

from tests.server import joined_clips, pcm16, serve  # noqa: E402

ROOT = HERE.parent
WAV = ROOT.parent / "shared/data/librispeech/long.wav"
REF = ROOT.parent / "shared/data/librispeech/long.txt"
FRAME = 3200  # 100 ms of s16le 16 kHz


def machine() -> dict[str, Any]:
    return {
        "date": datetime.date.today().isoformat(),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
    }


async def play(url: str, audio: bytes, speed: float = 1.0, leave_after_s: float | None = None) -> dict[str, Any]:
    """One client: start, frames on an absolute schedule, the end frame; its lines and close code."""
    import websockets

    lines: list[dict[str, Any]] = []
    async with websockets.connect(url, max_size=None) as ws:

        async def send() -> None:
            t0 = time.monotonic()
            try:
                await ws.send(json.dumps({"type": "start", "format": "s16le", "rate": 16000}))
                for k, i in enumerate(range(0, len(audio), FRAME)):
                    if leave_after_s is not None and k * 0.1 / speed >= leave_after_s:
                        await ws.close()
                        return
                    await ws.send(audio[i : i + FRAME])
                    wait = t0 + (k + 1) * 0.1 / speed - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                await ws.send(b"")
            except websockets.ConnectionClosed:
                pass

        sender = asyncio.create_task(send())
        try:
            async for m in ws:
                lines.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass
        await sender
    return {"lines": lines, "code": ws.close_code}


def text_of(lines: list[dict[str, Any]]) -> str:
    return "".join(w["text"] for e in lines if e["type"] == "transcript" for w in e["confirmed"])


def local_file(wav: Path) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "wlk_cli", "file", str(wav), "--model", "tiny.en", "--speed", "1",
         "--format", "jsonl", "--no-files"],
        capture_output=True, cwd=ROOT, check=True,
    )  # fmt: skip
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    return {"lines": lines, "code": None}


def summary(run: dict[str, Any], ref: str) -> dict[str, Any]:
    stats = run["lines"][-1]["stats"] if run["lines"] and run["lines"][-1]["type"] == "end" else {}
    return {
        "wer": round(100 * wer(ref, text_of(run["lines"])), 2),
        "latency_mean_s": stats.get("latency_mean_s"),
        "final_lag_s": stats.get("final_lag_s"),
        "max_lag_s": stats.get("max_lag_s"),
        "dropped_audio_s": stats.get("dropped_audio_s"),
        "close": run["code"],
    }


async def refused_in(url: str) -> tuple[float, int | None, str]:
    import websockets

    t0 = time.monotonic()
    async with websockets.connect(url) as ws:
        first = json.loads(await ws.recv())
        try:
            await ws.recv()
        except websockets.ConnectionClosed:
            pass
    return time.monotonic() - t0, ws.close_code, first.get("error", "")


def concurrency(a: argparse.Namespace, tmp: Path) -> None:
    ref = REF.read_text()
    audio = pcm16(WAV)
    base = summary(local_file(WAV), ref)
    with serve("--max-sessions", str(a.sessions), tmp=tmp) as s:
        url = s.ws + "/v1/stream"
        proc = psutil.Process(s.proc.pid)
        cpu0 = sum(proc.cpu_times()[:2])

        async def scenario() -> tuple[list[dict[str, Any]], tuple[float, int | None, str]]:
            clients = [asyncio.create_task(play(url, audio)) for _ in range(a.sessions)]
            await asyncio.sleep(5.0)
            extra = await refused_in(url)
            return list(await asyncio.gather(*clients)), extra

        runs, (refusal_s, code, why) = asyncio.run(scenario())
        cpu = sum(proc.cpu_times()[:2]) - cpu0
    sessions = [summary(r, ref) for r in runs]
    audio_s = len(audio) / 32000
    emit(
        {
            "bench": "server_concurrency", **machine(), "model": "tiny.en", "policy": "local-agreement",
            "file": WAV.name, "sessions": a.sessions, "baseline_wlk_file": base, "per_session": sessions,
            "worst_latency_mean_s": max(x["latency_mean_s"] for x in sessions),
            "worst_final_lag_s": max(x["final_lag_s"] for x in sessions),
            "worst_wer_minus_baseline": round(max(x["wer"] for x in sessions) - base["wer"], 2),
            "refused_in_s": round(refusal_s, 4), "refused_code": code, "refused_reason": why,
            "server_cpu_s_per_audio_s": round(cpu / (audio_s * a.sessions), 3),
        },
        a.out,
    )  # fmt: skip


def overhead(a: argparse.Namespace, tmp: Path) -> None:
    ref = REF.read_text()
    audio = pcm16(WAV)
    local: list[dict[str, Any]] = []
    remote: list[dict[str, Any]] = []
    with serve("--max-sessions", "1", tmp=tmp) as s:
        for _ in range(a.runs):
            local.append(summary(local_file(WAV), ref))
            remote.append(summary(asyncio.run(play(s.ws + "/v1/stream", audio)), ref))
    lat_l = statistics.mean(x["latency_mean_s"] for x in local)
    lat_r = statistics.mean(x["latency_mean_s"] for x in remote)
    emit(
        {
            "bench": "server_overhead", **machine(), "model": "tiny.en", "file": WAV.name, "runs": a.runs,
            "wlk_file": local, "v1_stream": remote, "latency_mean_wlk_file_s": round(lat_l, 3),
            "latency_mean_v1_stream_s": round(lat_r, 3), "latency_diff_s": round(lat_r - lat_l, 3),
            "wer_wlk_file": [x["wer"] for x in local], "wer_v1_stream": [x["wer"] for x in remote],
        },
        a.out,
    )  # fmt: skip


def footprint(pid: int) -> dict[str, float]:
    p = psutil.Process(pid)
    return {"rss_mb": round(p.memory_info().rss / 2**20, 1), "threads": p.num_threads(), "fds": p.num_fds()}


def soak(a: argparse.Namespace, tmp: Path) -> None:
    clip, ref = joined_clips(tmp)
    audio = pcm16(clip)
    with serve("--max-sessions", "4", tmp=tmp) as s:
        url = s.ws + "/v1/stream"
        deadline = time.monotonic() + a.minutes * 60
        counts = {"sequential": 0, "lanes": 0, "left": 0, "failed": 0, "refused": 0}
        wers: list[float] = []
        warm: dict[str, float] = {}

        async def session(**kw: Any) -> dict[str, Any]:
            """A client that is refused (1013: full) tries again, as a client of a full server would."""
            while True:
                r = await play(url, audio, **kw)
                if r["code"] != 1013:
                    return r
                counts["refused"] += 1
                await asyncio.sleep(0.5)

        def check(r: dict[str, Any]) -> None:
            if r["code"] != 1000 or not r["lines"] or r["lines"][-1]["type"] != "end":
                counts["failed"] += 1
            else:
                wers.append(wer(ref, text_of(r["lines"])))

        async def sequential() -> None:
            for _ in range(20):
                check(await session(speed=2.0))
                counts["sequential"] += 1

        async def lane(k: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                if n % 4 == k % 4:
                    await session(leave_after_s=5.0 + k)
                    counts["left"] += 1
                else:
                    check(await session())
                    counts["lanes"] += 1
                if not warm and counts["lanes"] >= 3:
                    warm.update(footprint(s.proc.pid))

        timeline: list[tuple[float, float]] = []

        async def sample() -> None:
            t0 = time.monotonic()
            while time.monotonic() < deadline:
                timeline.append((round(time.monotonic() - t0), footprint(s.proc.pid)["rss_mb"]))
                await asyncio.sleep(30)

        async def scenario() -> None:
            await asyncio.gather(sequential(), sample(), *(lane(k) for k in range(3)))

        asyncio.run(scenario())
        time.sleep(3.0)  # every stream's thread has ended
        end = footprint(s.proc.pid)
        health = json.loads(subprocess.run(["curl", "-s", s.http + "/health"], capture_output=True).stdout or "{}")
    emit(
        {
            "bench": "server_soak", **machine(), "model": "tiny.en", "minutes": a.minutes, **counts,
            "wer_mean": round(100 * statistics.mean(wers), 2) if wers else None,
            "wer_max": round(100 * max(wers), 2) if wers else None,
            "after_warm_up": warm, "at_end_idle": end, "rss_growth_mb": round(end["rss_mb"] - warm["rss_mb"], 1),
            "threads_growth": end["threads"] - warm["threads"], "fds_growth": end["fds"] - warm["fds"],
            "sessions_at_end": health.get("sessions"), "rss_timeline_s_mb": timeline,
        },
        a.out,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["concurrency", "overhead", "soak"])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        {"concurrency": concurrency, "overhead": overhead, "soak": soak}[a.mode](a, Path(tmp))


if __name__ == "__main__":
    main()
