"""LocalAgreement-2 (Machacek et al., whisper_streaming), written from the algorithm.

Each iteration transcribes the whole uncommitted buffer, prompted with committed text that has left
the buffer. A word is confirmed when two consecutive hypotheses agree on it as a common prefix; the
rest is tentative. The buffer is trimmed at a completed segment or sentence once it grows past
``trimming_sec``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wlk_cli.asr.base import PROMPT_CHARS, AsrBackend, AsrResult
from wlk_cli.config import POLICY_CHUNK_S, default_of
from wlk_cli.events import Word
from wlk_cli.policies.base import BufferedPolicy, PolicyUpdate
from wlk_cli.policies.text import heard, overlap_ngram, repeats_tail
from wlk_cli.text import is_sentence_end, norm

_MAX_BUFFER_S = 25.0  # Whisper sees at most 30 s: past this the buffer is cut whatever happens
_EMPTY_BUFFER_KEEP_S = 2.0
_REHEARD_S = 1.0  # a re-heard prompt word lies this close to the start of a trimmed buffer
_SAME_AUDIO_S = 0.15  # two copies of a word starting closer than this are one word, aligned twice
_UNHEARD_TAIL_S = 1.0  # an utterance that goes on this long after its last word has that audio heard again
# A word the passes keep disagreeing on is committed as the newest pass hears it once the model has heard
# this much audio after it: no word waits for an agreement that may never come (base on read Arabic:
# every pass differed from the one before, words came 11 s after they were said; on espeak Arabic with
# --language ar the mean latency went 4.9 -> 3.0 s; at 1.5 s tiny.en confirmed "engaged" for "and gazed"
# on a LibriSpeech clip, at 3 s Arabic gained nothing).
# The final pass decodes the utterance again anyway.
HOLD_S = 2.0


@dataclass(frozen=True)
class LocalAgreementOptions:
    """The policy's options; the user-facing ones default to their declaration in ``config.py``."""

    min_chunk_size: float = POLICY_CHUNK_S["local-agreement"]
    buffer_trimming: str = default_of("buffer_trimming")
    buffer_trimming_sec: float = default_of("buffer_trimming_sec")
    confidence_validation: bool = default_of("confidence_validation")
    confidence_threshold: float = default_of("confidence_threshold")


