"""`wlk listen` capturing for real: a PulseAudio null sink, a clip played into it in real time."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import pulse
from tests.formats import check_cues, parse_srt
from tests.helpers import ROOT, clips, final_text, parse_jsonl, transcript, wer

pytestmark = pytest.mark.skipif(not pulse.available(), reason="pulseaudio is installed by scripts/setup.sh")


@pytest.fixture(scope="module")
def server() -> object:
    with pulse.null_sink_server() as env:
        yield env


def start_listen(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wlk_cli",
            "listen",
            "--no-tui",
            "--model",
            "tiny.en",
            "--output-dir",
            str(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )


def wait_for_session_line(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read().decode() if proc.stderr else "no output"
    return json.loads(line)


def test_devices_lists_the_monitor_as_system_audio(server: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "wlk_cli", "devices"], capture_output=True, env=server, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    monitor = [x for x in lines if f"{pulse.SINK}.monitor" in x]
    assert monitor and "[system]" in monitor[0]
    rows = [x for x in lines[1:] if x.strip()]
    numbers = [x[2:8].strip() for x in rows]
    assert len(set(numbers)) == len(numbers), r.stdout.decode()  # every row has its own number
    assert sum(x.startswith("*") for x in rows) == 1, r.stdout.decode()  # one default
    number = monitor[0][2:8].strip()
    code = f"from wlk_cli.audio.devices import pick_input; print(pick_input({number!r}).label)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env=server, cwd=ROOT, text=True)
    assert r.stdout.strip() == f"{pulse.SINK}.monitor", r.stderr  # `--device N` opens the row numbered N


@pytest.mark.parametrize("policy", ["local-agreement", "simulstreaming"])
def test_listen_captures_a_clip_played_in_real_time(server: dict[str, str], tmp_path: Path, policy: str) -> None:
    src, ref = clips()[1]
    proc = start_listen(server, tmp_path, "--device", f"{pulse.SINK}.monitor", "--policy", policy)
    session = wait_for_session_line(proc)
    assert session["source"] == f"{pulse.SINK}.monitor" and session["policy"] == policy
    time.sleep(0.5)
    player = pulse.play(src, server)
    player.wait(timeout=30)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    events = [session, *parse_jsonl(out)]
    text = transcript(events)
    assert wer(ref, text) <= 0.15, text
    stats = events[-1]["stats"]
    assert stats["dropped_frames"] == 0 and stats["interrupted"] is True
    srt = next(tmp_path.glob("wlk-*.srt"))
    check_cues(parse_srt(srt.read_text()))
    assert json.loads(next(tmp_path.glob("wlk-*.json")).read_text())["text"] == final_text(events)  # final words


def test_system_flag_picks_the_default_outputs_monitor(server: dict[str, str], tmp_path: Path) -> None:
    proc = start_listen(server, tmp_path, "--system", "--no-files")
    session = wait_for_session_line(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert session["source"] == f"{pulse.SINK}.monitor"
    assert proc.returncode == 130 and b"Traceback" not in err


@pytest.mark.parametrize("spec,needle", [("no-such-device", "no input device matches"), ("999", "number 999")])
def test_bad_device_is_one_line(server: dict[str, str], tmp_path: Path, spec: str, needle: str) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "wlk_cli",
            "listen",
            "--no-tui",
            "--model",
            "tiny.en",
            "--device",
            spec,
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        env=server,
        cwd=ROOT,
        timeout=60,
    )
    err = r.stderr.decode().strip()
    assert r.returncode == 5 and len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_no_input_device_at_all(tmp_path: Path) -> None:
    """No sound server and no card: a clear message, nothing written."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("PULSE", "XDG_RUNTIME"))}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)  # an empty runtime dir: no server to find
    env["PULSE_SERVER"] = "unix:/nonexistent"
    r = subprocess.run(
        [sys.executable, "-m", "wlk_cli", "listen", "--no-tui", "--model", "tiny.en", "--output-dir", str(tmp_path)],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    err = r.stderr.decode().strip()
    assert r.returncode == 5, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert [p for p in tmp_path.iterdir() if p.suffix in (".srt", ".json")] == []


def test_server_lost_mid_session_ends_cleanly_with_files(tmp_path: Path) -> None:
    src, _ = clips()[1]
    with pulse.null_sink_server() as env:
        proc = start_listen(env, tmp_path, "--device", f"{pulse.SINK}.monitor")
        wait_for_session_line(proc)
        time.sleep(0.5)
        player = pulse.play(src, env)
        player.wait(timeout=30)
        time.sleep(2.0)
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err.decode()
    assert "Traceback" not in err.decode()
    assert len(err.decode().strip().splitlines()) == 1
    events = parse_jsonl(out)
    assert events[-1]["type"] == "end" and events[-1]["stats"]["error"]
    text = transcript(events)
    assert len(text.split()) >= 5
    assert json.loads(next(tmp_path.glob("wlk-*.json")).read_text())["text"] == final_text(events)  # final words


def test_tmux_a_person_at_the_terminal(server: dict[str, str], tmp_path: Path) -> None:
    """The real TUI in a real terminal: spoken words appear on screen; q writes the files."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is installed by scripts/setup.sh")
    src, ref = clips()[1]
    sock = str(tmp_path / "tmux.sock")
    env_args = [f"{k}={v}" for k, v in server.items() if k in ("XDG_RUNTIME_DIR", "HOME", "PULSE_RUNTIME_PATH", "PATH")]
    cmd = (
        f"env {' '.join(env_args)} {sys.executable} -m wlk_cli listen --device {pulse.SINK}.monitor "
        f"--model tiny.en --output-dir {tmp_path}"
    )
    tmux = ["tmux", "-S", sock]
    subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "24", "-c", str(ROOT), cmd], check=True)
    try:
        screen = ""
        for _ in range(100):  # until the TUI is up (model loaded, status bar drawn)
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            if "tiny.en" in screen:
                break
            time.sleep(0.2)
        assert "tiny.en" in screen, screen
        pulse.play(src, server).wait(timeout=30)
        time.sleep(3.0)
        screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
        lines = screen.splitlines()
        status_at = next(i for i, line in enumerate(lines) if f"{pulse.SINK}.monitor" in line)
        assert wer(ref, " ".join(lines[:status_at])) <= 0.25, screen
        for word in ("vignette", "turner", "principles"):
            assert word in screen.lower(), screen
        subprocess.run([*tmux, "send-keys", "q"], check=True)
        for _ in range(100):
            if (
                list(tmp_path.glob("wlk-*.srt"))
                and not subprocess.run([*tmux, "has-session"], capture_output=True).returncode == 0
            ):
                break
            time.sleep(0.2)
        srt = list(tmp_path.glob("wlk-*.srt"))
        assert srt and parse_srt(srt[0].read_text())
        assert list(tmp_path.glob("wlk-*.json"))
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
