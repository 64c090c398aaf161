"""The offline decoding's coverage check (`asr/offline.py`) on a scripted Whisper and a made-up VAD."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tests.fakes import SR, ScriptedWhisper, marker_audio
from wlk_cli.asr.offline import CONTEXT_S, SKIP_S, OfflineDecoder, Stretch, join_clips, stretched, unheard
from wlk_cli.events import Word
from wlk_cli.vad import WINDOW

W = WINDOW / SR  # one Silero window, 32 ms


def speech_mask(total_s: float, *spans: tuple[float, float]) -> np.ndarray:
    """Silero's decision per window: speech inside ``spans`` (seconds)."""
    centres = (np.arange(int(total_s / W)) + 0.5) * W
    out = np.zeros(centres.size, dtype=bool)
    for a, b in spans:
        out |= (centres >= a) & (centres < b)
    return out


def word(start: float, end: float, text: str | None = None) -> Word:
    """A word; by default with as many letters as a word of its length has (10 a second)."""
    return Word(start, end, text or " " + "a" * max(1, round((end - start) * 10)), 0.9)


def test_speech_without_words_is_found_between_words_and_under_a_stretched_word() -> None:
    speech = speech_mask(10.0, (0.0, 8.0))
    words = [word(0.0, 2.0), word(3.6, 8.0)]
    (s,) = unheard(speech, words)
    assert abs(s.start - 2.2) < 2 * W and abs(s.end - 3.4) < 2 * W and 1.0 <= s.speech_s <= 1.3
    assert unheard(speech, [word(0.0, 2.0), word(2.5, 3.0), word(3.1, 8.0)]) == []  # every gap under 1 s
    # a short word stretched over 3 s of speech (its times span words Whisper skipped) covers its ends only
    (s,) = unheard(speech, [word(0.0, 2.0), word(2.0, 5.0, " the"), word(5.0, 8.0)])
    assert 2.0 < s.start < 2.5 and 4.5 < s.end < 5.0
    assert stretched(word(2.0, 5.0, " the")) and not stretched(word(2.0, 3.4, " acquaintance."))


def test_silence_and_short_speech_between_words_are_not_unheard() -> None:
    speech = speech_mask(20.0, (0.0, 2.0), (2.4, 2.9), (12.0, 14.0))  # 0.5 s of speech in a 10 s gap
    assert unheard(speech, [word(0.0, 2.0), word(12.0, 14.0)]) == []
    assert unheard(speech, [word(0.0, 2.0), word(12.0, 14.0)], min_s=0.4) == [Stretch(2.4, 2.912, 0.512)]


def clips_of(*spans: tuple[float, float]) -> Callable[[np.ndarray], list[float]]:
    """Where a made-up VAD hears speech in any audio: ``spans`` as the decoder joins them."""
    return lambda audio: join_clips(spans, audio.size / SR)


WORDS = [(0.2 + 0.5 * i, 0.6 + 0.5 * i, f" w{i}") for i in range(40)]  # 20 s of words, 0.1 s apart
SPEECH = ((0.2, 20.2),)


def test_skipped_words_are_decoded_again_and_put_in_their_place() -> None:
    whisper = ScriptedWhisper(WORDS, deaf=[(8.0, 10.5)])
    decoder = OfflineDecoder(whisper, vad=None, clips=clips_of(*SPEECH))  # type: ignore[arg-type]
    audio = marker_audio(0, 21 * SR)
    first = decoder._transcribe(audio, "en", "Before.", filter_silence=True)[0]
    assert [w.text for w in first] == [t for a, b, t in WORDS if not 7.6 < a < 10.5]
    out = decoder.refill(audio, first, "en", "Before.", speech=speech_mask(21.0, *SPEECH))
    assert [w.text for w in out.words] == [t for _, _, t in WORDS]
    assert [w.id for w in out.words] == list(range(len(WORDS)))
    assert out.refilled == 1 and out.refilled_words == 6 and out.unheard_s == 0.0
    # one clip around the stretch (no pause in this speech: CONTEXT_S either side), prompted with the text before it
    lo, hi, prompt = whisper.calls[-1]
    assert lo >= 7.7 - CONTEXT_S - 0.5 and hi <= 10.6 + CONTEXT_S + 0.5
    before = "".join(t for a, b, t in WORDS if b <= lo)
    assert prompt == ("Before." + before).strip()


