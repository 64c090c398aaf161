"""SimulStreaming: AlignAtt decoding of a growing audio buffer, tokens never retracted.

Each iteration encodes the buffer (CTranslate2's encoder, as the rest of the engine), then decodes with
the PyTorch decoder of ``asr/torch_whisper.py`` after the tokens already emitted on this buffer, until
AlignAtt says the next token is too close to the end of the audio heard so far (``policies/alignatt.py``).
Emitted tokens are final. A pass keeps the tokens of its last word only when the token the decoder
would say next (held back by the frame rule) begins a new word; otherwise that unfinished word is
shown tentative and decoded again at the next pass, with more audio (SimulStreaming decides this with
a separate end-of-word model; the decoder's own next token plays that part here). Words are built from
the kept tokens; a word is confirmed once the next one has begun.

``never_fire``: the last word begun in each pass is never kept, even when it looks complete: it is
shown tentative and decoded again at the next pass. At the end of an utterance everything is kept.

The buffer holds at most ``audio_max_len`` seconds; when it is trimmed, the words of the trimmed audio
move into the text context that prompts the decoder (after ``init_prompt``, which is trimmed like
them, and ``static_init_prompt``, which never is); the context holds at most ``max_context_tokens``
tokens. An utterance's own words are not carried into the next one's prompt: Whisper, prompted with
them, tends to say them again over the next utterance's first words (as the reference, the context
starts afresh at each utterance).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlk_cli.asr.base import FRAME_S, token_budget
from wlk_cli.config import POLICY_CHUNK_S, default_of
from wlk_cli.events import Word
from wlk_cli.policies.alignatt import AlignAtt, AlignAttConfig, Decoded
from wlk_cli.policies.base import BufferedPolicy, PolicyUpdate
from wlk_cli.policies.text import overlap_ngram
from wlk_cli.text import SENTENCE_END, is_sentence_end, norm

WHISPER_MAX_S = 30.0
_PUNCTUATION = set("\"'.。,，!！?？:：”)]}、;-…")
_CLOSING = (*SENTENCE_END, "...")  # tokens that may close an utterance on its last frames
_WORD_TAIL_S = 0.2  # a word whose successor is not known yet ends this long after its last token's onset
_MAX_WORD_S = 2.0
_MIN_FINISH_S = 0.2  # shorter leftovers at the end of an utterance are not decoded
_UNHEARD_TAIL_S = 1.0  # an utterance that goes on this long after its last word has that audio decoded again
_RESERVE = 64  # decoder positions kept free for new tokens when the prompt is built


@dataclass(frozen=True)
class SimulStreamingOptions:
    """The policy's options; the user-facing ones default to their declaration in ``config.py``."""

    min_chunk_size: float = POLICY_CHUNK_S["simulstreaming"]
    frame_threshold: int = default_of("frame_threshold")
    beams: int = 1
    audio_max_len: float = default_of("audio_max_len")
    audio_min_len: float = default_of("audio_min_len")
    init_prompt: str = default_of("init_prompt")
    static_init_prompt: str = default_of("static_init_prompt")
    max_context_tokens: int = default_of("max_context_tokens")
    never_fire: bool = default_of("never_fire")
    pad_s: float = 1.0
    """Silence appended after the buffer for the encoder."""


def _is_punctuation(text: str) -> bool:
    t = text.strip()
    return bool(t) and all(c in _PUNCTUATION for c in t)


