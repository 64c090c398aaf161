"""The final pass: each closed utterance decoded once more, at offline accuracy, on its own thread.

The live policy confirms words fast; when an utterance closes (a pause, the end of the stream, a shed, or
``FORCE_CLOSE_S`` of unbroken speech, cut between two confirmed words) the pipeline hands its audio and
its confirmed words to a :class:`FinalPass`. A worker thread decodes the audio again as `wlk transcribe`
decodes (beam 5, word times, Whisper's temperature fallback, the text of the finals before it as the
prompt, the coverage check) and hands back the utterance's final words, which replace its confirmed
words once. A final pass never makes things worse: one that hears no words, loops, or hears far fewer
words than the live pass confirmed keeps the live words (``kept_live``). Where the two passes heard
the same utterance differently, the model itself decides (``reconcile``): the live reading of a place is
kept when the model finds the utterance's audio more likely to say it (beam search on a few seconds of
audio can lose to a greedy pass that heard the words with other context: "The low, the low" for
"Hello? Hello?").

Finals are decoded in order, one at a time; the live pass never waits for them (they may lag under load,
and are never dropped: ``finish`` waits for all of them).
"""

from __future__ import annotations

import dataclasses
import difflib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from wlk_cli.asr.base import PROMPT_CHARS
from wlk_cli.asr.offline import Decoded, Score
from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.events import Word
from wlk_cli.policies.text import cut_repetition, heard
from wlk_cli.text import norm

MIN_WORD_S = 0.02  # a word cut to its utterance keeps at least this long

PAD_S = 0.3  # audio given on both sides of an utterance
EDGE_S = 0.05  # a word is the utterance's when it ends this far into it and starts before its end
FORCE_CLOSE_S = 25.0  # unbroken speech this long is closed for its final pass between two words
FEWER = 0.5  # a final pass with fewer words than this share of the live ones (when there are MIN_LIVE)...
MIN_LIVE = 4  # ... lost words: the live words stay
LOOP_WORDS = 3  # a final pass whose repeats without audio take this many words loops: the live words stay
MAX_PLACES = 8  # places where the passes differ weighed one by one (beyond: only all at once)