def test_a_decode_that_hears_no_more_keeps_the_words_and_reports_the_speech_left() -> None:
    whisper = ScriptedWhisper(WORDS, deaf=[(8.0, 10.5)], deaf_over_s=0.0)  # deaf whatever it is given
    decoder = OfflineDecoder(whisper, vad=None, clips=clips_of(*SPEECH))  # type: ignore[arg-type]
    audio = marker_audio(0, 21 * SR)
    first = decoder._transcribe(audio, "en", None, filter_silence=True)[0]
    out = decoder.refill(audio, first, "en", speech=speech_mask(21.0, *SPEECH))
    assert [w.text for w in out.words] == [w.text for w in first]
    assert out.refilled == 0 and 2.0 <= out.unheard_s <= 3.0


def test_the_clip_decoded_again_runs_from_pause_to_pause() -> None:
    words = [(0.2 + 0.5 * i, 0.6 + 0.5 * i, f" w{i}") for i in range(40) if not 5.0 < 0.2 + 0.5 * i < 5.6]
    whisper = ScriptedWhisper(words, deaf=[(8.0, 10.5)])
    decoder = OfflineDecoder(whisper, vad=None, clips=clips_of(*SPEECH))  # type: ignore[arg-type]
    audio = marker_audio(0, 21 * SR)
    first = decoder._transcribe(audio, "en", None, filter_silence=True)[0]
    out = decoder.refill(audio, first, "en", speech=speech_mask(21.0, (0.2, 5.0), (5.6, 20.2)))
    assert [w.text for w in out.words] == [t for _, _, t in words]
    lo, hi, _ = whisper.calls[-1]
    assert 5.0 < lo < 5.6  # the pause before the stretch, not CONTEXT_S before it


def test_only_long_silences_are_skipped_and_the_speech_is_decoded_where_it_is() -> None:
    """faster-whisper's filter splices the speech it keeps: tiny.en lost words of long.wav to a 0.05 s cut
    and a 0.28 s lead-in. Silence is skipped only where SKIP_S of it is left, at the start and end too."""
    assert join_clips([], 30.0) == []
    assert join_clips([(0.28, 13.93), (13.98, 57.57)], 57.6) == [0.0, 57.6]
    assert join_clips([(3.0, 10.0), (11.5, 20.0), (80.0, 90.0)], 91.0) == [3.0, 20.0, 80.0, 91.0]
    assert join_clips([(0.5, 10.0)], 10.0 + SKIP_S + 0.1) == [0.0, 10.0]
    words = [*WORDS[:10], (65.0, 65.4, " after"), (65.5, 66.0, " silence.")]
    whisper = ScriptedWhisper([*words, (30.0, 30.4, " unheard")])  # in the skipped silence: not decoded
    decoder = OfflineDecoder(whisper, vad=None, clips=clips_of((0.2, 5.2), (65.0, 66.0)))  # type: ignore[arg-type]
    out = decoder._transcribe(marker_audio(0, 70 * SR), "en", None, filter_silence=True)[0]
    assert [w.text for w in out] == [t for _, _, t in words]
    assert (out[-1].start, out[-1].end) == (65.5, 66.0)  # in the file's time: nothing was cut out
    assert len(whisper.calls) == 1
    silent = OfflineDecoder(ScriptedWhisper(words), vad=None, clips=clips_of())  # type: ignore[arg-type]
    assert silent._transcribe(marker_audio(0, 70 * SR), "en", None, filter_silence=True)[0] == []
