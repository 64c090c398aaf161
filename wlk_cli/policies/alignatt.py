"""AlignAtt (Papi et al.; SimulStreaming): decode token by token while the attention stays behind the audio.

After each token, the decoder's cross-attention on the alignment heads says which audio frame the token
came from. Each head's attention is standardised per frame over the tokens of this pass (as Whisper's
word alignment does), median-filtered over frames (width 7) and averaged over heads; its argmax is the
most attended frame. A token whose most attended frame lies within ``frame_threshold`` frames of the
end of the audio is not emitted: it may be a word still being spoken. Greedy decoding is beam search
with one beam; with more beams the best beam decides when to stop and the tokens emitted are its path.

A word the decoder is unsure of (probability below ``uncertain_prob``, summed over the tokens that
spell it alike) must lie twice as far from the end before it is emitted: with more audio it is often
another word (tiny.en, on 1.8 s of "Pearl saw and gazed", went on with ", engaged" at 0.31 and 0.40;
held back, it said " and gazed" with more audio).

Guards: a token budget per second of audio, a stop when the tokens loop (an n-gram repeated back to
back), and a discarded pass when the attention jumps far back (the alignment has failed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from wlk_cli.asr.base import TOKENS_PER_S
from wlk_cli.config import default_of

MEDIAN_WIDTH = 7


class IncrementalDecoder(Protocol):
    """What AlignAtt needs of a Whisper decoder (``TorchWhisper`` is one)."""

    def start(self, audio_features: torch.Tensor, batch: int = 1) -> Any: ...

    def decode(
        self, tokens: torch.Tensor, state: Any, positions: list[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Any]: ...


@dataclass(frozen=True)
class AlignAttConfig:
    frame_threshold: int = default_of("frame_threshold")
    """Stop when the most attended frame is this close (frames of 20 ms) to the end of the audio."""
    end_threshold: int = 4
    """The same at the end of an utterance: all audio is there, only the very end is held back."""
    beams: int = 1
    rewind_threshold: int = 200
    """Attention jumping back more than this many frames discards the pass."""
    jump_back: int = 50
    """Within a pass, a token attending this far behind the token before it ends the pass there: the
    decoder has begun to say again what it said (kept: the tokens before the jump)."""
    tokens_per_s: float = TOKENS_PER_S
    """Token budget per second of audio in the buffer (see ``asr.base.token_budget``)."""
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    """With a no-speech probability above the threshold, a first pass whose tokens average below this
    log-probability is silence (Whisper's rule)."""
    uncertain_prob: float = 0.5
    """A token the decoder gives less than this probability needs ``uncertain_factor`` times the frame
    threshold between its most attended frame and the end of the audio (not at the end of an
    utterance): a guess made on too little audio waits for more before it becomes final."""
    uncertain_factor: float = 2.0


@dataclass
class Decoded:
    """One pass: the tokens to emit (never more than the pass produced), and why it stopped."""

    tokens: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    """Most attended frame of each token (the stopping rule's)."""
    onsets: list[int] = field(default_factory=list)
    """Where each token's attention peak begins (its timing)."""
    logprobs: list[float] = field(default_factory=list)
    reason: str = "eot"
    """eot, frame (held back at the audio's end), budget, loop, rewind (nothing kept), jump (the tokens
    before a jump back within the pass), no-speech, context."""
    next_token: int | None = None
    """The token held back by the frame rule (it tells whether the last word is complete)."""
    next_onset: int | None = None
    """Where that token's attention peak begins: the end of the last word, when it begins a new one."""
    last_frame: int = 0


def median_filter(x: torch.Tensor, width: int = MEDIAN_WIDTH) -> torch.Tensor:
    """Median over a sliding window of the last dimension, reflect-padded (Whisper's timing filter)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    shape = x.shape
    y = F.pad(x.reshape(-1, 1, shape[-1]), (pad, pad), mode="reflect")
    return y.unfold(-1, width, 1).median(dim=-1).values.reshape(shape)


@dataclass
class AttentionStats:
    """Per (beam, head, frame) running sums over the rows (tokens) of one pass, to standardise each frame."""

    s1: torch.Tensor
    s2: torch.Tensor
    n: int

    @classmethod
    def of(cls, rows: torch.Tensor) -> AttentionStats:
        """rows: (beams, heads, tokens, frames)."""
        return cls(rows.sum(dim=2), (rows * rows).sum(dim=2), int(rows.shape[2]))

    def add(self, row: torch.Tensor) -> None:
        """row: (beams, heads, frames)."""
        self.s1 = self.s1 + row
        self.s2 = self.s2 + row * row
        self.n += 1

    def select(self, index: torch.Tensor) -> None:
        self.s1 = self.s1.index_select(0, index)
        self.s2 = self.s2.index_select(0, index)

    def curve(self, row: torch.Tensor) -> torch.Tensor:
        """(beams, frames): ``row`` (beams, heads, frames) standardised with these sums, filtered, head-averaged."""
        mean = self.s1 / self.n
        std = (self.s2 / self.n - mean * mean).clamp_min(0.0).sqrt()
        z = (row - mean) / (std + 1e-6)
        return median_filter(z).mean(dim=1)


def onset(curve: torch.Tensor, peak: int) -> int:
    """Where the attention peak at ``peak`` begins: the first frame of the run before it that stays
    above half the peak's height over the curve's median (a token's onset comes before its peak)."""
    c = curve - curve.median()
    half = float(c[peak]) / 2
    f = peak
    while f > 0 and float(c[f - 1]) >= half:
        f -= 1
    return f


LOOP_FRAMES_PER_TOKEN = 3
"""A repeated phrase said again advances the attention by at least this many frames per token."""


def loop_cut(tokens: list[int], fixed: int, frames: list[int] | None = None, before: int = 0) -> int:
    """Length to keep when ``tokens`` ends in a loop, else ``len(tokens)``; never below ``fixed``.

    The newest n tokens repeating the n before them are a loop when they have no audio of their own:
    their most attended frames (``frames``, one per token from ``fixed`` on; ``before`` is the frame
    of the last token before ``fixed``) do not move on, in order, past the copy before, by at least
    LOOP_FRAMES_PER_TOKEN per token. A phrase really said again ("Hello? Hello?", "no, no, no")
    moves the attention forward over its own audio. Without frames, a repeat is a loop when it comes
    4 times (n <= 2), 3 times (n == 3) or twice (n >= 4).
    """
    size = len(tokens)

    def frame(j: int) -> int | None:
        return frames[j - fixed] if frames is not None and j >= fixed else None

    for n in range(1, 17):
        reps = 2 if frames is not None else 4 if n <= 2 else 3 if n == 3 else 2
        if n * reps > size:
            continue
        gram = tokens[size - n :]
        if not all(tokens[size - (r + 1) * n : size - r * n] == gram for r in range(1, reps)):
            continue
        if frames is not None:
            prev = [frame(j) for j in range(size - 2 * n, size - n)]
            prev_end = max([f for f in prev if f is not None] or [before])  # its tokens emitted before: their end
            copy = [f for f in (frame(j) for j in range(size - n, size)) if f is not None]
            in_order = all(b >= a - 3 for a, b in zip(copy, copy[1:]))
            if copy and in_order and min(copy) >= prev_end - 2 and max(copy) - prev_end >= LOOP_FRAMES_PER_TOKEN * n:
                continue  # said again, in order, on audio of its own
        return max(fixed, size - (reps - 1) * n)
    return size


class AlignAtt:
    """Runs AlignAtt passes with a decoder; knows the tokenizer's special ids, not the audio buffer."""

    def __init__(
        self,
        model: IncrementalDecoder,
        config: AlignAttConfig,
        *,
        eot: int,
        suppress: torch.Tensor,
        blank: list[int],
        no_speech: int | None,
        max_tokens: int,
        closing: set[int] | frozenset[int] = frozenset(),
        spelling: Callable[[int], str] | None = None,
    ) -> None:
        self.model = model
        self.cfg = config
        self.eot = eot
        self.suppress = suppress  # bool (vocab,): never emitted
        self.first_suppress = suppress.clone()  # the first token of an utterance is not blank or eot either
        self.first_suppress[blank + [eot]] = True
        self.no_speech = no_speech
        self.max_tokens = max_tokens
        self.closing = closing  # punctuation that may end an utterance inside the last frames
        self.spelling = spelling  # a token's text, lowercased, without spaces or punctuation

    def _unsure(self, logp: torch.Tensor, token: int) -> bool:
        """Whether the decoder is unsure of the word ``token`` spells: its probability, summed over the
        likeliest tokens that spell it alike (" For" and " for", " go" and " go,"), is below
        ``uncertain_prob``. Punctuation alone is never held for this (a comma is often a coin toss)."""
        if self.spelling is None:
            return True
        key = self.spelling(token)
        if not key:
            return False
        top = logp.topk(10)
        p = sum(math.exp(float(v)) for v, i in zip(top.values, top.indices) if self.spelling(int(i)) == key)
        return p < self.cfg.uncertain_prob

    def _jumped_back(self, path: list[_Step], frame: int, committed_frame: int) -> bool:
        """Whether a token attending ``frame`` jumps back: far behind the token before it and also
        behind the one before that (or the tokens already emitted), so the decoder has begun to say
        again what it said. When it lies in line with the one before that, it is the token before it
        whose attention leapt ahead (tiny models do this on conversational audio): not a jump."""
        if path[-1].frame - frame <= self.cfg.jump_back:
            return False
        before = path[-2].frame if len(path) > 1 else committed_frame
        return frame < before - self.cfg.jump_back // 5

    def run(
        self,
        features: torch.Tensor,
        content_frames: int,
        prompt: list[int],
        aligned_from: int,
        committed: list[int],
        budget: int,
        last_frame: int,
        is_last: bool,
    ) -> Decoded:
        """Decode after ``prompt`` (which ends with the tokens ``committed`` so far on this audio).

        ``aligned_from`` is the prompt index of the start-of-transcript token: rows from there on are
        the tokens of this audio, whose attention standardises each frame. As in Whisper, a first pass
        on new audio is silence only when the no-speech probability is high *and* the tokens it
        decoded are unsure (mean log-probability below ``logprob_threshold``): a synthetic or unusual
        voice often has a high no-speech probability and clear words.
        """
        positions = [aligned_from, -1]
        logp, att, state = self.model.decode(torch.tensor([prompt]), self.model.start(features, 1), positions)
        decoded = self._run(
            logp, att, state, content_frames, prompt, aligned_from, committed, budget, last_frame, is_last
        )
        if committed or self.no_speech is None or decoded.reason == "rewind":
            return decoded
        if float(logp[0, 0, self.no_speech].exp()) > self.cfg.no_speech_threshold:
            lps = decoded.logprobs
            if not lps or sum(lps) / len(lps) < self.cfg.logprob_threshold:
                return Decoded(reason="no-speech", last_frame=last_frame)
        return decoded

    def _run(
        self,
        logp: torch.Tensor,
        att: torch.Tensor,
        state: Any,
        content_frames: int,
        prompt: list[int],
        aligned_from: int,
        committed: list[int],
        budget: int,
        last_frame: int,
        is_last: bool,
    ) -> Decoded:
        cfg = self.cfg
        beams = cfg.beams
        threshold = cfg.end_threshold if is_last else cfg.frame_threshold
        uncertain = math.log(cfg.uncertain_prob) if cfg.uncertain_prob > 0 and not is_last else -math.inf
        far = cfg.uncertain_factor * threshold
        content = max(1, content_frames)
        stats = AttentionStats.of(att[:, :, aligned_from:, :content])
        row = att[:, :, -1, :content]
        logp = logp[:, -1]
        scores = torch.zeros(1)
        paths: list[list[_Step]] = [[]]
        first = not committed
        committed_frame = last_frame  # where the tokens already emitted on this audio end

        def kept(path: list[_Step]) -> int:
            """How much of ``path`` is not a loop (over the tokens already emitted on this audio too)."""
            keep = loop_cut(
                committed + [p.token for p in path], len(committed), [p.frame for p in path], committed_frame
            )
            return keep - len(committed)

        def result(
            path: list[_Step], reason: str, next_token: int | None, last: int, next_onset: int | None = None
        ) -> Decoded:
            """The pass's output: every path returned (not only the best beam's) is checked for a loop."""
            keep = kept(path)
            if keep < len(path):
                return _decoded(path[:keep], "loop", None, last)
            return _decoded(path, reason, next_token, last, next_onset)

        while len(prompt) + len(paths[0]) < self.max_tokens:
            logp = logp.masked_fill(self.first_suppress if first else self.suppress, float("-inf"))
            first = False
            curves = stats.curve(row)
            peaks = curves.argmax(dim=-1).tolist()
            cand = (scores[:, None] + logp).reshape(-1)
            top_scores, top_ids = cand.topk(min(4 * beams + 1, cand.numel()))
            vocab = logp.shape[-1]
            best_beam, best_tok = divmod(int(top_ids[0]), vocab)
            if best_tok == self.eot:
                return result(paths[best_beam], "eot", None, last_frame)
            ranked = [
                (float(s), *divmod(int(i), vocab)) for s, i in zip(top_scores, top_ids) if int(i) % vocab != self.eot
            ]
            _, b0, t0 = ranked[0]
            f0 = peaks[b0]
            if not is_last and last_frame - f0 > cfg.rewind_threshold:
                return Decoded(reason="rewind", last_frame=-cfg.rewind_threshold)
            if paths[b0] and paths[b0][-1].frame - f0 > cfg.jump_back:
                if self._jumped_back(paths[b0], f0, committed_frame):
                    return result(paths[b0], "jump", None, last_frame)
                paths[b0][-1] = _back_in_line(paths[b0], committed_frame)
            if content_frames - f0 <= threshold or (
                content_frames - f0 <= far and float(logp[b0, t0]) < uncertain and self._unsure(logp[b0], t0)
            ):
                if is_last and t0 in self.closing:  # the full stop after the last word attends to the end
                    step = _Step(t0, f0, onset(curves[b0], f0), float(logp[b0, t0]))
                    return result(paths[b0] + [step], "frame", None, f0)
                return result(paths[b0], "frame", t0, last_frame, onset(curves[b0], f0))
            if len(committed) + len(paths[b0]) + 1 > budget:
                return result(paths[b0], "budget", None, last_frame)
            # every token of every beam passes the same rules as the best one: a beam whose next token
            # attends too near the end or jumps back is not extended
            chosen = [
                (sc, b, t)
                for sc, b, t in ranked
                if content_frames - peaks[b] > threshold
                and not (paths[b] and self._jumped_back(paths[b], peaks[b], committed_frame))
            ][:beams]
            index = [c[1] for c in chosen]
            new = [c[2] for c in chosen]
            paths = [
                paths[b] + [_Step(t, peaks[b], onset(curves[b], peaks[b]), float(logp[b, t]))]
                for b, t in zip(index, new)
            ]
            scores = torch.tensor([c[0] for c in chosen])
            last_frame = f0
            keep = kept(paths[0])
            if keep < len(paths[0]):
                return _decoded(paths[0][:keep], "loop", None, last_frame)
            if beams > 1:
                stats.select(torch.tensor(index))
                state = state.select(torch.tensor(index))
            logp, att, state = self.model.decode(torch.tensor(new)[:, None], state)
            row = att[:, :, -1, :content]
            stats.add(row)
            logp = logp[:, -1]
        return result(paths[0], "context", None, last_frame)


@dataclass(frozen=True)
class _Step:
    token: int
    frame: int
    onset: int
    logprob: float


def _back_in_line(path: list[_Step], committed_frame: int) -> _Step:
    """The last step of ``path`` with its attention (which leapt ahead) put back in line with the step
    before it: its frame and onset become that step's, so the next tokens are judged and timed from
    there."""
    last = path[-1]
    frame = path[-2].frame if len(path) > 1 else max(committed_frame, 0)
    start = path[-2].onset if len(path) > 1 else frame
    return _Step(last.token, frame, min(last.onset, max(start, frame)), last.logprob)


def _decoded(
    path: list[_Step], reason: str, next_token: int | None, last_frame: int, next_onset: int | None = None
) -> Decoded:
    return Decoded(
        tokens=[p.token for p in path],
        frames=[p.frame for p in path],
        onsets=[p.onset for p in path],
        logprobs=[p.logprob for p in path],
        reason=reason,
        next_token=next_token,
        next_onset=next_onset,
        last_frame=last_frame,
    )