class SimulStreamingPolicy(BufferedPolicy):
    """A :class:`~wlk_cli.policies.base.StreamingPolicy` implementing AlignAtt (SimulStreaming)."""

    def __init__(self, asr: Any, decoder: Any, opts: SimulStreamingOptions | None = None) -> None:
        """``asr``: the stream's faster-whisper backend (encoder, language, tokenizer); ``decoder``: the
        engine's TorchWhisper on the same weights (shared: it keeps no state between calls)."""
        self.asr = asr
        self.opts = opts or SimulStreamingOptions()
        self.decoder = decoder
        self.config = AlignAttConfig(frame_threshold=self.opts.frame_threshold, beams=self.opts.beams)
        self._aligners: dict[int, AlignAtt] = {}  # by tokenizer (the backend keeps one per language)
        self._static: list[int] | None = None  # static_init_prompt's tokens, encoded once
        super().__init__(self.opts.min_chunk_size)
        self._tokens: list[int] = []  # emitted on this buffer: final
        self._times: list[float] = []  # stream time of each
        self._lps: list[float] = []
        self._done = 0  # tokens already given out in confirmed words
        self._last_frame = -self.config.rewind_threshold
        self._tentative: list[Word] = []
        self._context: list[int] = []
        self._tok: Any = None

    # -- protocol ------------------------------------------------------------------------------
    def reset_context(self) -> None:
        self._context = []
        self._tok = None  # the init prompt comes back with the next pass

    def step(self) -> PolicyUpdate:
        confirmed = self._trim()
        self.buffer.consumed()
        if self.buffer.empty or self.buffer.duration < self.opts.audio_min_len:
            return PolicyUpdate(confirmed=confirmed, tentative=list(self._tentative))
        decoded = self._pass(is_last=False)
        confirmed += self._take(decoded, final=False)
        return PolicyUpdate(confirmed=confirmed, tentative=list(self._tentative))

    def finish(self) -> PolicyUpdate:
        confirmed: list[Word] = []
        if self.buffer.duration >= _MIN_FINISH_S:
            confirmed = self._take(self._pass(is_last=True), final=True)
            confirmed += self._unheard_tail()
        elif self._tokens:
            confirmed = self._take(Decoded(), final=True)
        self.buffer.clear()
        self._reset_tokens()
        return PolicyUpdate(confirmed=confirmed, tentative=[])

    def _reset_tokens(self) -> None:
        """Forget the tokens decoded on the buffer (it was emptied or cut to a new start)."""
        self._tokens, self._times, self._lps = [], [], []
        self._done = 0
        self._last_frame = -self.config.rewind_threshold
        self._tentative = []

    def _unheard_tail(self) -> list[Word]:
        """At the end of an utterance, the audio after the last word, when the decoder stopped a second
        or more before the end (tiny.en, after "Hello? Hello? Oh, hello.", said nothing of the sentence
        after it): decoded on its own, without the tokens before it (which made it stop)."""
        end = self.buffer.end
        start = (self._times[-1] + _WORD_TAIL_S) if self._times else self.buffer.offset
        if end - start < _UNHEARD_TAIL_S:
            return []
        said = self._words(0, len(self._tokens), self._tokens, self._times, self._lps) if self._tokens else []
        self.buffer.cut_before(start)
        self.buffer.consumed()
        self._reset_tokens()
        words = [w for w in self._take(self._pass(is_last=True), final=True) if w.start >= start - 1e-6]
        n = overlap_ngram(said, words)
        return words[n:] if n >= 2 else words  # the words just said, heard again

    # -- decoding ------------------------------------------------------------------------------
    def _aligner(self, tok: Any) -> AlignAtt:
        key = id(tok)
        if key not in self._aligners:
            import torch
            from faster_whisper.transcribe import get_suppressed_tokens

            vocab = self.decoder.vocab
            suppress = torch.zeros(vocab, dtype=torch.bool)
            suppress[tok.eot + 1 :] = True  # every special token and timestamp
            suppress[[t for t in get_suppressed_tokens(tok, [-1]) if 0 <= t < vocab]] = True
            aligner = AlignAtt(
                self.decoder,
                self.config,
                eot=tok.eot,
                suppress=suppress,
                blank=tok.encode(" "),
                no_speech=tok.no_speech,
                max_tokens=self.decoder.max_tokens,
                closing={ids[0] for p in _CLOSING if len(ids := tok.encode(p)) == 1},
                spelling=functools.lru_cache(maxsize=None)(lambda t: norm(tok.decode([t]))),
            )
            self._aligners[key] = aligner
        return self._aligners[key]

    def _context_tokens(self, tok: Any, sot_len: int) -> list[int]:
        if self._tok is None:  # first pass, or after reset_context: (re)start from the init prompt
            self._tok = tok
            if self.opts.init_prompt.strip() and not self._context:
                self._context = tok.encode(" " + self.opts.init_prompt.strip())
        if self._static is None:
            text = self.opts.static_init_prompt.strip()
            self._static = tok.encode(" " + text) if text else []
        static = self._static
        room = min(
            self.opts.max_context_tokens - len(static),
            self.decoder.max_tokens - _RESERVE - 1 - len(static) - sot_len - len(self._tokens),
        )
        self._context = self._context[-max(0, room) :] if room > 0 else []
        return static + self._context

    def _pass(self, is_last: bool) -> Decoded:
        enc = self.asr.encode(self.buffer.audio, self.opts.pad_s)
        self.buffer.transcribed()
        tok = self.asr.tokenizer(enc.language)
        sot = list(tok.sot_sequence) + [tok.no_timestamps]
        context = self._context_tokens(tok, len(sot))
        prompt = ([tok.sot_prev] + context if context else []) + sot + self._tokens
        aligned_from = len(prompt) - len(self._tokens) - len(sot)
        budget = token_budget(self.buffer.duration, self.config.tokens_per_s)
        decoded = self._aligner(tok).run(
            self.decoder.features(enc.features),
            enc.content_frames,
            prompt,
            aligned_from,
            self._tokens,
            budget,
            self._last_frame,
            is_last,
        )
        self._tok = tok
        return decoded

    # -- words ---------------------------------------------------------------------------------
    def _starts(self, tokens: list[int], first_is_start: bool = True) -> list[int]:
        """Indices of the tokens that begin a word (punctuation attaches to the word before it)."""
        if not tokens:
            return []
        words, groups = self._tok.split_to_word_tokens(tokens)
        starts, i = [], 0
        for text, group in zip(words, groups):
            if (i == 0 and first_is_start) or (
                not _is_punctuation(text) and (text.startswith(" ") or not self._spaced())
            ):
                starts.append(i)
            i += len(group)
        return starts

    def _spaced(self) -> bool:
        return str(getattr(self._tok, "language_code", "en")) not in ("zh", "ja", "th", "lo", "my", "yue")

    def _words(
        self, lo: int, hi: int, tokens: list[int], times: list[float], lps: list[float], after: float | None = None
    ) -> list[Word]:
        """Words of tokens[lo:hi] (lo must start a word); each ends where the next begins, if known
        (``after``: where the word after tokens[hi - 1] begins)."""
        starts = [lo + s for s in self._starts(tokens[lo:hi])] + [hi]
        out: list[Word] = []
        for a, b in zip(starts, starts[1:]):
            text = self._tok.decode(tokens[a:b])
            start = times[a]
            if b < len(times):
                end = times[b]
            elif after is not None:
                end = after
            else:
                end = times[b - 1] + _WORD_TAIL_S
            end = min(
                max(end, start + FRAME_S), start + _MAX_WORD_S, max(self.buffer.transcribed_until, start + FRAME_S)
            )
            prob = float(np.exp(np.mean(lps[a:b]))) if lps[a:b] else 0.0
            out.append(Word(start, end, text, prob))
        return out

    def _take(self, decoded: Decoded, final: bool) -> list[Word]:
        """Keep the tokens of a pass; return the words now complete, set the tentative tail."""
        if decoded.reason == "rewind":
            self._last_frame = decoded.last_frame
            return []
        tokens = decoded.tokens
        if decoded.reason == "jump":
            tokens = self._before_repeat(tokens)
        skip = self._echo(tokens) if not self._tokens else 0
        if skip:
            decoded = dataclasses.replace(
                decoded,
                tokens=decoded.tokens[skip:],
                frames=decoded.frames[skip:],
                onsets=decoded.onsets[skip:],
                logprobs=decoded.logprobs[skip:],
            )
            tokens = tokens[skip:]
        times, t = [], self._times[-1] if self._times else self.buffer.offset
        for f in decoded.onsets:  # speech runs forward: a token never starts before the one before it
            t = max(t, self.buffer.offset + f * FRAME_S)
            times.append(t)
        held: list[int] = []
        complete = self._next_starts_word(decoded.next_token)  # the decoder's next token begins a word
        if not final and tokens and not getattr(self.asr, "language_settled", True):
            tokens, held = [], tokens  # the language may still change: nothing is final yet
        elif not final and tokens and (self.opts.never_fire or not complete):
            begins = self._starts(tokens, first_is_start=not self._tokens)
            cut = begins[-1] if begins else len(tokens)
            tokens, held = tokens[:cut], tokens[cut:]
        self._tokens += tokens
        self._times += times[: len(tokens)]
        self._lps += decoded.logprobs[: len(tokens)]
        if tokens:
            self._last_frame = decoded.frames[len(tokens) - 1]
        all_tokens = self._tokens + held
        all_times = self._times + times[len(tokens) :]
        all_lps = self._lps + decoded.logprobs[len(tokens) :]
        after = None  # the next word's start, when the held-back token begins it
        if complete and not held and decoded.next_onset is not None and all_times:
            after = max(all_times[-1] + FRAME_S, self.buffer.offset + decoded.next_onset * FRAME_S)
        words = self._words(self._done, len(all_tokens), all_tokens, all_times, all_lps, after)
        closed = len(words) - len(self._starts(held))  # the held tokens' words stay open
        if not final and not held and words and not self._next_starts_word(decoded.next_token):
            closed -= 1  # the last word may still grow
        confirmed = words[:closed]
        self._done += self._token_count(closed)
        self._tentative = words[closed:]
        return confirmed

    def _before_repeat(self, tokens: list[int]) -> list[int]:
        """The attention went back within a pass: the decoder began saying something again. A copy of
        the tokens just before it at the end of the pass is part of that loop and goes (Whisper's "Good
        night husband. Good night husband." over the pause after it); then keep what comes before the
        last sentence end, or else drop the word in progress."""
        said = self._tokens + tokens
        for n in range(len(tokens), 1, -1):
            if len(said) >= 2 * n and said[-n:] == said[-2 * n : -n]:
                return tokens[:-n]
        for i in range(len(tokens) - 1, -1, -1):
            if is_sentence_end(self._tok.decode([tokens[i]])):
                return tokens[: i + 1]
        starts = self._starts(tokens, first_is_start=not self._tokens)
        return tokens[: starts[-1]] if starts else tokens

    def _echo(self, tokens: list[int]) -> int:
        """Tokens at the start of a buffer that only repeat the last words of the context (n >= 2 words:
        Whisper, prompted with them, says them again over a breath or a noise): how many to drop."""
        if not tokens or not self._context:
            return 0
        ctx_words, _ = self._tok.split_to_word_tokens(self._context[-40:])
        new_words, new_groups = self._tok.split_to_word_tokens(tokens)
        ctx = [n for n in (norm(w) for w in ctx_words) if n]
        new: list[tuple[str, int]] = []  # (word, tokens up to and including it)
        used = 0
        for w, g in zip(new_words, new_groups):
            used += len(g)
            if norm(w):
                new.append((norm(w), used))
            elif new:
                new[-1] = (new[-1][0], used)  # punctuation goes with the word before
        for n in range(min(len(ctx), len(new)), 1, -1):
            if ctx[-n:] == [w for w, _ in new[:n]]:
                return new[n - 1][1]
        return 0

    def _token_count(self, n_words: int) -> int:
        starts = [self._done + s for s in self._starts(self._tokens[self._done :])] + [len(self._tokens)]
        return starts[min(n_words, len(starts) - 1)] - self._done

    def _next_starts_word(self, token: int | None) -> bool:
        if token is None or self._tok is None:
            return False
        text = self._tok.decode([token])
        return not _is_punctuation(text) and (text.startswith(" ") or not self._spaced())

    def _trim(self) -> list[Word]:
        """Keep the buffer within audio_max_len: the words of the cut audio move into the context."""
        excess = self.buffer.duration - min(self.opts.audio_max_len, WHISPER_MAX_S - self.opts.pad_s)
        if excess <= 0:
            return []
        cut_t = self.buffer.offset + excess
        starts = self._starts(self._tokens)
        move = 0
        for s in starts:
            if self._times[s] < cut_t:
                move = s
        if starts and all(self._times[s] < cut_t for s in starts):
            move = len(self._tokens)
        confirmed: list[Word] = []
        if move > self._done:
            confirmed = self._words(self._done, move, self._tokens, self._times, self._lps)
            self._done = move
        self._context += self._tokens[:move]
        self._tokens, self._times, self._lps = self._tokens[move:], self._times[move:], self._lps[move:]
        self._done -= move
        self.buffer.cut_before(cut_t)
        self._last_frame -= int(round(excess / FRAME_S))
        return confirmed
