"""Offline decoding: a whole recording (`wlk transcribe`, the server's file endpoint) or one closed
utterance (the final pass), the way Whisper decodes a file: beam 5, word timestamps, Whisper's own
temperature fallback, the text before it as its prompt.

Then the coverage check, so that nothing heard is lost: Whisper can skip words, most often where a 30 s
window ends (on long.wav, with Silero's filter, tiny.en wrote "At the lives" for "At the Emerald City,
where our Princess Ozma lives"). Any stretch that Silero calls speech, of at least ``GAP_S`` seconds, with
no word on it is decoded again on its own, and its words are put in their place in time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlk_cli.asr.base import PROMPT_CHARS
from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.events import Word
from wlk_cli.vad import WINDOW, SileroModel, speech_windows

OFFLINE_BEAMS = 5  # faster-whisper's own default: the reference the streaming benchmarks use
# Silero's filter keeps 1 s of audio around speech (faster-whisper's default keeps 0.4 s): on the corpus
# and long.wav, pooled WER tiny.en 14.5% (0.4 s: 15.7%, no filter: 15.3%), base 19.5% (20.2%, 23.2%:
# without the filter base invents text in a 60 s silence)
VAD_PAD_MS = 1000
# A silence is skipped only where this much of it is left beyond that padding (at the file's start and
# end too); the speech between is decoded in place, not spliced: faster-whisper's filter joins the speech
# it keeps, and tiny.en heard long.wav 3.9% as it is, 10.2% spliced (0.05 s cut at 13.9 s, 0.28 s at the
# start), 5.5% from 0.1 s
SKIP_S = 2.0
GAP_S = 1.0  # this much speech with no word on it is decoded again
WORD_REACH_S = 0.2  # a word's times are approximate: it covers this much audio on either side
# A word longer than this (seconds, by its letters) is stretched over audio it does not hold: the
# alignment gave "the" 2.0 s where the words skipped were said. It covers only its two ends.
STRETCHED_S = 1.0
STRETCHED_S_PER_LETTER = 0.15
PAUSE_S = 0.25  # a stretch is decoded again from the middle of the pause this long before it ...
CONTEXT_S = 6.0  # ... looked for this far away at most (then cut there)
_WINDOW_S = WINDOW / SAMPLE_RATE
_LEAD_S = 0.5  # Silero hears this much audio before a stretch it decides on (its state settles)


@dataclass(frozen=True)
class Stretch:
    """Speech without words: seconds from the start of the audio, and how much of it Silero heard."""

    start: float
    end: float
    speech_s: float


@dataclass
class Decoded:
    """What an offline decoding heard: its words (times from the start of the audio given), their
    language, and what the coverage check did."""

    words: list[Word]
    language: str | None
    refilled: int = 0
    """Stretches of speech without words that were decoded again and gave words."""
    refilled_words: int = 0
    unheard_s: float = 0.0
    """Seconds of speech still without words (in stretches of GAP_S or more) after that."""


def coverage(decoded: Decoded) -> dict[str, Any]:
    """The end statistics of the coverage check."""
    return {
        "speech_without_words_s": round(decoded.unheard_s, 3),
        "refilled": decoded.refilled,
        "refilled_words": decoded.refilled_words,
    }


def stretched(w: Word) -> bool:
    """Whether ``w`` lasts longer than its letters could be said in (its times span skipped words)."""
    letters = sum(c.isalnum() for c in w.text)
    return w.end - w.start > max(STRETCHED_S, STRETCHED_S_PER_LETTER * letters)


def _pause_windows() -> int:
    return max(1, round(PAUSE_S / _WINDOW_S))


def _pause_before(speech: np.ndarray, t: float) -> float:
    """The middle of the nearest pause of PAUSE_S before ``t`` (at most CONTEXT_S before it)."""
    k, need, run = int(t / _WINDOW_S) - 1, _pause_windows(), 0
    stop = max(0, int((t - CONTEXT_S) / _WINDOW_S))
    while k >= stop:
        run = run + 1 if not speech[k] else 0
        if run == need:
            return (k + need / 2) * _WINDOW_S
        k -= 1
    return max(0.0, stop * _WINDOW_S)


def _pause_after(speech: np.ndarray, t: float) -> float:
    """The middle of the nearest pause of PAUSE_S after ``t`` (at most CONTEXT_S after it)."""
    k, need, run = int(round(t / _WINDOW_S)), _pause_windows(), 0
    stop = min(speech.size, int((t + CONTEXT_S) / _WINDOW_S))
    while k < stop:
        run = run + 1 if not speech[k] else 0
        if run == need:
            return (k + 1 - need / 2) * _WINDOW_S
        k += 1
    return stop * _WINDOW_S if stop < speech.size else float("inf")


def covered(windows: int, words: Sequence[Word]) -> np.ndarray:
    """For each 32 ms window: whether a word covers it (``WORD_REACH_S`` around each word; a
    ``stretched`` word only around its two ends)."""
    out = np.zeros(windows, dtype=bool)
    centres = (np.arange(windows) + 0.5) * _WINDOW_S
    for w in words:
        for start, end in [(w.start, w.start), (w.end, w.end)] if stretched(w) else [(w.start, w.end)]:
            a = int(np.searchsorted(centres, start - WORD_REACH_S))
            b = int(np.searchsorted(centres, end + WORD_REACH_S, side="right"))
            out[a:b] = True
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in ``mask`` as (first, one past the last)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def speech_clips(audio: np.ndarray) -> list[float]:
    """Where a file is decoded (start, end, start, end, ... in seconds; empty: no speech): Silero's
    speech (faster-whisper's own filter) with VAD_PAD_MS around it, as ``join_clips`` joins it."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    chunks = get_speech_timestamps(audio, VadOptions(speech_pad_ms=VAD_PAD_MS))
    spans = [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]
    return join_clips(spans, audio.size / SAMPLE_RATE)


def merge_close(spans: Sequence[tuple[float, float]], gap: float) -> list[list[float]]:
    """``spans`` (in order of their starts) with those less than ``gap`` apart joined."""
    out: list[list[float]] = []
    for start, end in spans:
        if out and start - out[-1][1] < gap:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def join_clips(spans: Sequence[tuple[float, float]], duration: float) -> list[float]:
    """The speech ``spans`` (seconds, in order) joined across silences shorter than SKIP_S, from the
    file's start and to its end when they are that close; flat: start, end, start, end, ..."""
    out = merge_close(spans, SKIP_S)
    if not out:
        return []
    if out[0][0] < SKIP_S:
        out[0][0] = 0.0
    if duration - out[-1][1] < SKIP_S:
        out[-1][1] = duration
    return [round(t, 3) for span in out for t in span]


def unheard(speech: np.ndarray, words: Sequence[Word], min_s: float = GAP_S) -> list[Stretch]:
    """The stretches between words (``covered``) that hold ``min_s`` seconds or more of speech;
    ``speech``: Silero's decision per 32 ms window. Each stretch runs from its first speech window to
    its last."""
    out: list[Stretch] = []
    for k, j in _runs(~covered(speech.size, words)):
        idx = np.flatnonzero(speech[k:j])
        if idx.size * _WINDOW_S >= min_s - 1e-9:
            out.append(Stretch((k + idx[0]) * _WINDOW_S, (k + idx[-1] + 1) * _WINDOW_S, idx.size * _WINDOW_S))
    return out


def speech_between(vad: SileroModel, audio: np.ndarray, words: Sequence[Word], min_s: float = GAP_S) -> np.ndarray:
    """Silero's decision per 32 ms window, computed only where no word lies for ``min_s`` or more (the
    only windows ``unheard`` looks at; each run heard from ``_LEAD_S`` before it): a whole file's speech
    costs 0.26 s of CPU per minute, this almost nothing."""
    n = audio.size // WINDOW
    out = np.zeros(n, dtype=bool)
    for k, j in _runs(~covered(n, words)):
        if (j - k) * _WINDOW_S >= min_s - 1e-9:
            out[k:j] = _speech_from(vad, audio, k, j)
    return out


def _speech_from(vad: SileroModel, audio: np.ndarray, first: int, end: int) -> np.ndarray:
    """Silero's decisions for windows ``first`` to ``end``, heard from ``_LEAD_S`` before them."""
    a = max(0, first - int(_LEAD_S / _WINDOW_S))
    return speech_windows(vad, audio[a * WINDOW : end * WINDOW])[first - a :]


ClipDecoder = Callable[[np.ndarray, "str | None", "str | None"], list[Word]]
"""Decodes a clip of at most ``CLIP_MAX_S`` (audio, language, prompt) into words timed from its start."""
CLIP_MAX_S = 28.0


def short_window(model: Any, task: str = "transcribe", beams: int = OFFLINE_BEAMS) -> ClipDecoder:
    """A clip decoded as the live passes decode (``model``: a FasterWhisperModel): the encoder sees the
    clip and 3 s of silence, not a 30 s window (2.5-4x less CPU for 3-15 s on tiny.en), with beam
    ``beams`` and Whisper's temperature fallback."""
    from wlk_cli.asr.faster_whisper import FALLBACK, FasterWhisperBackend

    def decode(audio: np.ndarray, language: str | None, prompt: str | None) -> list[Word]:
        backend = FasterWhisperBackend(model, language or "auto", task, beams, FALLBACK, remember=True)
        return [Word(w.start, w.end, w.text, w.prob) for w in backend.transcribe(audio, prompt or "").words]

    return decode


Score = Callable[[Sequence[Sequence[str]]], list[list[float]]]
"""How likely the model finds readings of one piece of audio (each a sequence of words): each word's
log-probability after the words before it."""
Scorer = Callable[[np.ndarray, str, str], "Score | None"]
"""A ``Score`` for (audio, language, the text said before it); None when the model cannot tell."""


def model_scorer(model: Any, task: str = "transcribe") -> Scorer:
    """``model``'s own judgement of texts on audio (a FasterWhisperModel: ``scorer``)."""

    def scorer(audio: np.ndarray, language: str, prompt: str) -> Score | None:
        return model.scorer(audio, language, task, prompt)  # type: ignore[no-any-return]

    return scorer


class OfflineDecoder:
    """faster-whisper's own decoding on the engine's model (shared: CTranslate2 runs it for several
    threads at once), with the coverage check on the engine's Silero session."""

    def __init__(
        self,
        whisper: Any,
        vad: SileroModel,
        task: str = "transcribe",
        beams: int = OFFLINE_BEAMS,
        batch_size: int = 1,
        clip: ClipDecoder | None = None,
        clips: Callable[[np.ndarray], list[float]] = speech_clips,
        scorer: Scorer | None = None,
    ) -> None:
        """``whisper``: faster-whisper's ``WhisperModel``; ``batch_size`` > 1 decodes a file's VAD chunks
        together (faster on a GPU; each chunk without the text before it); ``clip``: how an utterance
        and a stretch decoded again are decoded (default: as a file); ``clips``: where a file holds speech
        (``speech_clips``); ``scorer``: how ``score`` weighs readings of an utterance (None: it cannot)."""
        self.whisper = whisper
        self.vad = vad
        self.task = task
        self.beams = beams
        self.batch_size = batch_size
        self.clip = clip
        self.clips = clips
        self.scorer_for = scorer

    def scorer(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Score | None:
        """The model's judgement of texts as what ``audio`` says after ``prompt`` (None: not known)."""
        if self.scorer_for is None or language is None or not audio.size:
            return None
        return self.scorer_for(audio, language, prompt or "")

    def _clip(self, audio: np.ndarray, language: str | None, prompt: str | None) -> list[Word]:
        if self.clip is not None and audio.size <= CLIP_MAX_S * SAMPLE_RATE:
            return self.clip(audio, language, prompt)
        return self._transcribe(audio, language, prompt, filter_silence=False)[0]

    def utterance(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Decoded:
        """One utterance (speech already, at most about 30 s) decoded again, with the coverage check."""
        words = self._clip(audio, language, prompt) if audio.size else []
        return self.refill(audio, words, language, prompt) if audio.size else Decoded(words, language)

    def decode(
        self,
        audio: np.ndarray,
        language: str | None,
        prompt: str | None = None,
        filter_silence: bool = True,
        on_progress: Callable[[float], None] | None = None,
    ) -> Decoded:
        """Every word of ``audio`` (16 kHz mono), in ``language`` (None: detected); ``prompt``: the text
        said before it; ``filter_silence``: let Silero's filter drop long silences first (a whole file;
        an utterance is speech already)."""
        words, language = self._transcribe(audio, language, prompt, filter_silence, on_progress)
        if not audio.size:
            return Decoded(words, language)
        return self.refill(audio, words, language, prompt)

    def _transcribe(
        self,
        audio: np.ndarray,
        language: str | None,
        prompt: str | None,
        filter_silence: bool,
        on_progress: Callable[[float], None] | None = None,
    ) -> tuple[list[Word], str | None]:
        if not audio.size:
            return [], language
        kwargs: dict[str, Any] = dict(
            language=language,
            task=self.task,
            beam_size=self.beams,
            word_timestamps=True,
            vad_filter=filter_silence,
            initial_prompt=prompt or None,
        )
        if filter_silence and self.batch_size == 1:  # (the batched pipeline crashed with this padding)
            clips = self.clips(audio)
            if not clips:
                return [], language
            kwargs.update(vad_filter=False, clip_timestamps=clips)
        if self.batch_size > 1 and filter_silence:
            from faster_whisper import BatchedInferencePipeline

            segments, info = BatchedInferencePipeline(self.whisper).transcribe(
                audio, batch_size=self.batch_size, **kwargs
            )
        else:
            segments, info = self.whisper.transcribe(audio, **kwargs)
        out: list[Word] = []
        for seg in segments:
            for w in seg.words or []:
                out.append(Word(float(w.start), float(w.end), w.word, float(w.probability)))
            if on_progress is not None:
                on_progress(float(seg.end))
        return out, info.language

    def refill(
        self,
        audio: np.ndarray,
        words: list[Word],
        language: str | None,
        prompt: str | None = None,
        speech: np.ndarray | None = None,
    ) -> Decoded:
        """The coverage check on ``words`` heard in ``audio``: each stretch of speech without words
        (``unheard``; ``speech``: Silero's decision per 32 ms window, computed when None) is decoded
        again, from the pause before it to the pause after it, and its words replace those there when
        it heard more of them. Words come back in time order, numbered from 0."""
        heard_all = speech is not None
        speech = speech_between(self.vad, audio, words) if speech is None else speech.copy()
        stretches = unheard(speech, words)
        if stretches and not heard_all:  # the pauses around each stretch are looked for in real decisions
            contexts = [
                (
                    max(0, int((s.start - CONTEXT_S) / _WINDOW_S)),
                    min(speech.size, int((s.end + CONTEXT_S) / _WINDOW_S) + 1),
                )
                for s in stretches
            ]
            for first, end in merge_close(contexts, 1):  # joined where they meet: Silero runs once over each
                speech[int(first) : int(end)] = _speech_from(self.vad, audio, int(first), int(end))
        refilled = refilled_words = 0
        duration = audio.size / SAMPLE_RATE
        for s in stretches:
            # decoded again from the pause before it to the pause after it (Whisper hears whole
            # phrases best), with the words there; its words replace them when it heard more
            lo, hi = _pause_before(speech, s.start), _pause_after(speech, s.end)
            replaced = [w for w in words if w.end > lo and w.start < hi]
            if replaced:
                lo, hi = min(lo, replaced[0].start), max(hi, replaced[-1].end)
            kept = [w for w in words if w.end <= lo or w.start >= hi]
            hi = min(hi, duration)
            before = "".join(w.text for w in kept if w.end <= lo)
            context = ((prompt or "") + before)[-PROMPT_CHARS:].strip()
            clip = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)]
            found = self._clip(clip, language, context or None)
            new = [Word(lo + w.start, min(lo + w.end, hi), w.text, w.prob) for w in found]
            if len(new) > len(replaced):  # it heard more than was there: its words take the place
                refilled += 1
                refilled_words += len(new) - len(replaced)
                words = sorted([*kept, *new], key=lambda w: w.start)
        left = unheard(speech, words)
        words = [Word(w.start, w.end, w.text, w.prob, w.speaker, i) for i, w in enumerate(words)]
        return Decoded(words, language, refilled, refilled_words, sum(s.speech_s for s in left))
