"""diart's streaming pipeline on the local models, on a dialogue with exact speaker labels."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import clips
from wlk_cli.diarization.diarizer import DiarizationOptions, StreamingDiarizer


def run(audio: np.ndarray) -> list:  # type: ignore[type-arg]
    d = StreamingDiarizer(DiarizationOptions())
    turns = []
    for k in range(0, audio.size, 1600):
        turns += d.process(audio[k : k + 1600])
    return turns + d.finish()


def test_two_speakers_are_found_in_a_dialogue() -> None:
    a = sf.read(clips()[0][0], dtype="float32")[0]
    b = sf.read(clips()[1][0], dtype="float32")[0]
    gap = np.zeros(8000, dtype=np.float32)
    turns = run(np.concatenate([gap, a, gap, b, gap, a[:48000], gap]))
    speech = [t for t in turns if t.end - t.start > 0.05]
    assert len({t.speaker for t in speech}) == 2, turns
    assert all(0 <= t.start < t.end for t in turns)
    assert speech[0].start < 1.5 and speech[-1].end > (3 * gap.size + a.size + b.size) / 16000


@pytest.mark.xfail(strict=True, reason="issue #4: defaults not tuned yet; the end of the first turn goes to speaker 2")
def test_two_speakers_found_and_the_turn_boundary_within_a_second() -> None:
    a = sf.read(clips()[0][0], dtype="float32")[0]
    b = sf.read(clips()[1][0], dtype="float32")[0]
    gap = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([gap, a, gap, b, gap])
    boundary = (gap.size + a.size + gap.size / 2) / 16000
    d = StreamingDiarizer(DiarizationOptions())
    turns = []
    for k in range(0, audio.size, 1600):
        turns += d.process(audio[k : k + 1600])
    turns += d.finish()
    speech = [t for t in turns if t.end - t.start > 0.05]
    speakers = {t.speaker for t in speech}
    assert len(speakers) == 2, turns
    first = next(t.speaker for t in speech if t.start < boundary - 1.5)
    switch = min(t.start for t in speech if t.speaker != first)
    assert abs(switch - boundary) <= 1.0, (switch, boundary, turns)
