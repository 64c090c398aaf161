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
        "refined": False,
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
    # two voices at once, decided in half-second steps: two overlapping lines, not 23 alternating ones
    both = [SpeakerTurn(10 + k / 2, 10.5 + k / 2, spk) for k in range(12) for spk in ("S1", "S2")]
    lines = [line.split() for line in render_rttm(both, "x").splitlines()]
    assert [(x[3], x[4], x[7]) for x in lines] == [("10.000", "6.000", "S1"), ("10.000", "6.000", "S2")]


def test_the_status_line_shows_a_files_pace_but_not_a_live_sources() -> None:
    from wlk_cli.events import StatusEvent
    from wlk_cli.sinks.terminal import status_text

    ev = StatusEvent(wall_s=10.0, audio_s=12.0, lag_s=0.3)
    assert "read at 1.20x" in status_text(ev).plain
    live = status_text(ev, live=True).plain
    assert "read at" not in live and "12.0 s" in live and "lag" in live
    behind = dataclasses.replace(ev, diarization_lag_s=42.5)  # speakers far behind the words
    assert "speakers lag 42.5 s" in status_text(behind).plain


def test_subtitles_have_no_lone_words_and_never_overlap() -> None:
    from wlk_cli.sinks.segments import MIN_CUE_S, shown

    # "So" then a 1 s pause, a sentence, a word said alone between long pauses, a quick next sentence
    ws = [Word(0.0, 0.3, " So", 0.9)]
    ws += words_of(" we went home early.", None)
    ws = [ws[0]] + [dataclasses.replace(w, start=w.start + 0.8, end=w.end + 0.8) for w in ws[1:]]
    ws += [Word(6.0, 6.3, " Hello?", 0.9), Word(8.5, 8.8, " Yes.", 0.9), Word(8.9, 9.2, " Go", 0.9)]
    cues = group(ws)
    assert [c.text for c in cues] == ["So we went home early.", "Hello?", "Yes. Go"], [c.text for c in cues]
    times = shown(cues)
    assert times[1] == (6.0, 6.0 + MIN_CUE_S)  # a short cue stays up long enough to read...
    assert times[1][1] <= times[2][0]  # ...but never over the next one
    for (_, end), nxt in zip(times, times[1:]):
        assert end <= nxt[0]
    check_cues(parse_srt(render_srt(ws)))


def test_txt_paragraphs_break_at_long_pauses_and_speakers_not_sentences() -> None:
    text = render_txt(WORDS)  # one speaker, no pause of 2 s: one paragraph of several sentences
    assert len(text.strip().splitlines()) == 1 and text.count(".") == 4
    paused = words_of(TEXT, pause_after={20})
    paused = [
        dataclasses.replace(w, start=w.start + 1.5, end=w.end + 1.5) if i > 20 else w for i, w in enumerate(paused)
    ]
    assert len(render_txt(paused).strip().splitlines()) == 2


def test_text_mode_names_speakers_and_prints_a_line_once_its_speakers_are_decided() -> None:
    from rich.console import Console

    from wlk_cli.events import StatusEvent
    from wlk_cli.sinks.terminal import TerminalSink

    out = io.StringIO()
    sink = TerminalSink(Console(file=out, width=100, force_terminal=False))
    sink.start(SessionInfo("x.wav", {"diarization": True}))
    said = (Word(0.2, 0.5, " Hello", 0.9, "S1", 0), Word(0.5, 1.0, " there.", 0.9, "S1", 1))
    sink.transcript(TranscriptEvent(0, 1.2, 1.2, said, ()))
    sink.status(StatusEvent(wall_s=3.0, audio_s=3.0, lag_s=0.0, diarization_lag_s=2.5))
    assert "Hello" not in out.getvalue()  # its speaker may still change: it waits on the redrawn lines
    sink.speakers(SpeakersEvent(1, 3.1, ((0, "S2"), (1, "S2"))))
    sink.status(StatusEvent(wall_s=6.0, audio_s=6.0, lag_s=0.0, diarization_lag_s=2.5))
    assert "[S2] Hello there." in out.getvalue() and "S1" not in out.getvalue()
    turn = (
        Word(2.0, 2.3, " Yes", 0.9, "S1", 2),
        Word(2.3, 2.6, " and", 0.9, "S1", 3),
        Word(2.7, 3.0, " no.", 0.9, "S2", 4),
    )
    sink.transcript(TranscriptEvent(1, 3.2, 3.2, turn, ()))
    sink.end(stats())
    assert "[S1] Yes and [S2] no." in out.getvalue()  # a change of colour inside a line says who speaks


def test_text_mode_on_a_terminal_shows_arabic_shaped_and_right_aligned() -> None:
    from rich.console import Console

    from wlk_cli.sinks.terminal import TerminalSink

    out = io.StringIO()
    sink = TerminalSink(Console(file=out, width=60, force_terminal=True, color_system=None))
    sink.start(SessionInfo("x.wav", {}))
    said = tuple(Word(0.1 + i, 0.5 + i, " " + x, 0.9, None, i) for i, x in enumerate("مرحبا بكم في الدرس.".split()))
    sink.transcript(TranscriptEvent(0, 5.0, 5.0, said, ()))
    sink.end(stats())
    import re

    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # without the cursor's escapes
    line = next(x for x in shown.splitlines() if any("\ufe70" <= c <= "\ufeff" for c in x))
    assert len(line) - len(line.lstrip()) > 20  # right-aligned in 60 columns
    assert "مرحبا" not in line  # shaped letter forms in visual order, not the logical text
