"""wlk in a real terminal (tmux): the TUI's keys come from the terminal, never from stdin; every way of
stopping gives the exit code and end event the README promises; a pipe's output is not drawn over."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import DATA, ROOT, clips, one_line_error, parse_jsonl

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/setup.sh")
CALL = DATA / "call" / "call.wav"  # 30 s: long enough to stop half-way
WLK = f"{sys.executable} -m wlk_cli"


class Tmux:
    """One command in a detached tmux terminal; its exit status lands in a file."""

    def __init__(self, tmp_path: Path, cmd: str) -> None:
        self.tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
        self.rc = tmp_path / "rc"
        shell = f"{cmd}; echo $? > {self.rc}; sleep 30"
        subprocess.run([*self.tmux, "new-session", "-d", "-x", "100", "-y", "24", "-c", str(ROOT), shell], check=True)

    def screen(self, history: bool = False) -> str:
        """What the terminal shows (with ``history``: everything it printed, wrapped lines joined)."""
        more = ["-S", "-", "-J"] if history else []
        return subprocess.run([*self.tmux, "capture-pane", "-p", *more], capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float = 60) -> str:
        screen = ""
        for _ in range(int(timeout / 0.2)):
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared:\n{screen}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", *keys], check=True)

    def program_pid(self) -> int:
        shell = subprocess.run([*self.tmux, "display", "-p", "#{pane_pid}"], capture_output=True, text=True)
        out = subprocess.run(["pgrep", "-P", shell.stdout.strip(), "-f", "wlk_cli"], capture_output=True, text=True)
        return int(out.stdout.split()[0])

    def exit_code(self, timeout: float = 60) -> int:
        for _ in range(int(timeout / 0.2)):
            if self.rc.exists() and self.rc.read_text().strip():
                return int(self.rc.read_text())
            time.sleep(0.2)
        raise AssertionError(f"the program did not exit:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def end_event(path: Path) -> dict[str, object]:
    events = parse_jsonl(path.read_bytes())
    assert events[-1]["type"] == "end"
    return events[-1]["stats"]  # type: ignore[return-value]


def test_piped_audio_with_the_tui_reads_keys_from_the_terminal(tmp_path: Path) -> None:
    clip = clips()[2][0]
    t = Tmux(tmp_path, f"cat {clip} | {WLK} file - --tui --model tiny.en --speed 0 --output-dir {tmp_path} "
             f"--jsonl {tmp_path / 'events.jsonl'}")  # fmt: skip
    try:
        t.wait_for("finished: q to exit")  # the audio bytes on stdin were not taken for keys (or a crash)
        t.keys("q")
        assert t.exit_code() == 0, t.screen()
    finally:
        t.close()
    stats = end_event(tmp_path / "events.jsonl")
    assert stats["interrupted"] is False and int(stats["words"]) > 5  # type: ignore[call-overload]
    assert (tmp_path / "stdin.srt").read_text().strip()


@pytest.mark.parametrize("how", ["q", "C-c", "SIGTERM"])
def test_stopping_a_file_half_way_is_an_interruption(tmp_path: Path, how: str) -> None:
    t = Tmux(tmp_path, f"{WLK} file {CALL} --tui --model tiny.en --output-dir {tmp_path} "
             f"--jsonl {tmp_path / 'events.jsonl'}")  # fmt: skip
    try:
        t.wait_for("tiny.en")
        time.sleep(6.0)  # some words heard, 24 s of the call still to come
        if how == "SIGTERM":
            subprocess.run(["kill", "-TERM", str(t.program_pid())], check=True)
        else:
            t.keys(how)
        assert t.exit_code() == 130, t.screen()
    finally:
        t.close()
    stats = end_event(tmp_path / "events.jsonl")
    assert stats["interrupted"] is True and float(stats["audio_duration_s"]) < 25  # type: ignore[arg-type]
    assert (tmp_path / "call.srt").exists()  # what was heard is written


def test_the_tui_without_a_terminal_is_one_line(tmp_path: Path) -> None:
    clip = clips()[0][0]
    r = subprocess.run(
        [sys.executable, "-m", "wlk_cli", "file", "-", "--tui", "--model", "tiny.en", "--output-dir", str(tmp_path)],
        input=clip.read_bytes(), capture_output=True, cwd=ROOT, start_new_session=True, timeout=120,
    )  # fmt: skip
    one_line_error(r, 2, "reads its keys from a terminal", "run without --tui")


def test_json_piped_to_a_program_on_the_terminal_is_not_drawn_over(tmp_path: Path) -> None:
    clip = clips()[1][0]
    t = Tmux(tmp_path, f"{WLK} file {clip} --model tiny.en --no-files | cat")
    try:
        assert t.exit_code() == 0
        lines = [x for x in t.screen(history=True).splitlines() if x.strip()]
    finally:
        t.close()
    summary = [x for x in lines if not x.startswith("{")]  # stderr's one line (cat may pass JSON after it)
    assert len(summary) == 1 and summary[0].startswith("wlk: ") and "words from" in summary[0], summary
    for line in lines:  # JSON lines and that line, nothing else: no progress drawn over them
        if line is not summary[0]:
            assert json.loads(line)["type"] in ("session", "transcript", "final", "end"), line
