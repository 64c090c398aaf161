from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

from tests.fakes import sentence_stream
from tests.formats import check_cues, parse_srt, parse_vtt
from wlk_cli.events import EndStats, SessionInfo, SpeakersEvent, TranscriptEvent, Word
from wlk_cli.sinks.files import FileSink, render_json, render_srt, render_txt, render_vtt
from wlk_cli.sinks.jsonl import JsonlSink
from wlk_cli.sinks.segments import group, wrap

TEXT = (
    " So we met on Tuesday to talk about the budget, and honestly it went better than I expected."
    " Then Maria asked whether the new schedule would work for everyone on the team. Nobody objected."
    " We agreed to meet again next week."
)


def words_of(text: str, pause_after: set[int] | None = None) -> list[Word]:
    out = []
    t = 0.5
    for i, tok in enumerate(text.split(" ")[1:]):
        out.append(Word(round(t, 3), round(t + 0.28, 3), " " + tok, 0.9, None, i))
        t += 0.32 + (1.0 if pause_after and i in pause_after else 0.0)
    return out


WORDS = words_of(TEXT, pause_after={4})


def stats() -> EndStats:
    return EndStats(12.0, 3.0, 0.25, 2.0, len(WORDS), 1.0, 0.9, 1.5, 0.8, 0.3, 0.0, "en")


def test_srt_reads_back_and_follows_cue_conventions(golden) -> None:  # type: ignore[no-untyped-def]
    text = render_srt(WORDS)
    cues = parse_srt(text)
    check_cues(cues)
    assert " ".join(" ".join(c.lines) for c in cues) == TEXT.strip()
    golden("sample.srt", text)


def test_vtt_reads_back(golden) -> None:  # type: ignore[no-untyped-def]
    text = render_vtt(WORDS)
    cues = parse_vtt(text)
    check_cues(cues)
    golden("sample.vtt", text)


def test_cues_break_at_sentences_pauses_and_speakers() -> None:
    cues = group(WORDS)
    assert cues[0].text.endswith("Tuesday")  # pause after the 5th word
    assert all(c.words[-1] is not None for c in cues)
    sentence_ends = [c for c in cues if c.text.endswith((".", "?", "!"))]
    assert len(sentence_ends) >= 3
    two = [Word(0, 0.3, " hi", 0.9, "S1"), Word(0.3, 0.6, " there", 0.9, "S2")]
    assert len(group(two)) == 2


def test_wrap_balances_two_lines() -> None:
    s = wrap("Then Maria asked whether the new schedule would work for everyone")
    a, b = s.split("\n")
    assert len(a) <= 42 and len(b) <= 42 and abs(len(a) - len(b)) < 12


def test_json_has_verbose_json_shape(golden) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(render_json(WORDS, {"language": "en", "model": "tiny.en", "duration": 12.0}))
    assert doc["text"] == TEXT
    assert doc["language"] == "en" and doc["model"] == "tiny.en" and doc["duration"] == 12.0
    assert "".join(s["text"] for s in doc["segments"]) == TEXT
    for s in doc["segments"]:
        assert (
            s["start"] <= s["end"]
            and s["words"]
            and {"start", "end", "word", "probability", "speaker"} <= set(s["words"][0])
        )
    assert doc["speakers"] == []
    golden("sample.json", render_json(WORDS, {"language": "en", "model": "tiny.en", "duration": 12.0}))


def test_txt(golden) -> None:  # type: ignore[no-untyped-def]
    text = render_txt(WORDS)
    assert text.replace("\n", " ").split() == TEXT.split()
    golden("sample.txt", text)


def test_file_sink_leaves_valid_files_at_every_moment(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, "talk", ["srt", "vtt", "json", "txt"], "tiny.en")
    sink.start(SessionInfo("talk.wav", {}))
    assert not list(tmp_path.iterdir()), "nothing is written before there is something to write"
    half = len(WORDS) // 2
    sink.transcript(TranscriptEvent(0, 1.0, 5.0, tuple(WORDS[:half]), ()))
    # first write happens at once; every file is complete and parses
    check_cues(parse_srt((tmp_path / "talk.srt").read_text()))
    check_cues(parse_vtt((tmp_path / "talk.vtt").read_text()))
    assert len(json.loads((tmp_path / "talk.json").read_text())["segments"]) >= 1
    sink.transcript(TranscriptEvent(1, 2.0, 10.0, tuple(WORDS[half:]), ()))
    sink.end(stats())
    doc = json.loads((tmp_path / "talk.json").read_text())
    assert doc["text"] == TEXT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.json", "talk.srt", "talk.txt", "talk.vtt"]
    mask = os.umask(0)
    os.umask(mask)
    assert ((tmp_path / "talk.srt").stat().st_mode & 0o777) == 0o666 & ~mask  # like any file the user writes