class LocalAgreementPolicy(BufferedPolicy):
    """A :class:`~wlk_cli.policies.base.StreamingPolicy` implementing LocalAgreement-2."""

    def __init__(self, asr: AsrBackend, opts: LocalAgreementOptions | None = None) -> None:
        self.asr = asr
        self.opts = opts or LocalAgreementOptions()
        super().__init__(self.opts.min_chunk_size)
        self._previous: list[Word] = []  # uncommitted tail of the previous hypothesis
        self._committed: deque[Word] = deque(maxlen=64)  # newest committed words (prompt, dedupe)
        self._last_end = 0.0  # end of the newest committed word
        self._last_result: AsrResult | None = None
        self._trimmed = False  # the buffer starts at a cut inside the utterance (not at its start)

    # -- protocol ------------------------------------------------------------------------------
    def reset_context(self) -> None:
        self._committed.clear()

    def step(self) -> PolicyUpdate:
        if self.buffer.empty:
            return PolicyUpdate(tentative=list(self._previous))
        hypothesis = self._transcribe()
        confirmed = self._agree(hypothesis)
        confirmed += self._trim()
        return PolicyUpdate(confirmed=confirmed, tentative=list(self._previous))

    def finish(self) -> PolicyUpdate:
        shown = list(self._previous)
        if self.buffer.has_new or self._last_result is None:
            rest = self._fresh_words(self._transcribe()) if not self.buffer.empty else []
            rest = _keep_shown(shown, rest)
        else:
            rest = shown
        confirmed = self._commit(rest)
        confirmed += self._commit(self._unheard_tail())
        self.buffer.clear()
        self._previous = []
        self._last_result = None
        self._trimmed = False
        return PolicyUpdate(confirmed=confirmed, tentative=[])

    # -- the algorithm -------------------------------------------------------------------------
    def _prompt(self) -> str:
        return self._prompt_before(self.buffer.offset)

    def _transcribe(self) -> list[Word]:
        result = self.asr.transcribe(self.buffer.audio, prompt=self._prompt())
        self._last_result = result
        until = self.buffer.transcribed()
        offset = self.buffer.offset
        words = [Word(offset + w.start, offset + w.end, w.text, w.prob) for w in result.words]
        return heard(words, until)

    def _unheard_tail(self) -> list[Word]:
        """Words of the audio after the last word, when the utterance ends a second or more after it.
        Whisper can stop early on a short buffer (tiny.en heard "Hello? Hello? Oh, hello." and nothing
        of the sentence after it); that audio, transcribed on its own, is heard."""
        end = self.buffer.end
        start = max(self._last_end, self.buffer.offset)
        if end - start < _UNHEARD_TAIL_S:
            return []
        result = self.asr.transcribe(self.buffer.since(start))  # unprompted: prompted, it says the prompt again
        words = [Word(start + w.start, start + w.end, w.text, w.prob) for w in result.words]
        words = self._fresh_words(heard(words, end))
        n = overlap_ngram(list(self._committed), words)
        return words[n:] if n >= 2 else words  # the words just committed, heard again

    def _prompt_before(self, t: float) -> str:
        text = "".join(w.text for w in self._committed if w.end <= t + 1e-6)
        return text[-PROMPT_CHARS:]

    def _fresh_words(self, hypothesis: list[Word]) -> list[Word]:
        """Drop what was already committed: earlier words by time, then a re-heard n-gram."""
        fresh = [w for w in hypothesis if w.start > self._last_end - 0.1]
        if not fresh or not self._committed:
            return fresh
        committed = list(self._committed)
        n = overlap_ngram(committed, fresh)
        if n == 0:
            return fresh
        # the same words on the same audio (alignment moved them a little), or, after a cut, the words
        # before it said again at the buffer's start (they prompt the model); a phrase that is really
        # said again begins later, on audio of its own
        copy = committed[-n:]
        same_audio = fresh[0].start < copy[0].start + max(_SAME_AUDIO_S, (copy[-1].end - copy[0].start) / 2)
        offset = self.buffer.offset
        reheard = self._trimmed and fresh[0].start < offset + _REHEARD_S and copy[-1].end <= offset + 0.1
        return fresh[n:] if same_audio or reheard else fresh

    def _agree(self, hypothesis: list[Word]) -> list[Word]:
        fresh = self._fresh_words(hypothesis)
        agreed: list[Word] = []
        if not getattr(self.asr, "language_settled", True):  # an unsure language may still change
            self._previous = fresh
            return []
        heard_until = self.buffer.transcribed_until
        for i, w in enumerate(fresh):
            same = i < len(self._previous) and norm(self._previous[i].text) == norm(w.text)
            sure = self.opts.confidence_validation and w.prob >= self.opts.confidence_threshold
            held = w.end <= heard_until - HOLD_S
            if not (same or sure or held):
                break
            agreed.append(w)
        committed = self._commit(agreed)
        self._previous = fresh[len(agreed) :]
        return committed

    def _commit(self, words: list[Word]) -> list[Word]:
        n = repeats_tail(list(self._committed), words)
        if n:  # the model re-heard the words it just committed: a loop, not speech
            words = words[n:]
        if words:
            self._committed.extend(words)
            self._last_end = max(self._last_end, words[-1].end)
        return words

    def _trim(self) -> list[Word]:
        """Trim the buffer; returns words confirmed because a forced cut passed them."""
        dur = self.buffer.duration
        if dur > self.opts.buffer_trimming_sec:
            cut = self._trim_point()
            if cut is not None:
                self._cut(cut)
                return []
        if dur > _MAX_BUFFER_S:
            # no completed segment or sentence in 25 s: confirm what the cut passes, then cut
            t = max(self._last_end, self.buffer.end - _MAX_BUFFER_S + 5.0)
            passed = [w for w in self._previous if w.end <= t]
            forced = self._commit(passed)
            self._cut(t)
            return forced
        if not self._previous and not self._last_words_in_buffer() and dur > 2 * _EMPTY_BUFFER_KEEP_S + 1:
            # nothing was heard in this buffer: drop all but the last seconds
            self._cut(self.buffer.end - _EMPTY_BUFFER_KEEP_S)
        return []

    def _last_words_in_buffer(self) -> bool:
        return bool(self._committed) and self._committed[-1].end > self.buffer.offset

    def _trim_point(self) -> float | None:
        """Stream time at which a completed segment or sentence ends, at or before the last commit."""
        limit = self._last_end
        if self.opts.buffer_trimming == "segment":
            if self._last_result is None:
                return None
            offset = self.buffer.offset
            ends = [offset + s.end for s in self._last_result.segments[:-1]]
            ends = [e for e in ends if e <= limit and e > offset]
            return max(ends) if ends else None
        in_buffer = [w for w in self._committed if w.start >= self.buffer.offset]
        ends = [w.end for w in in_buffer[:-1] if is_sentence_end(w.text)]
        return max(ends) if ends else None

    def _cut(self, t: float) -> None:
        k = self.buffer.cut_before(t)
        self._trimmed = self._trimmed or k > 0
        self._previous = [w for w in self._previous if w.end > self.buffer.offset]


def _keep_shown(shown: list[Word], final: list[Word]) -> list[Word]:
    """The words to commit at the end of an utterance: the last hypothesis, unless it says fewer words
    than the tentative words already on screen (a pass at a pause can lose words or keep only
    fragments of them); then the words shown, and what the last hypothesis heard after them. Words
    are counted, not matched by time: without alignment heads a short buffer's words are squeezed."""
    if not shown or (len(final) >= len(shown) and final[-1].end >= shown[-1].end - 0.1):
        return final
    until = shown[-1].end
    return shown + [w for w in final if w.start >= until - 0.05]
