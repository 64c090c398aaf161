#!/usr/bin/env bash
# Fresh machine to first transcript: set up, then transcribe the bundled sample with the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/wlk file tests/data/librispeech/libri_02_spk1188.wav --output-dir "${WLK_DEMO_OUT:-/tmp}" "$@"
