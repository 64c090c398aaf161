"""diart's streaming pipeline on the local models, on a dialogue with exact speaker labels."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import clips
from wlk_cli.diarization.diarizer import DiarizationModels, DiarizationOptions, StreamingDiarizer
from wlk_cli.diarization.refine import RefineOptions, refine

MODELS = DiarizationModels()  # loaded once for the module, as an engine does


def run(audio: np.ndarray, opts: DiarizationOptions | None = None, refined: bool = False) -> list:  # type: ignore[type-arg]
    """diart's turns, or with ``refined`` those of a refine at the end (the live ones when it is gated)."""
    d = StreamingDiarizer(MODELS, opts or DiarizationOptions())
    turns = []
    for k in range(0, audio.size, 1600):
        turns += d.process(audio[k : k + 1600])
    turns += d.finish()
    if refined:
        r = refine(d.log, RefineOptions(num_speakers=d.opts.num_speakers))
        return r.turns if r is not None else turns
    return turns


def test_two_speakers_are_found_in_a_dialogue() -> None:
    a = sf.read(clips()[0][0], dtype="float32")[0]
    b = sf.read(clips()[1][0], dtype="float32")[0]
    gap = np.zeros(8000, dtype=np.float32)
    turns = run(np.concatenate([gap, a, gap, b, gap, a[:48000], gap]))
    speech = [t for t in turns if t.end - t.start > 0.05]
    assert len({t.speaker for t in speech}) == 2, turns
    assert all(0 <= t.start < t.end for t in turns)
    assert speech[0].start < 1.5 and speech[-1].end > (3 * gap.size + a.size + b.size) / 16000


def first_speech_s(audio: np.ndarray) -> float:
    """Where speech starts in a one-speaker clip (Silero VAD, Silero's default settings)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(threshold=0.5, min_speech_duration_ms=250, min_silence_duration_ms=100, speech_pad_ms=30)
    return float(get_speech_timestamps(audio, opts)[0]["start"]) / 16000


def switch_error(i: int, j: int) -> tuple[int, float]:
    """Speaker i then speaker j: how many speakers were found, and how far from the start of j's speech
    (seconds) the first turn of another speaker than the first one starts."""
    a = sf.read(clips()[i][0], dtype="float32")[0]
    b = sf.read(clips()[j][0], dtype="float32")[0]
    gap = np.zeros(8000, dtype=np.float32)
    onset = (gap.size + a.size + gap.size) / 16000 + first_speech_s(b)
    speech = [t for t in run(np.concatenate([gap, a, gap, b, gap])) if t.end - t.start > 0.05]
    first = next(t.speaker for t in speech if t.start < onset - 1.5)
    switch = min((t.start for t in speech if t.speaker != first), default=float("inf"))
    return len({t.speaker for t in speech}), switch - onset


@pytest.mark.parametrize("i,j", [(2, 3), (3, 4), (4, 2), (1, 0), (1, 3)])
def test_two_speakers_found_and_the_turn_boundary_within_a_second(i: int, j: int) -> None:
    found, error = switch_error(i, j)
    assert found == 2 and abs(error) <= 1.0, (found, error)


@pytest.mark.xfail(
    strict=True, reason="segmentation-3.0 joins the last phrase of clip 0 with the next speaker (docs/STATUS.md)"
)
def test_known_miss_the_end_of_clip_0_goes_to_the_next_speaker() -> None:
    found, error = switch_error(0, 1)
    assert found == 2 and abs(error) <= 1.0, (found, error)


def confusion_s(turns: list, spans: list[tuple[float, float, int]]) -> float:  # type: ignore[type-arg]
    """Seconds of the spans' time labelled with another speaker than the one that has most of the
    span's true speaker's time (the best one-to-one mapping for two speakers)."""
    share: dict[tuple[int, int], float] = {}
    for t in turns:
        for a, b, who in spans:
            o = min(t.end, b) - max(t.start, a)
            if o > 0:
                share[(who, t.speaker)] = share.get((who, t.speaker), 0.0) + o
    speakers = {k for _, k in share}
    best = max((share.get((0, x), 0.0) + share.get((1, y), 0.0), x, y) for x in speakers for y in speakers if x != y)
    return sum(share.values()) - best[0]


def test_refine_gives_the_end_of_clip_0_back_to_its_speaker() -> None:
    """The known miss above, with the whole dialogue heard: refine takes most of it back."""
    a, b = (sf.read(clips()[k][0], dtype="float32")[0] for k in (0, 1))
    gap = np.zeros(8000, dtype=np.float32)
    parts, spans, t = [], [], 0.0
    for who, x in ((0, a), (1, b), (0, a), (1, b)):
        parts += [gap, x]
        spans.append((t + 0.5, t + 0.5 + x.size / 16000, who))
        t += 0.5 + x.size / 16000
    audio = np.concatenate([*parts, gap])
    live, refined = confusion_s(run(audio), spans), confusion_s(run(audio, refined=True), spans)
    assert refined <= 0.6 and refined < live / 2, (live, refined)


def test_num_speakers_with_refine_keeps_an_a_b_a_dialogue_two_voices() -> None:
    a, b = (sf.read(clips()[k][0], dtype="float32")[0] for k in (0, 1))
    gap = np.zeros(8000, dtype=np.float32)
    turns = run(np.concatenate([gap, a, gap, b, gap, a, gap, b, gap]), DiarizationOptions(num_speakers=2), refined=True)
    talk = {t.speaker: 0.0 for t in turns}
    for t in turns:
        talk[t.speaker] += t.end - t.start
    assert len(talk) == 2 and min(talk.values()) > 6.0, talk


def test_never_more_speakers_than_allowed() -> None:
    a, b, c = (sf.read(clips()[k][0], dtype="float32")[0] for k in (2, 3, 4))
    gap = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([gap, a, gap, b, gap, c, gap])
    free = {t.speaker for t in run(audio) if t.end - t.start > 0.05}
    assert len(free) == 3, free
    for opts in (DiarizationOptions(max_speakers=2), DiarizationOptions(num_speakers=2)):
        turns = run(audio, opts)
        speakers = {t.speaker for t in turns}
        # diart folds the third voice into the two it may keep, or leaves parts of it unlabelled
        assert speakers <= {0, 1} and len(speakers) == 2 and sum(t.end - t.start for t in turns) > 5, turns