def test_jsonl_lines(golden) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    sink = JsonlSink(out)
    sink.start(SessionInfo("x.wav", {"model": "tiny.en"}))
    sink.transcript(TranscriptEvent(0, 1.25, 1.5, tuple(WORDS[:2]), (Word(1.2, 1.4, " tent", 0.4),)))
    sink.end(stats())
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["type"] for x in lines] == ["session", "transcript", "end"]
    assert lines[1]["tentative"][0]["id"] is None and lines[1]["confirmed"][1]["id"] == 1
    golden("sample.jsonl", out.getvalue())


def test_stream_words_make_monotonic_cues() -> None:
    words = [Word(s, e, t, 0.9) for s, e, t in sentence_stream(200)]
    check_cues(parse_srt(render_srt(words)))


def with_speakers() -> list[Word]:
    """The sample as a dialogue: S1 until "Then", S2 for Maria's question, S1 again at the end."""
    out, speaker = [], "S1"
    for word in WORDS:
        if word.text == " Then":
            speaker = "S2"
        if word.text == " We":
            speaker = "S1"
        out.append(dataclasses.replace(word, speaker=speaker))
    return out


def test_speaker_labels_in_srt_vtt_json(golden) -> None:  # type: ignore[no-untyped-def]
    words = with_speakers()
    srt = render_srt(words)
    cues = parse_srt(srt)
    check_cues(cues)
    assert all(c.lines[0].startswith(("[S1] ", "[S2] ")) for c in cues)
    vtt = render_vtt(words)
    assert "<v S2>Then Maria asked" in vtt
    doc = json.loads(render_json(words, {"language": "en", "model": "tiny.en", "duration": 12.0}))
    assert [s["speaker"] for s in doc["segments"]][-1] == "S1"
    assert doc["speakers"] == [{"id": "S1", "label": "S1"}, {"id": "S2", "label": "S2"}]
    golden("speakers.srt", srt)
    golden("speakers.vtt", vtt)


def test_speaker_revisions_reach_files_and_jsonl(tmp_path: Path) -> None:
    words = with_speakers()
    sink = FileSink(tmp_path, "talk", ["srt", "json"], "tiny.en")
    sink.transcript(TranscriptEvent(0, 1.0, 5.0, tuple(words), ()))
    sink.speakers(SpeakersEvent(1, 2.0, tuple((w.id, "S3") for w in words if w.speaker == "S2")))
    sink.end(stats())
    doc = json.loads((tmp_path / "talk.json").read_text())
    assert {s["speaker"] for s in doc["segments"]} == {"S1", "S3"}
    assert "[S3] Then Maria asked" in (tmp_path / "talk.srt").read_text()
    out = io.StringIO()
    JsonlSink(out).speakers(SpeakersEvent(7, 3.25, ((4, "S2"), (5, "S2"))))
    assert json.loads(out.getvalue()) == {
        "type": "speakers",
        "seq": 7,
        "wall_s": 3.25,
        "updates": [{"id": 4, "speaker": "S2"}, {"id": 5, "speaker": "S2"}],
    }


def test_rttm_merges_touching_turns(golden) -> None:  # type: ignore[no-untyped-def]
    from wlk_cli.events import SpeakerTurn
    from wlk_cli.sinks.files import render_rttm

    turns = [
        SpeakerTurn(0.5, 1.0, "S1"),
        SpeakerTurn(1.0, 1.5, "S1"),
        SpeakerTurn(1.5, 3.25, "S2"),
        SpeakerTurn(4.0, 4.5, "S1"),
        SpeakerTurn(4.5, 4.5, "S2"),
    ]
    text = render_rttm(turns, "my talk")
    lines = [line.split() for line in text.splitlines()]
    assert [(x[3], x[4], x[7]) for x in lines] == [
        ("0.500", "1.000", "S1"),
        ("1.500", "1.750", "S2"),
        ("4.000", "0.500", "S1"),
    ]
    assert all(x[0] == "SPEAKER" and x[1] == "my_talk" and len(x) == 10 for x in lines)
    golden("speakers.rttm", text)
