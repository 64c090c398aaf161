"""`wlk file --server` and `wlk listen --server`: audio and files here, the model on a real `wlk serve`
(tiny.en on loopback); the capture is a PulseAudio null sink, as in the local listen tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pulse
from tests.formats import check_cues, parse_srt
from tests.helpers import ROOT, clips, final_text, one_line_error, parse_jsonl, transcript, wer, wlk
from tests.server import Server, serve, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("--max-sessions", "2", tmp=tmp_path_factory.mktemp("srv")) as s:
        yield s


def test_file_on_a_server_writes_files_here(server: Server, tmp_path: Path) -> None:
    src, ref = clips()[1]
    r = wlk("file", str(src), "--server", server.ws, "--speed", "2", "--format", "jsonl", "--output-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    assert events[0]["source"] == str(src) and events[0]["model"] == "tiny.en" and events[0]["server"]
    text = transcript(events)
    assert wer(ref, text) <= 0.15, text
    assert events[-1]["type"] == "end" and events[-1]["stats"]["words"] == len(text.split())
    check_cues(parse_srt((tmp_path / f"{src.stem}.srt").read_text()))
    doc = json.loads((tmp_path / f"{src.stem}.json").read_text())
    assert doc["text"] == final_text(events) and doc["model"] == "tiny.en"  # the files hold the final words
    assert wer(ref, doc["text"]) <= 0.15


def test_remote_refusals_are_one_line(server: Server, tmp_path: Path) -> None:
    src, _ = clips()[0]
    r = wlk("file", str(src), "--server", server.ws, "--model", "base", "--no-files")
    one_line_error(r, 2, "engine settings cannot be set per session: model")
    r = wlk("file", str(src), "--server", "ws://127.0.0.1:9", "--no-files")
    one_line_error(r, 1, "cannot connect")
    r = wlk("file", str(src), "--server", "ftp://host", "--no-files")
    one_line_error(r, 2, "not a ws://")
    r = wlk("file", str(src), "--api-token", "x", "--no-files")
    one_line_error(r, 2, "only with --server")


def test_server_going_away_keeps_what_was_transcribed(tmp_path: Path) -> None:
    src, _ = clips()[2]
    with serve(tmp=tmp_path) as s:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wlk_cli", "file", str(src), "--server", s.ws, "--format", "jsonl",
             "--output-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["type"] == "session"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until a word is confirmed
            line = proc.stdout.readline()
            if not line or json.loads(line).get("confirmed"):
                break
        stop(s.proc)  # SIGTERM: the server closes its sessions (1012)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err.decode()
    lines = [x for x in err.decode().splitlines() if x.strip()]
    assert lines[-1].startswith("wlk: error: server:") and "Traceback" not in err.decode(), err.decode()
    doc = json.loads((tmp_path / f"{src.stem}.json").read_text())
    assert doc["text"].strip(), "the words heard before the server went are in the file"


@pytest.mark.skipif(not pulse.available(), reason="pulseaudio is installed by scripts/setup.sh")
def test_listen_on_a_server(server: Server, tmp_path: Path) -> None:
    src, ref = clips()[1]  # (the clip the local listen test plays)
    with pulse.null_sink_server() as env:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wlk_cli", "listen", "--no-tui", "--server", server.ws, "--device",
             f"{pulse.SINK}.monitor", "--output-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        session = json.loads(proc.stdout.readline())
        assert session["source"] == f"{pulse.SINK}.monitor" and session["model"] == "tiny.en"
        time.sleep(0.5)
        pulse.play(src, env).wait(timeout=30)
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    events = [session, *parse_jsonl(out)]
    text = transcript(events)
    assert wer(ref, text) <= 0.15, text
    assert events[-1]["stats"]["interrupted"] is True
    assert json.loads(next(tmp_path.glob("wlk-*.json")).read_text())["text"] == text
