"""Naming live speakers from known voices' profiles (made-up unit embeddings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wlk_cli.diarization.attribution import SpeakerAttribution
from wlk_cli.diarization.diarizer import Turn
from wlk_cli.diarization.voices import Voice, name_speakers
from wlk_cli.events import Word


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs + (0.0,) * (4 - len(xs)), dtype=np.float64)
    return v / np.linalg.norm(v)


A, B, C = unit(1), unit(0, 1), unit(0, 0, 1)
VOICES = [Voice("Ana", A, 5.0, ("a.wav",), ""), Voice("Ben", B, 5.0, ("b.wav",), "")]


def test_each_speaker_within_the_limit_of_its_nearest_profile_gets_that_name() -> None:
    near_a = unit(1, 0.4)  # 0.07 from Ana
    also_a = unit(1, 0.3, 0.9)  # 0.40 from Ana: a second live speaker of Ana's voice (it opened apart)
    names = name_speakers({0: near_a, 3: also_a, 1: B, 2: C}, VOICES)
    assert names == {0: "Ana", 3: "Ana", 1: "Ben"}  # C is near no profile: unnamed


def test_a_speaker_near_no_profile_or_only_near_one_unasked_for_stays_unnamed() -> None:
    assert name_speakers({0: C, 1: unit(1, 0, 2)}, VOICES) == {}  # 0.55 from Ana
    assert name_speakers({0: A}, VOICES[1:]) == {}


def test_two_speakers_named_alike_keep_the_name_and_their_earlier_words_take_it() -> None:
    a = SpeakerAttribution()
    a.add_turns([Turn(0.0, 1.0, 0), Turn(1.0, 2.0, 2), Turn(2.0, 3.0, 1)], decided_until=3.0)
    out = a.assign([Word(s + 0.1, s + 0.5, f" w{i}", 0.9, None, i) for i, s in enumerate((0.0, 1.0, 2.0))])
    assert [w.speaker for w in out] == ["S1", "S2", "S3"]
    changed = a.name({0: "Ana"})
    assert changed == [(0, "Ana")]
    changed = a.name({0: "Ana", 2: "Ana"})  # speaker 2 is Ana's voice too: Ana keeps speaker 0
    assert changed == [(1, "Ana")]
    assert a.label(0) == a.label(2) == "Ana" and a.label(1) == "S3"


def test_a_label_freed_by_naming_is_given_to_the_next_unknown_voice() -> None:
    a = SpeakerAttribution()
    a.add_turns([Turn(0.0, 1.0, 0), Turn(1.0, 2.0, 1)], decided_until=2.0)
    assert (a.label(0), a.label(1)) == ("S1", "S2")
    a.name({0: "Ana"})
    a.add_turns([Turn(2.0, 3.0, 2), Turn(3.0, 4.0, 3)], decided_until=4.0)
    assert [a.label(k) for k in range(4)] == ["Ana", "S2", "S1", "S3"]  # none of S1.. missing, S2 kept


def test_turns_sent_before_a_speaker_is_named_are_sent_again_with_the_name(tmp_path: Path) -> None:
    """As the TUI's `n` does mid-session: the RTTM written by the file sink carries the name, not S2."""
    from wlk_cli.pipeline import Emitter, StreamMetrics
    from wlk_cli.sinks.files import FileSink

    class Feed:
        def wall_now(self) -> float:
            return 0.0

    def rttm() -> list[tuple[str, str, str]]:
        sink.write()
        return [(x.split()[7], x.split()[3], x.split()[4]) for x in (tmp_path / "talk.rttm").read_text().splitlines()]

    sink = FileSink(tmp_path, "talk", ["rttm"], "tiny.en")
    a = SpeakerAttribution()
    emitter = Emitter(Feed(), sink, StreamMetrics(), lambda: None, a)  # type: ignore[arg-type]
    emitter.speakers([([Turn(0.0, 1.0, 0), Turn(1.5, 2.0, 1)], 2.0)])
    assert [t[0] for t in rttm()] == ["S1", "S2"]
    emitter.speakers([{1: "Ana"}, ([Turn(2.5, 3.0, 1)], 3.0)])
    assert rttm() == [("S1", "0.000", "1.000"), ("Ana", "1.500", "0.500"), ("Ana", "2.500", "0.500")]
    emitter.speakers([{1: "Ana"}, ([Turn(3.5, 4.0, 2)], 4.0)])  # nothing renamed: nothing sent again
    assert rttm()[3:] == [("S2", "3.500", "0.500")]  # S2 was freed by the naming: the next voice has it
