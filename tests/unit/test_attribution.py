from wlk_cli.diarization.attribution import SpeakerAttribution
from wlk_cli.diarization.diarizer import Turn
from wlk_cli.events import Word


def word(i: int, start: float, end: float) -> Word:
    return Word(start, end, f" w{i}", 0.9, None, i)


def test_the_speaker_that_overlaps_most_wins_and_labels_follow_first_appearance() -> None:
    a = SpeakerAttribution()
    a.add_turns([Turn(0.0, 2.0, 4), Turn(2.0, 5.0, 1)], decided_until=5.0)
    out = a.assign([word(0, 0.5, 0.9), word(1, 1.8, 2.6), word(2, 3.0, 3.4)])
    assert [w.speaker for w in out] == ["S1", "S2", "S2"]  # diart's 4 came first: S1


def test_provisional_label_then_a_revision_when_turns_are_decided() -> None:
    a = SpeakerAttribution()
    a.add_turns([Turn(0.0, 3.0, 0)], decided_until=3.0)
    out = a.assign([word(0, 3.2, 3.5), word(1, 3.6, 3.9)])
    assert [w.speaker for w in out] == ["S1", "S1"]  # nearest decided turn, for now
    assert a.revisions() == []  # not decided yet
    a.add_turns([Turn(3.0, 3.55, 0), Turn(3.55, 6.0, 1)], decided_until=6.0)
    assert a.revisions() == [(1, "S2")]
    assert a.revisions() == []  # reported once


def test_names_replace_labels_in_order() -> None:
    a = SpeakerAttribution(names=["Alice", "Bob"])
    a.add_turns([Turn(0, 1, 7), Turn(1, 2, 3), Turn(2, 3, 9)], decided_until=3.0)
    out = a.assign([word(0, 0.1, 0.5), word(1, 1.1, 1.5), word(2, 2.1, 2.5)])
    assert [w.speaker for w in out] == ["Alice", "Bob", "S3"]


def test_no_turns_means_no_label_and_finish_settles_everything() -> None:
    a = SpeakerAttribution()
    out = a.assign([word(0, 0.1, 0.4)])
    assert out[0].speaker is None
    a.add_turns([Turn(0.0, 1.0, 2)])
    assert a.finish() == [(0, "S1")]
