#!/usr/bin/env python3
"""Capture overhead: `wlk listen` with the TUI on, capturing a clip played in real time into a PulseAudio
null sink, against `wlk file --speed 1 --no-tui` on the same clip. Several runs of each, interleaved.

Latency is the end statistic both paths report: release of a word's last sample to its confirmation.
The TUI runs in a real terminal (tmux); its JSON lines go to a file with --jsonl.

    python benchmarks/listen_bench.py [WAV] [--runs 3] [--model tiny.en]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import emit  # noqa: E402  (benchmarks/report.py)

from tests import pulse  # noqa: E402  (the same sound server the tests use)


def end_stats(lines: list[str]) -> dict[str, object]:
    events = [json.loads(x) for x in lines if x.strip()]
    assert events and events[-1]["type"] == "end", "no end line"
    return dict(events[-1]["stats"])


def run_file(wav: str, model: str) -> dict[str, object]:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "wlk_cli",
            "file",
            wav,
            "--model",
            model,
            "--speed",
            "1",
            "--format",
            "jsonl",
            "--no-files",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return end_stats(r.stdout.splitlines())


def run_listen_tui(wav: str, model: str, env: dict[str, str], tmp: Path) -> dict[str, object]:
    out = tmp / "listen.jsonl"
    out.unlink(missing_ok=True)
    sock = str(tmp / "tmux.sock")
    keep = [f"{k}={v}" for k, v in env.items() if k in ("XDG_RUNTIME_DIR", "HOME", "PULSE_RUNTIME_PATH", "PATH")]
    cmd = (
        f"env {' '.join(keep)} {sys.executable} -m wlk_cli listen --device {pulse.SINK}.monitor --model {model} "
        f"--no-files --jsonl {out}"
    )
    tmux = ["tmux", "-S", sock]
    subprocess.run([*tmux, "new-session", "-d", "-x", "120", "-y", "30", "-c", str(ROOT), cmd], check=True)
    try:
        for _ in range(300):
            if out.exists() and out.read_text().strip():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        pulse.play(Path(wav), env).wait()
        time.sleep(2.5)
        subprocess.run([*tmux, "send-keys", "q"], check=True)
        for _ in range(300):
            text = out.read_text()
            if '"type": "end"' in text:
                break
            time.sleep(0.1)
        return end_stats(out.read_text().splitlines())
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav", nargs="?", default=str(ROOT.parent / "shared/data/librispeech/long.wav"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--out")
    a = ap.parse_args()
    file_lat, tui_lat, drops = [], [], 0
    with tempfile.TemporaryDirectory() as d, pulse.null_sink_server() as env:
        for _ in range(a.runs):
            f = run_file(a.wav, a.model)
            t = run_listen_tui(a.wav, a.model, env, Path(d))
            file_lat.append(float(f["latency_mean_s"]))  # type: ignore[arg-type]
            tui_lat.append(float(t["latency_mean_s"]))  # type: ignore[arg-type]
            drops += int(t["dropped_frames"])  # type: ignore[call-overload]
    res = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}",
        "file": a.wav,
        "model": a.model,
        "runs": a.runs,
        "file_speed1_latency_mean_s": [round(x, 3) for x in file_lat],
        "listen_tui_latency_mean_s": [round(x, 3) for x in tui_lat],
        "ratio_of_means": round(statistics.mean(tui_lat) / statistics.mean(file_lat), 3),
        "listen_dropped_frames": drops,
    }
    emit(res, a.out)


if __name__ == "__main__":
    main()
