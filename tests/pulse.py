"""A real sound server for capture tests: a private PulseAudio daemon with a null sink.

Audio played into the sink comes back, paced in real time, from its monitor source, which wlk
captures through PortAudio's ALSA ``pulse`` device like any microphone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SINK = "wlknull"


def available() -> bool:
    return shutil.which("pulseaudio") is not None and shutil.which("pactl") is not None


@contextmanager
def null_sink_server() -> Iterator[dict[str, str]]:
    """Start the daemon; yields the environment that reaches it; stops it afterwards."""
    runtime = Path(tempfile.mkdtemp(prefix="wlk-pulse-"))
    runtime.chmod(0o700)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "HOME": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
    }
    env.pop("PULSE_SERVER", None)
    env.pop("PULSE_SOURCE", None)
    subprocess.run(
        [
            "pulseaudio",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "-n",
            "--log-target=stderr",
            "--load=module-native-protocol-unix",
            f"--load=module-null-sink sink_name={SINK}",
            "--load=module-always-sink",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=20,
    )
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-sink", SINK], env=env, check=True, capture_output=True)
        yield env
    finally:
        pid_file = runtime / "pulse" / "pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except (ValueError, ProcessLookupError):
                pass
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(runtime, ignore_errors=True)


def play(path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["paplay", "-d", SINK, str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
