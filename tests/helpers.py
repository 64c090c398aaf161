"""Shared helpers for tests that run the real program."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
LIBRI = DATA / "librispeech"
ROOT = Path(__file__).parent.parent


def clips() -> list[tuple[Path, str]]:
    manifest = json.loads((LIBRI / "manifest.json").read_text())
    out = []
    for f in manifest["files"]:
        p = LIBRI / f["filename"]
        if p.exists():
            out.append((p, f["reference_transcript"]))
    return out


def normalize(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


_NUMBERS = {"10": "ten", "2": "two", "1": "one"}


def wer(ref: str, hyp: str) -> float:
    import jiwer

    h = [_NUMBERS.get(w, w) for w in normalize(hyp)]
    return float(jiwer.wer(" ".join(normalize(ref)), " ".join(h) or "<empty>"))


def wlk(*args: str, input: bytes | None = None, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """Run the program. ``WLK_TEST_THREADS=N`` in the environment runs the model with N threads (CI runs
    the real-model tests again with one thread: the results must not hang on the last bit of a float)."""
    threads = os.environ.get("WLK_TEST_THREADS")
    if threads and args and args[0] in ("file", "listen") and "--threads" not in args:
        args = (args[0], "--threads", threads, *args[1:])
    return subprocess.run(
        [sys.executable, "-m", "wlk_cli", *args], input=input, capture_output=True, timeout=timeout, cwd=ROOT, **kw
    )


def one_line_error(r: subprocess.CompletedProcess[bytes], code: int, *needles: str) -> str:
    err = r.stderr.decode()
    assert r.returncode == code, (r.returncode, err)
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("wlk: error: ")
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def parse_jsonl(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def transcript(events: list[dict[str, Any]]) -> str:
    """The confirmed words' text (what the live pass confirmed)."""
    return "".join(w["text"] for e in events if e["type"] == "transcript" for w in e["confirmed"])


def final_text(events: list[dict[str, Any]]) -> str:
    """The text the stream ends with (the files' text): confirmed words replaced by final words."""
    from wlk_cli.sinks.jsonl import final_words

    return "".join(w["text"] for w in final_words(events))


def check_jsonl(events: list[dict[str, Any]]) -> None:
    """The public JSON-lines contract: transcript lines, and (with the final pass) final lines that each
    replace confirmed words shown and not replaced before; at the end every confirmed word is replaced
    exactly once, and the final words read in order."""
    from wlk_cli.sinks.jsonl import final_words

    assert events[0]["type"] == "session" and events[0]["version"] == 2
    assert events[-1]["type"] == "end"
    body = events[1:-1]
    assert all(e["type"] in ("transcript", "final") for e in body)
    assert [e["seq"] for e in body] == list(range(len(body)))
    ids = []  # every id given, in the order given: confirmed words and new final words
    shown: set[int] = set()
    for e in body:
        words = e["confirmed"] if e["type"] == "transcript" else e["words"]
        if e["type"] == "final":
            assert set(e["replaces"]) <= shown, "a final replaces only words shown and not replaced yet"
            check_times(e["words"])
            if e["kept_live"] is not None:  # the live words, with their ids, are final
                assert [w["id"] for w in words] == e["replaces"]
                words = []
            else:
                shown -= set(e["replaces"])
        ids += [w["id"] for w in words]
        shown |= {w["id"] for w in words}
        for w in words + e.get("tentative", []):
            assert set(w) == {"id", "start", "end", "text", "prob", "speaker"}
            assert 0 <= w["start"] < w["end"] and 0 <= w["prob"] <= 1  # no word has zero length
        assert all(w["id"] is None for w in e.get("tentative", []))
    assert ids == list(range(len(ids)))
    walls = [e["wall_s"] for e in body]
    assert walls == sorted(walls)
    confirmed = [w for e in body if e["type"] == "transcript" for w in e["confirmed"]]
    check_times(confirmed)
    assert events[-1]["stats"]["words"] == len(confirmed)
    if events[0].get("final") == "on":  # every utterance got its final: no confirmed word is left
        assert shown == {w["id"] for w in final_words(events)}
        kept = {i for e in body if e["type"] == "final" and e["kept_live"] for i in e["replaces"]}
        assert not (shown & {w["id"] for w in confirmed}) - kept
        check_times(final_words(events))


def check_times(words: list[dict[str, Any]]) -> None:
    """Confirmed words are in order and do not overlap: a word ends at or before the next one starts
    (times are rounded to the millisecond in the JSON), and none is committed twice on its own audio."""
    for a, b in zip(words, words[1:]):
        assert b["start"] >= a["end"] - 0.0015, (a, b)
    for i, w in enumerate(words):
        for p in words[max(0, i - 3) : i]:
            assert not (normalize(p["text"]) == normalize(w["text"]) and w["start"] < p["end"] - 0.0015), (p, w)


def lost_at_pauses(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Words shown tentative when an utterance ended that no confirmed word covers."""
    words = [w for e in events if e["type"] == "transcript" for w in e["confirmed"]]
    shown: list[dict[str, Any]] = []
    gone = []
    for e in events:
        if e["type"] != "transcript":
            continue
        if e["utterance_end"]:
            for t in shown:  # covered: a confirmed word overlaps its time (alignment moves words a little)
                if not any(w["start"] < t["end"] and w["end"] > t["start"] for w in words):
                    gone.append(t)
        shown = e["tentative"]
    return gone
