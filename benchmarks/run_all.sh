#!/usr/bin/env bash
# Every figure issues #2 to #11 ask for, appended as JSON lines to benchmarks/results.jsonl. About 2 hours.
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
$PY benchmarks/diarization_bench.py --speed 1 --out "$OUT"
# ASR with diarization on vs off, interleaved (issue #4: WER and latency within +0.3 s)
for _ in 1 2; do
  $PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 1 --no-baseline --out "$OUT"
  $PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 1 --no-baseline --out "$OUT" -- --diarization
done
# Issue #5: SimulStreaming against LocalAgreement, interleaved runs, both timed against one offline alignment
$PY benchmarks/encoder_bench.py --model tiny.en --out "$OUT"
$PY benchmarks/encoder_bench.py --model base --out "$OUT"
$PY benchmarks/policy_bench.py "$WAV" "$REF" --model tiny.en --runs 3 --out "$OUT" \
  --config "local-agreement=" --config "simulstreaming=--policy simulstreaming"
$PY benchmarks/policy_bench.py "$WAV" "$REF" --model base --runs 2 --out "$OUT" \
  --config "local-agreement=" --config "simulstreaming=--policy simulstreaming"
$PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 0 --out "$OUT" -- --policy simulstreaming
$PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed 1 --repeat-minutes 10 --no-baseline --out "$OUT" \
  -- --policy simulstreaming
$PY benchmarks/alignatt_timing.py ../shared/data/ami/trn0*.wav --model tiny.en --out "$OUT"
$PY benchmarks/alignatt_timing.py ../shared/data/ami/trn0*.wav --model base --out "$OUT"
# Issue #11: the real-speech corpus (both policies against offline beam 5 / greedy of the same model)
$PY benchmarks/corpus_bench.py --model tiny.en --speed 1 --out "$OUT"
$PY benchmarks/corpus_bench.py --model base --speed 1 --out "$OUT"
# pacing does not change the words: long.wav at speed 1, 2 and 4 (tiny.en, both policies)
for speed in 1 2 4; do
  $PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed "$speed" --out "$OUT"
  $PY benchmarks/stream_bench.py "$WAV" "$REF" --model tiny.en --speed "$speed" --no-baseline --out "$OUT" \
    -- --policy simulstreaming
done
# Issue #14: wlk serve (4 concurrent real-time sessions and a 5th refused, overhead against wlk file, soak)
$PY benchmarks/server_bench.py concurrency --out "$OUT"
$PY benchmarks/server_bench.py overhead --runs 3 --out "$OUT"
$PY benchmarks/server_bench.py soak --minutes 10 --out "$OUT"
