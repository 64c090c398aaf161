#!/usr/bin/env bash
# Fresh machine to test results: set up, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check wlk_cli tests benchmarks
.venv/bin/mypy wlk_cli
exec .venv/bin/python -m pytest -q "$@"
