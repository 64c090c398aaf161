#!/usr/bin/env python3
"""`wlk transcribe` against faster-whisper's own `transcribe` on the same file, in the same script.

Runs `wlk transcribe WAV --model M --format jsonl --no-files [wlk flags after --]` as a subprocess
(its real-time factor: wall time of the whole command, model load included, over the audio; and the
end event's, which counts only the transcription), then `WhisperModel.transcribe` in this process with
faster-whisper's defaults (beam 5, no VAD) as the baseline, timed the same way around the call. Prints
one JSON object: WER of both, real-time factors of both and their ratio.

    python benchmarks/transcribe_bench.py ../shared/data/librispeech/long.wav \
        ../shared/data/librispeech/long.txt --model tiny.en
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import psutil
from report import emit, split_wlk_flags
from stream_bench import wer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav")
    ap.add_argument("reference")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of the baseline")
    ap.add_argument("--out")
    own, extra = split_wlk_flags(sys.argv[1:])
    a = ap.parse_args(own)
    ref = Path(a.reference).read_text().strip()
    import soundfile as sf

    audio_s = sf.info(a.wav).duration
    cmd = [sys.executable, "-m", "wlk_cli", "transcribe", a.wav, "--model", a.model, "--format", "jsonl",
           "--no-files", *extra]  # fmt: skip
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    wall = time.monotonic() - t0
    events = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
    text = "".join(w["text"] for e in events if e["type"] == "transcript" for w in e["confirmed"])
    end = events[-1]["stats"]

    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model

    t0 = time.monotonic()
    model = WhisperModel(str(resolve_model(a.model)), device="cpu", compute_type="int8", cpu_threads=a.threads)
    loaded = time.monotonic()
    segs, _ = model.transcribe(a.wav, beam_size=5)
    base_text = "".join(s.text for s in segs)
    done = time.monotonic()
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {psutil.cpu_count()} cpu",
        "bench": "transcribe",
        "file": a.wav,
        "model": a.model,
        "extra": extra,
        "audio_s": round(audio_s, 3),
        "wer": round(wer(ref, text), 4),
        "wer_offline_beam5": round(wer(ref, base_text), 4),
        "rtf_command": round(wall / audio_s, 3),
        "rtf_transcription": end["real_time_factor"],
        "rtf_offline_with_load": round((done - t0) / audio_s, 3),
        "rtf_offline": round((done - loaded) / audio_s, 3),
        "ratio_to_offline": round(end["real_time_factor"] / ((done - loaded) / audio_s), 2),
        "cpu_s_per_audio_s": round(end["cpu_time_s"] / audio_s, 3),
    }
    emit(result, a.out)


if __name__ == "__main__":
    main()