class UtteranceDecoder(Protocol):
    """How the final pass hears an utterance (``asr.offline.OfflineDecoder``)."""

    def utterance(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Decoded:
        """The utterance's words, timed from the start of ``audio``."""
        ...

    def scorer(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Score | None:
        """The model's judgement of texts as what ``audio`` says after ``prompt`` (None: not known)."""
        ...


@dataclass(frozen=True)
class Utterance:
    """A closed utterance, as the pipeline hands it over."""

    number: int
    start: float
    """Stream seconds: its words are those that end after ``start`` + EDGE_S and start before ``end``
    (Whisper often stretches an utterance's first word back to the start of the audio it is given)."""
    end: float
    audio: np.ndarray
    """The stream's audio from ``audio_start`` (``start`` - PAD_S, or less at the stream's start)."""
    audio_start: float
    live: tuple[Word, ...]
    """The confirmed words it replaces (with their ids)."""
    language: str | None
    fresh_context: bool = False
    """After a long silence: the finals before it do not prompt it."""


@dataclass(frozen=True)
class FinalResult:
    utterance: Utterance
    words: tuple[Word, ...]
    """The final words in stream time, without ids (the live words, with theirs, when ``kept_live``)."""
    kept_live: str | None
    """Why the live words stay ("no words", "loop", "fewer words", "error: ..."), or None."""
    refilled: int = 0
    unheard_s: float = 0.0
    decode_s: float = 0.0
    from_live: int = 0
    """Places where the live reading was kept (``reconcile``)."""


def judge(live: Sequence[Word], final: Sequence[Word], decoded: Sequence[Word] = ()) -> str | None:
    """Why the final words would be worse than the live ones, or None when they take their place;
    ``decoded``: the final pass's words as it heard them (a loop is cut from ``final`` already)."""
    if len(decoded) - len(cut_repetition(list(decoded))) >= LOOP_WORDS:
        return "loop"
    if not final:
        return "no words" if live else None
    if len(live) >= MIN_LIVE and len(final) < FEWER * len(live):
        return "fewer words"
    return None


def utterance_words(u: Utterance, decoded: Decoded) -> list[Word]:
    """The decoded words in stream time, cut like a live pass's (past the audio, piled on one instant,
    repeats without audio), those of the utterance (``Utterance.start``), their times within it (the
    padding is not theirs: the next utterance may begin 0.15 s later)."""
    duration = u.audio.size / SAMPLE_RATE
    words = heard(list(decoded.words), duration)
    out = []
    for w in words:
        start, end = u.audio_start + w.start, u.audio_start + w.end
        if end > u.start + EDGE_S and start < u.end:
            start, end = max(start, u.start), min(end, u.end)
            out.append(Word(min(start, end - MIN_WORD_S), end, w.text, w.prob))
    return out


def text_of(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words)


def reconcile(live: Sequence[Word], final: Sequence[Word], score: Score) -> tuple[list[Word], int]:
    """The final words, with the live reading of the places where the two passes differ (by their words,
    spelled alike: ``text.norm``) that the model finds more likely; and how many places kept the live
    reading. The model scores both whole readings of the utterance: the live one when it is more likely
    as a whole (one misheard phrase often spans several places); else each place is judged by its own
    words and the same words after it (up to the next place) in the two readings, and the mix of the
    places where the live reading wins is kept when it beats the final reading as a whole."""
    ops = difflib.SequenceMatcher(a=[norm(w.text) for w in final], b=[norm(w.text) for w in live], autojunk=False)
    spans = ops.get_opcodes()
    places = [i for i, op in enumerate(spans) if op[0] != "equal"]
    if not places or not live:
        return list(final), 0

    def build(chosen: set[int]) -> list[Word]:
        out: list[Word] = []
        for i, (_, i1, i2, j1, j2) in enumerate(spans):
            out += live[j1:j2] if i in chosen else final[i1:i2]
        return out

    every = set(places)
    mixed = build(every)
    in_final, in_mixed = score([[w.text for w in final], [w.text for w in mixed]])
    if sum(in_mixed) > sum(in_final):
        return mixed, len(every)
    better = set()  # (the all-live reading holds the live pass's words where they are: its positions)
    for i in places:
        last = i + 1 if i + 1 < len(spans) and spans[i + 1][0] == "equal" else i  # the same words after it
        if sum(in_mixed[spans[i][3] : spans[last][4]]) > sum(in_final[spans[i][1] : spans[last][2]]):
            better.add(i)
    if not better or better == every:
        return list(final), 0
    chosen = build(better)
    if sum(score([[w.text for w in chosen]])[0]) > sum(in_final):
        return chosen, len(better)
    return list(final), 0


class FinalPass:
    """Decodes closed utterances on a thread of its own, in order; results are taken by the pipeline."""

    def __init__(self, decoder: UtteranceDecoder, language: Callable[[], str | None] = lambda: None) -> None:
        """``language``: the stream's language now (detected: it may be surer than when the utterance
        closed); an utterance is decoded in it, or in the one it closed with."""
        self.decoder = decoder
        self.language = language
        self._jobs: queue.Queue[tuple[Utterance, Future[tuple[Word, ...]] | None] | None] = queue.Queue()
        self._results: queue.Queue[FinalResult] = queue.Queue()
        self._text = ""  # the finals so far (their last PROMPT_CHARS)
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wlk-final", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Utterances handed over whose final is not taken yet."""
        with self._lock:
            return self._pending

    def close(self, utterance: Utterance, live: Future[tuple[Word, ...]] | None = None) -> None:
        """Decode ``utterance``; ``live``: its confirmed words still to come (the live pass is finishing
        it): the decoding starts now and waits for them only to judge its words."""
        with self._lock:
            self._pending += 1
        self._jobs.put((utterance, live))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            u, live = job
            try:
                result = self._final(u, live)
            except Exception as e:  # noqa: BLE001 - the live words stay, and the end statistics say why
                u = u if live is None else dataclasses.replace(u, live=live.result())
                result = FinalResult(u, u.live, f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            self._results.put(result)

    def _final(self, u: Utterance, live: Future[tuple[Word, ...]] | None = None) -> FinalResult:
        if u.fresh_context:
            self._text = ""
        t0 = time.perf_counter()
        prompt = self._text.strip() or None
        language = self.language() or u.language
        decoded = self.decoder.utterance(u.audio, language, prompt)
        if live is not None:
            u = dataclasses.replace(u, live=live.result())
        words = utterance_words(u, decoded)
        why = judge(u.live, words, decoded.words)
        from_live = 0
        if why is None:
            score = self.decoder.scorer(u.audio, decoded.language or language, prompt)
            if score is not None:
                words, from_live = reconcile(u.live, words, score)
        kept = list(u.live) if why is not None else words
        self._text = (self._text + text_of(kept))[-PROMPT_CHARS:]
        took = time.perf_counter() - t0
        return FinalResult(u, tuple(kept), why, decoded.refilled, decoded.unheard_s, took, from_live)

    def take(self, wait: bool = False) -> list[FinalResult]:
        """The results ready now; with ``wait``, every one still to come (the end of the stream)."""
        out: list[FinalResult] = []
        while not (wait and self.pending == 0):
            try:
                r = self._results.get(timeout=0.5) if wait else self._results.get_nowait()
            except queue.Empty:
                if wait:
                    continue
                break
            with self._lock:
                self._pending -= 1
            out.append(r)
        return out

    def stop(self) -> None:
        """End the thread and wait for it: it holds the engine's model, which must not outlive the
        interpreter in a thread (CTranslate2's workers abort the process when torn down at exit)."""
        self._jobs.put(None)
        self._thread.join(timeout=60.0)
