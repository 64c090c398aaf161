#!/usr/bin/env bash
# Every figure issues #2 and #3 ask for, appended as JSON lines to benchmarks/results.jsonl. About 27 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WAV=${WAV:-../shared/data/librispeech/long.wav}
REF=${REF:-../shared/data/librispeech/long.txt}
OUT=benchmarks/results.jsonl
$PY benchmarks/startup_bench.py 10 | tee -a "$OUT"
$PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 1 --out "$OUT"
$PY benchmarks/stream_bench.py "$WAV" "$REF" --model base --speed 1 --out "$OUT"
$PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 0 --out "$OUT"
$PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 1 --repeat-minutes 10 --no-baseline --out "$OUT"
$PY benchmarks/listen_bench.py "$WAV" --runs 3 --out "$OUT"
