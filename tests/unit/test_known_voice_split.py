"""The known-voice split (wlk_cli/diarization/split.py): where a cut is tried, what Silero's track says,
and that a local speaker is split only when its parts are two known voices (segmentation and embedding
are fakes here; the real models on a real dialogue are in tests/integration/test_speakers.py)."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from tests.helpers import clips
from wlk_cli.diarization.split import KnownVoiceSplit, SpeechTrack, cuts, two_known_voices
from wlk_cli.vad import WINDOW, SileroModel, SileroVAD

FRAMES = 500  # frames of the fake 5 s segmentation: 10 ms each
A, B, C = np.eye(4)[0], np.eye(4)[1], np.eye(4)[2]


def test_cuts_fall_in_the_middle_of_long_pauses_with_enough_speech_each_side() -> None:
    active = np.zeros(100, dtype=bool)
    active[10:40] = active[50:90] = True  # a 10-frame pause
    assert cuts(active, gap=5, side=20) == [44]
    assert cuts(active, gap=12, side=20) == []  # the pause is too short
    assert cuts(active, gap=5, side=35) == []  # too little speech before it
    active[95:98] = True  # a second pause, but only 3 frames after it
    assert cuts(active, gap=5, side=20) == [44]
    assert cuts(np.zeros(10, dtype=bool), 2, 2) == []


def test_two_known_voices_needs_two_different_profiles_or_a_known_and_an_unknown() -> None:
    profiles = np.stack([A, B])
    near_a = (A + 0.2 * C) / np.linalg.norm(A + 0.2 * C)
    assert two_known_voices(near_a, B, profiles, 0.5)
    assert not two_known_voices(near_a, A, profiles, 0.5)  # one voice twice
    assert two_known_voices(C, B, profiles, 0.5)  # C is near no profile: an unknown voice next to B
    assert not two_known_voices(C, C, profiles, 0.5)  # two unknown parts: nothing to go on
    assert not two_known_voices(np.full(4, np.nan), B, profiles, 0.5)


def test_the_speech_track_hears_speech_and_pauses_of_the_stream() -> None:
    speech = sf.read(clips()[0][0], dtype="float32")[0]
    stream = np.concatenate([np.zeros(16000, dtype=np.float32), speech])
    track = SpeechTrack(SileroModel(), keep_s=3.0)
    for k in range(0, stream.size, 7000):  # pieces that are not whole windows
        track.feed(stream[k : k + 7000])
    assert abs(track.heard_s - stream.size / 16000) < 0.04
    end = stream.size / 16000
    assert track.silent_at(np.array([0.5, -1.0, end + 1.0])).all()  # forgotten, before the start, not yet heard
    vad = SileroVAD(SileroModel())  # the same decisions made on the whole stream at once
    whole = np.array([vad(stream[i : i + WINDOW]) < 0.5 for i in range(0, stream.size - WINDOW + 1, WINDOW)])
    last = np.arange(whole.size - 90, whole.size)  # the last 2.9 s, kept
    assert np.array_equal(track.silent_at((last + 0.5) * WINDOW / 16000), whole[last])
    assert 0 < whole[last].sum() < last.size  # speech and a pause in them


class Track:
    """Silence outside the given frame ranges (of the fake chunk starting at 0)."""

    def __init__(self, *spans: tuple[int, int]) -> None:
        self.spans = spans

    def silent_at(self, times: np.ndarray) -> np.ndarray:
        f = times / 5.0 * FRAMES
        return ~np.any([(f >= a) & (f < b) for a, b in self.spans], axis=0)


def segmentation(*spans: tuple[int, int]) -> torch.Tensor:
    seg = torch.zeros(1, FRAMES, 3)
    for a, b in spans:
        seg[0, a:b, 0] = 1.0
    seg[0, 420:480, 1] = 1.0  # another local speaker, no pause in it
    return seg


def embedding_by_time(early: np.ndarray, late: np.ndarray):  # type: ignore[no-untyped-def]
    """A fake embedding block: a column whose activity lies mostly before frame 230 embeds as ``early``,
    after it as ``late``; an empty column as NaN (as diart's block gives); counts its calls."""
    calls = []

    def embed(batch: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        calls.append(seg.shape[2])
        out = torch.full((seg.shape[0], seg.shape[2], 4), float("nan"))
        for b in range(seg.shape[0]):
            for s in range(seg.shape[2]):
                w = seg[b, :, s].numpy()
                if w.sum() > 0:
                    centre = float((w * np.arange(FRAMES)).sum() / w.sum())
                    out[b, s] = torch.from_numpy(early if centre < 230 else late)
        return out

    embed.calls = calls  # type: ignore[attr-defined]
    return embed


Split = tuple[torch.Tensor, torch.Tensor, int, list[int]]


def split(early: np.ndarray, late: np.ndarray, spans: list[tuple[int, int]], profiles: tuple = (A, B)) -> Split:  # type: ignore[type-arg]
    """The fake chunk's segmentation, what the split made of it, the cuts kept, the embedding calls."""
    seg = segmentation(*spans)
    embed = embedding_by_time(early, late)
    s = KnownVoiceSplit(lambda batch: seg, embed, np.stack(profiles), 0.5, Track(*spans))  # type: ignore[arg-type]
    out = s(torch.zeros(1, 80000, 1))
    return seg, out, s.kept, embed.calls  # type: ignore[attr-defined]


def test_a_local_speaker_carrying_two_known_voices_is_split_at_the_pause() -> None:
    seg, out, kept, calls = split(A, B, [(50, 200), (275, 400)])  # 0.75 s of silence inside column 0
    assert kept == 1 and out.shape == (1, FRAMES, 4)
    assert out[0, 50:200, 0].eq(1).all() and out[0, 237:, 0].eq(0).all()  # the first voice keeps the column
    assert out[0, 275:400, 3].eq(1).all() and out[0, :237, 3].eq(0).all()  # the second gets a new one
    assert torch.equal(out[0, :, 1], seg[0, :, 1])
    assert calls == [4]  # one embedding of the parts decided it


def test_one_voice_across_a_pause_or_unknown_voices_leave_the_segmentation_as_it_was() -> None:
    for early, late in ((A, A), (C, C)):
        seg, out, kept, _ = split(early, late, [(50, 200), (275, 400)])
        assert out is seg and kept == 0, (early, late)
    seg, out, kept, _ = split(C, B, [(50, 200), (275, 400)])  # an unknown voice, then a known one: cut
    assert out is not seg and kept == 1


def test_one_profile_is_enough_to_cut_a_known_voice_from_an_unknown_one() -> None:
    seg, out, kept, _ = split(A, C, [(50, 200), (275, 400)], profiles=(A,))
    assert kept == 1 and out[0, 275:400, 3].eq(1).all() and out[0, 275:400, 0].eq(0).all()
    seg, out, kept, _ = split(C, B, [(50, 200), (275, 400)], profiles=(A,))  # two voices, neither known
    assert out is seg and kept == 0


def test_no_pause_long_enough_means_no_embedding_at_all() -> None:
    seg, out, kept, calls = split(A, B, [(50, 200), (220, 400)])  # 0.2 s apart: under PAUSE_S
    assert out is seg and kept == 0 and calls == []
