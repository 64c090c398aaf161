"""AlignAtt's decoding loop on a scripted decoder: the stopping rule, guards and beam search.

The fake decoder stands in for Whisper only here: it emits scripted tokens and puts each token's
cross-attention peak on a scripted frame, so the rule can be checked frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from wlk_cli.policies.alignatt import AlignAtt, AlignAttConfig, Decoded, loop_cut, median_filter, onset

VOCAB, EOT, FRAMES, HEADS = 50, 49, 200, 2


@dataclass
class State:
    length: int = 0
    seqs: tuple[tuple[int, ...], ...] = ()

    def select(self, index: torch.Tensor) -> State:
        return State(self.length, tuple(self.seqs[i] for i in index.tolist()))


def peak_row(frame: int) -> torch.Tensor:
    """Attention of one query: a bump at ``frame`` on a flat floor."""
    row = torch.full((FRAMES,), 0.1)
    lo, hi = max(0, frame - 2), min(FRAMES, frame + 3)
    row[lo:hi] = 1.0
    return row / row.sum()


class ScriptedDecoder:
    """Next token and its attention peak as a function of the tokens so far (one sequence per row)."""

    def __init__(self, script: dict[tuple[int, ...], list[tuple[int, float, int]]], prompt_len: int) -> None:
        self.script = script  # text so far -> [(token, logprob, frame of the token)]
        self.prompt_len = prompt_len
        self.calls = 0

    def start(self, audio_features: torch.Tensor, batch: int = 1) -> State:
        return State()

    def _out(self, seq: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        choices = self.script.get(tuple(seq[self.prompt_len :]), [(EOT, 0.0, 0)])
        logp = torch.full((VOCAB,), -30.0)
        frame = choices[0][2]
        for tok, lp, _ in choices:
            logp[tok] = lp
        return logp, peak_row(frame)

    def decode(
        self, tokens: torch.Tensor, state: State, positions: list[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        self.calls += 1
        if state.length == 0:
            seq = tuple(tokens[0].tolist())
            n = tokens.shape[1]
            rows = torch.stack([torch.full((FRAMES,), 1.0 / FRAMES)] * n)  # the prompt attends everywhere
            logp, rows[-1] = self._out(list(seq))
            pos = positions or [-1]
            att = rows.expand(1, HEADS, n, FRAMES).clone()
            return logp.expand(1, len(pos), VOCAB).clone(), att, State(n, (seq,))
        seqs = state.seqs if len(state.seqs) == tokens.shape[0] else state.seqs[:1] * tokens.shape[0]
        seqs = tuple(s + (t,) for s, t in zip(seqs, tokens[:, 0].tolist()))
        outs = [self._out(list(s)) for s in seqs]
        logp = torch.stack([o[0] for o in outs])[:, None]
        att = torch.stack([o[1] for o in outs])[:, None, None].expand(-1, HEADS, 1, FRAMES).clone()
        return logp, att, State(state.length + 1, seqs)


def aligner(dec: ScriptedDecoder, **cfg: int) -> AlignAtt:
    suppress = torch.zeros(VOCAB, dtype=torch.bool)
    return AlignAtt(dec, AlignAttConfig(**cfg), eot=EOT, suppress=suppress, blank=[0], no_speech=None, max_tokens=448)


PROMPT = [40, 41]  # a start-of-transcript sequence


def chain(tokens_frames: list[tuple[int, int]]) -> dict[tuple[int, ...], list[tuple[int, float, int]]]:
    """A script that says tokens_frames in order (token i attended at its frame), then EOT."""
    script: dict[tuple[int, ...], list[tuple[int, float, int]]] = {}
    for i, (tok, frame) in enumerate(tokens_frames):
        script[tuple(t for t, _ in tokens_frames[:i])] = [(tok, -0.1, frame)]
    return script


def run(al: AlignAtt, content: int = 100, committed: list[int] | None = None, last_frame: int = -200,
        is_last: bool = False) -> Decoded:  # fmt: skip
    committed = committed or []
    return al.run(torch.zeros(1, FRAMES, 4), content, PROMPT + committed, 0, committed, 500, last_frame, is_last)


SPEECH = [(1, 10), (2, 30), (3, 50), (4, 70), (5, 80), (6, 95)]


def test_stops_when_the_attention_nears_the_end_of_the_audio() -> None:
    d = run(aligner(ScriptedDecoder(chain(SPEECH), len(PROMPT)), frame_threshold=25), content=100, is_last=False)
    # 100 - 70 = 30 > 25: token 4 goes out; 100 - 80 = 20 <= 25: token 5 is held back
    assert d.tokens == [1, 2, 3, 4] and d.reason == "frame" and d.next_token == 5
    assert d.next_onset is not None and 70 < d.next_onset <= 80  # where token 5's bump begins: word 4's end
    # the median filter flattens the bump's top; the first frame of the flat top is the most attended
    assert all(0 <= want - got <= 3 for got, want in zip(d.frames, [10, 30, 50, 70])), d.frames
    assert all(o <= f for o, f in zip(d.onsets, d.frames))
    d = run(aligner(ScriptedDecoder(chain(SPEECH), len(PROMPT)), frame_threshold=40), content=100, is_last=False)
    assert d.tokens == [1, 2, 3] and d.next_token == 4


def test_end_of_utterance_uses_the_end_threshold() -> None:
    d = run(aligner(ScriptedDecoder(chain(SPEECH), len(PROMPT)), frame_threshold=25), content=100, is_last=True)
    assert d.tokens == [1, 2, 3, 4, 5, 6] and d.reason == "eot"  # 100 - 93 = 7 > 4
    d = run(aligner(ScriptedDecoder(chain(SPEECH), len(PROMPT)), frame_threshold=25), content=96, is_last=True)
    assert d.tokens == [1, 2, 3, 4, 5] and d.reason == "frame"  # 96 - 93 = 3 <= 4


def test_a_full_stop_on_the_last_frames_ends_the_utterance() -> None:
    script = chain([(1, 10), (2, 50), (13, 98)])  # 13: "." attended at the very end
    al = aligner(ScriptedDecoder(script, len(PROMPT)))
    al.closing = {13}
    d = run(al, content=100, is_last=True)
    assert d.tokens == [1, 2, 13]
    d = run(al, content=100, is_last=False)  # mid-utterance it waits like any other token
    assert d.tokens == [1, 2] and d.next_token == 13


LN = {0.3: -1.204, 0.25: -1.386, 0.9: -0.105}  # log-probabilities


def test_an_unsure_token_waits_for_twice_the_threshold() -> None:
    script = chain([(1, 10), (2, 30), (3, 60)])
    script[(1, 2)] = [(3, LN[0.3], 60)]  # token 3 is a guess
    al = aligner(ScriptedDecoder(script, len(PROMPT)), frame_threshold=25)
    d = run(al, content=100)  # about 40 frames from the end <= 2 x 25: held back like a token near the end
    assert d.tokens == [1, 2] and d.reason == "frame" and d.next_token == 3
    assert run(al, content=115).tokens == [1, 2, 3]  # more than 50 frames away: out
    assert run(al, content=100, is_last=True).tokens == [1, 2, 3]  # at a pause nothing more will come
    sure = chain([(1, 10), (2, 30), (3, 60)])
    assert run(aligner(ScriptedDecoder(sure, len(PROMPT)), frame_threshold=25), content=100).tokens == [1, 2, 3]
    off = aligner(ScriptedDecoder(script, len(PROMPT)), frame_threshold=25, uncertain_prob=0.0)
    assert run(off, content=100).tokens == [1, 2, 3]


def test_unsure_means_unsure_of_the_word_not_of_its_spelling() -> None:
    spell = {1: "a", 2: "for", 3: "for", 4: "four", 5: "", 6: "b"}  # 2 " For", 3 " for", 5 ","
    script = chain([(1, 10)])
    script[(1,)] = [(2, LN[0.3], 60), (3, LN[0.3], 60)]  # "For" or "for": the word itself is sure
    al = aligner(ScriptedDecoder(script, len(PROMPT)), frame_threshold=25)
    al.spelling = lambda t: spell.get(t, f"other{t}")
    assert run(al, content=100).tokens == [1, 2]
    script[(1,)] = [(2, LN[0.3], 60), (4, LN[0.25], 60)]  # "For" or "four": a guess
    assert run(al, content=100).tokens == [1]
    script[(1,)] = [(5, LN[0.3], 60), (6, LN[0.25], 60)]  # a comma at 0.3 is not held for its doubt
    assert run(al, content=100).tokens == [1, 5]


def test_continues_after_committed_tokens() -> None:
    d = run(aligner(ScriptedDecoder(chain(SPEECH), len(PROMPT))), content=100, committed=[1, 2], last_frame=30)
    assert d.tokens == [3, 4]


def test_attention_jumping_back_discards_the_pass() -> None:
    script = chain([(1, 10), (2, 150), (3, 20)])
    d = run(aligner(ScriptedDecoder(script, len(PROMPT)), rewind_threshold=100), content=200)
    assert d.tokens == [] and d.reason == "rewind"
    # a jump back within a pass ends it there, keeping the tokens before (end of utterance or not)
    script = chain([(1, 10), (2, 100), (3, 120), (4, 60)])
    for is_last in (False, True):
        d = run(aligner(ScriptedDecoder(script, len(PROMPT)), jump_back=50), content=200, is_last=is_last)
        assert d.tokens == [1, 2, 3] and d.reason == "jump"
    # without the jump the same tokens go out
    d = run(aligner(ScriptedDecoder(chain([(1, 10), (2, 150), (3, 160)]), len(PROMPT))), content=200)
    assert d.tokens == [1, 2, 3] and d.reason == "eot"


def test_a_token_whose_attention_leapt_ahead_does_not_end_the_pass() -> None:
    # token 2 attends far ahead (130), token 3 back in line with token 1: token 2's attention was the
    # outlier (tiny.en on a phone call: " need" attended where " heard" is), so decoding goes on
    script = chain([(1, 40), (2, 130), (3, 50), (4, 60)])
    d = run(aligner(ScriptedDecoder(script, len(PROMPT)), jump_back=50), content=200)
    assert d.tokens == [1, 2, 3, 4] and d.reason == "eot"
    assert d.frames[1] == d.frames[0]  # put back in line with the token before
    assert d.onsets == sorted(d.onsets)


def test_loop_guard_on_a_looping_decoder() -> None:
    class Looping(ScriptedDecoder):
        def _out(self, seq: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
            n = len(seq) - self.prompt_len
            logp = torch.full((VOCAB,), -30.0)
            logp[[7, 8, 9][n % 3]] = -0.1  # "7 8 9 7 8 9 ..." forever, attention creeping forward
            return logp, peak_row(min(10 + n, 150))

    dec = Looping({}, len(PROMPT))
    d = run(aligner(dec), content=200)
    assert d.reason == "loop" and d.tokens == [7, 8, 9]
    assert dec.calls < 12  # stopped as soon as the third copy formed


def test_a_loop_is_cut_whichever_way_the_pass_ends() -> None:
    # tiny.en with 2 beams at an utterance's end, after " Hey," was committed: " either... Hey, either..."
    # (scripted after the committed two), the copy's attention back on the first one's audio, the last
    # "..." a full stop on the final frames. The pass ended on the full stop's rule, which returned the
    # path unchecked.
    hey, comma, either, dots = 1, 2, 3, 13
    script = chain([(hey, 20), (comma, 40), (either, 46), (dots, 74), (hey, 40), (comma, 45), (either, 50), (dots, 97)])
    al = aligner(ScriptedDecoder(script, len(PROMPT)), beams=2)
    al.closing = {dots}
    d = run(al, content=100, committed=[hey, comma], last_frame=40, is_last=True)
    assert d.tokens == [either, dots] and d.reason == "loop", d
    # said again on audio of its own, the same words stay
    script = chain([(hey, 20), (comma, 40), (either, 46), (dots, 52), (hey, 60), (comma, 66), (either, 80), (dots, 97)])
    al = aligner(ScriptedDecoder(script, len(PROMPT)), beams=2)
    al.closing = {dots}
    d = run(al, content=100, committed=[hey, comma], last_frame=40, is_last=True)
    assert d.tokens == [either, dots, hey, comma, either, dots] and d.reason != "loop"


def test_token_budget_stops_a_runaway() -> None:
    class Runaway(ScriptedDecoder):
        def _out(self, seq: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
            n = len(seq) - self.prompt_len
            logp = torch.full((VOCAB,), -30.0)
            logp[1 + n % 30] = -0.1  # never repeats within 30 tokens, never ends
            return logp, peak_row(5)

    d = Runaway({}, len(PROMPT))
    al = aligner(d)
    out = al.run(torch.zeros(1, FRAMES, 4), 200, PROMPT, 0, [], 12, -200, False)
    assert out.reason == "budget" and len(out.tokens) == 12


def test_beam_search_finds_the_likelier_path() -> None:
    # greedy takes token 1 (-0.5) and then only poor continuations (-3); token 2 (-0.7) leads to -0.1
    script = {
        (): [(1, -0.5, 10), (2, -0.7, 10)],
        (1,): [(3, -3.0, 30)],
        (2,): [(4, -0.1, 30)],
        (1, 3): [(EOT, -0.1, 40)],
        (2, 4): [(EOT, -0.1, 40)],
    }
    greedy = run(aligner(ScriptedDecoder(script, len(PROMPT)), beams=1), content=200)
    assert greedy.tokens == [1, 3]
    beam = run(aligner(ScriptedDecoder(script, len(PROMPT)), beams=2), content=200)
    assert beam.tokens == [2, 4] and beam.reason == "eot"


def test_loop_cut() -> None:
    assert loop_cut([1, 2, 3, 4], 0) == 4
    assert loop_cut([5, 7, 7, 7, 7], 0) == 2  # four of one token: keep one
    assert loop_cut([5, 7, 7, 7], 0) == 4  # three are allowed ("no no no")
    assert loop_cut([1, 2, 3, 1, 2, 3, 1, 2, 3], 0) == 3
    assert loop_cut([9, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6], 0) == 7  # a 6-gram twice
    assert loop_cut([9, 1, 2, 3, 4, 1, 2, 3, 4], 0) == 5  # a phrase said again
    assert loop_cut([7, 7, 7, 7], 3) == 3  # never below what was already emitted


def test_loop_cut_with_frames_keeps_repeats_that_move_on_over_their_audio() -> None:
    hello = [7, 8, 7, 8, 9, 7, 8]  # " Hello" "?" " Hello" "?" " Oh," " hello" "."
    moving = [10, 30, 55, 75, 90, 100, 120]
    assert loop_cut(hello, 0, moving, 0) == len(hello)
    no = [5, 5, 5, 5, 5]
    assert loop_cut(no, 0, [10, 25, 40, 55, 70], 0) == 5  # "no, no, no, no, no" said
    assert loop_cut(no[:3], 0, [10, 25, 26], 0) == 2  # the attention stays put: a loop (checked per token)
    phrase = [1, 2, 3, 4, 1, 2, 3, 4]
    assert loop_cut(phrase, 0, [5, 10, 15, 20, 30, 40, 50, 60], 0) == 8
    assert loop_cut(phrase, 0, [5, 10, 15, 20, 12, 14, 16, 18], 0) == 4  # back on the same audio
    # the copy before lies in the tokens already emitted: their end frame is ``before``
    assert loop_cut([9, 7, 7], 2, [40], 20) == 3
    assert loop_cut([9, 7, 7], 2, [21], 20) == 2
    # a copy whose attention goes ahead and then back ("Hey, fever" again over music) is not in order
    assert loop_cut([1, 2, 3, 1, 2, 3], 3, [72, 60, 49], 46) == 3


def test_median_filter_and_onset() -> None:
    x = torch.tensor([[0.0, 0.0, 9.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    y = median_filter(x, 3)
    assert y[0, 2] == 0.0  # a one-frame spike is removed
    assert y[0, 6] == 1.0
    curve = torch.tensor([0.0, 0.0, 0.1, 0.6, 0.8, 1.0, 0.2, 0.0, 0.0, 0.0])
    assert onset(curve, 5) == 3  # the run above half the peak starts at frame 3
    assert onset(curve, 0) == 0


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_threshold_is_rejected_by_settings(bad: int) -> None:
    from wlk_cli.config import Settings
    from wlk_cli.errors import UsageError

    with pytest.raises(UsageError, match="frame_threshold"):
        Settings(frame_threshold=bad).validate()
