"""LocalAgreement-2 with fake ASRs: deterministic, no model."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import SR, ScriptedASR, StreamASR, marker_audio, sentence_stream
from wlk_cli.asr.base import AsrWord
from wlk_cli.events import Word
from wlk_cli.policies.local_agreement import HOLD_S, LocalAgreementOptions, LocalAgreementPolicy
from wlk_cli.text import norm


def feed(policy: LocalAgreementPolicy, start_s: float, dur_s: float) -> None:
    policy.insert_audio(marker_audio(int(round(start_s * SR)), int(round(dur_s * SR))), start_s)


def run_stream(
    policy: LocalAgreementPolicy, total_s: float, chunk_s: float = 0.1
) -> tuple[list[Word], list[list[Word]]]:
    confirmed: list[Word] = []
    tentatives: list[list[Word]] = []
    t = 0.0
    while t < total_s - 1e-9:
        feed(policy, t, chunk_s)
        t += chunk_s
        if policy.ready():
            u = policy.step()
            confirmed += u.confirmed
            tentatives.append(u.tentative)
    u = policy.finish()
    confirmed += u.confirmed
    return confirmed, tentatives


def step_texts(
    policy: LocalAgreementPolicy, steps: int, chunk_s: float, tail_s: float = 0.0
) -> tuple[list[str], list[Word]]:
    """Feed ``steps`` chunks with a step after each, then ``tail_s`` more audio and finish (a pause):
    (all confirmed texts, the words the finish confirmed)."""
    texts: list[str] = []
    for k in range(steps):
        feed(policy, k * chunk_s, chunk_s)
        texts += [w.text for w in policy.step().confirmed]
    if tail_s:
        feed(policy, steps * chunk_s, tail_s)
    last = policy.finish().confirmed
    return texts + [w.text for w in last], last


def test_commits_only_the_common_prefix_of_two_hypotheses() -> None:
    asr = ScriptedASR(
        [
            [(0.0, 0.3, " the"), (0.3, 0.6, " cat"), (0.6, 0.9, " sad")],
            [(0.0, 0.3, " The"), (0.3, 0.6, " cat"), (0.6, 0.9, " sat"), (0.9, 1.2, " down")],
        ]
    )
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5))
    feed(p, 0.0, 1.0)
    first = p.step()
    assert first.confirmed == []
    assert [w.text for w in first.tentative] == [" the", " cat", " sad"]
    feed(p, 1.0, 0.5)
    second = p.step()
    assert [w.text for w in second.confirmed] == [" The", " cat"]  # the newest spelling is kept
    assert [w.text for w in second.tentative] == [" sat", " down"]


def test_finish_commits_the_rest_and_empties_the_buffer() -> None:
    words = sentence_stream(12)
    p = LocalAgreementPolicy(StreamASR(words), LocalAgreementOptions(min_chunk_size=0.5))
    confirmed, _ = run_stream(p, words[-1][1] + 0.2)
    assert [w.text for w in confirmed] == [t for _, _, t in words]
    assert p.buffer_duration == 0.0
    assert p.finish().confirmed == []


def test_trimming_keeps_stream_times_true_and_the_buffer_bounded() -> None:
    words = sentence_stream(150)  # about 55 s
    asr = StreamASR(words)
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5, buffer_trimming_sec=5.0))
    longest = 0.0
    confirmed: list[Word] = []
    t = 0.0
    while t < words[-1][1] + 0.3:
        feed(p, t, 0.1)
        t += 0.1
        longest = max(longest, p.buffer_duration)
        if p.ready():
            confirmed += p.step().confirmed
    confirmed += p.finish().confirmed
    assert [w.text for w in confirmed] == [w[2] for w in words]
    for got, (s, e, _) in zip(confirmed, words):
        assert abs(got.start - s) < 1e-3 and abs(got.end - e) < 1e-3
    assert all(a.end <= b.start for a, b in zip(confirmed, confirmed[1:]))
    assert longest < 5.0 + 4.0  # trimmed at a segment end soon after passing 5 s
    assert max(c[1] - c[0] for c in asr.calls) < 9.0


def test_sentence_trimming_also_keeps_times() -> None:
    words = sentence_stream(60)
    p = LocalAgreementPolicy(
        StreamASR(words), LocalAgreementOptions(min_chunk_size=0.5, buffer_trimming="sentence", buffer_trimming_sec=4.0)
    )
    confirmed, _ = run_stream(p, words[-1][1] + 0.3)
    assert [(round(w.start, 3), w.text) for w in confirmed] == [(s, t) for s, _, t in words]


def test_prompt_is_committed_text_that_left_the_buffer() -> None:
    words = sentence_stream(40)
    asr = StreamASR(words)
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5, buffer_trimming_sec=3.0))
    run_stream(p, words[-1][1] + 0.3)
    prompts = [c[2] for c in asr.calls if c[2]]
    assert prompts, "after trimming, committed text must prompt the model"
    for start, _, prompt in asr.calls:
        before = "".join(t for s, e, t in words if e <= start + 1e-6)
        assert prompt == before[-200:]


def test_a_decoding_loop_without_audio_is_not_committed() -> None:
    # Whisper's loop: the phrase is said once on its audio, then again and again squeezed onto the
    # last frames of the buffer (the copies have no audio of their own)
    loop = [(0.0, 0.3, " A"), (0.3, 0.6, " heart"), (0.6, 0.9, " trouble.")]
    squeezed = [(2.3 + 0.02 * i, 2.3 + 0.02 * (i + 1), t) for i, (_, _, t) in enumerate(loop * 3)]
    asr = ScriptedASR([loop + squeezed] * 4)
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5))
    assert step_texts(p, 4, 0.6)[0] == [" A", " heart", " trouble."]


def test_genuine_repeats_each_on_their_own_audio_are_all_committed() -> None:
    # "Hello? Hello? Oh, hello." and "no, no, no, no": every copy has audio under it
    said = [(0.1, 0.6, " Hello?"), (0.9, 1.4, " Hello?"), (1.7, 1.9, " Oh,"), (1.9, 2.4, " hello.")]
    said += [(2.6 + 0.3 * i, 2.85 + 0.3 * i, " no,") for i in range(4)] + [(3.9, 4.3, " very"), (4.3, 4.7, " very")]
    p = LocalAgreementPolicy(StreamASR(said), LocalAgreementOptions(min_chunk_size=0.3))
    confirmed, _ = run_stream(p, 5.0)
    assert [w.text for w in confirmed] == [t for _, _, t in said]


def test_the_same_word_aligned_twice_is_committed_once() -> None:
    # pass 1 ends on " Well," at 2.40 (zero length); pass 2 has it again at 2.40-2.46, then more
    first = [(0.0, 0.5, " Yes."), (2.4, 2.4, " Well,"), (2.4, 2.4, " there")]
    second = [(0.0, 0.5, " Yes."), (2.4, 2.46, " Well,"), (2.46, 2.7, " there"), (2.7, 2.9, " is")]
    asr = ScriptedASR([first, first, second, second])
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5))
    assert step_texts(p, 4, 0.8)[0] == [" Yes.", " Well,", " there", " is"]


def test_a_pause_commits_the_words_shown_when_the_last_pass_hears_less() -> None:
    shown = [(0.0, 0.3, " I"), (0.3, 0.6, " have"), (0.6, 0.9, " tried"), (0.9, 1.3, " to"), (1.3, 1.6, " know")]
    fragments = [(0.0, 0.3, " I"), (0.3, 1.6, " ight.")]
    asr = ScriptedASR([shown[:1], shown, fragments])
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5))
    feed(p, 0.0, 0.8)
    p.step()
    feed(p, 0.8, 0.8)
    u = p.step()
    assert [w.text for w in u.confirmed] == [" I"]
    assert [w.text for w in u.tentative] == [" have", " tried", " to", " know"]
    feed(p, 1.6, 0.2)
    assert [w.text for w in p.finish().confirmed] == [" have", " tried", " to", " know"]


def test_a_pause_takes_the_last_pass_when_it_hears_at_least_as_much() -> None:
    shown = [(0.0, 0.3, " I"), (0.3, 0.6, " half"), (0.6, 0.9, " tried")]
    better = [(0.0, 0.3, " I"), (0.3, 0.6, " have"), (0.6, 0.9, " tried"), (0.9, 1.3, " it.")]
    p = LocalAgreementPolicy(ScriptedASR([shown[:1], shown, better]), LocalAgreementOptions(min_chunk_size=0.5))
    feed(p, 0.0, 0.8)
    p.step()
    feed(p, 0.8, 0.8)
    p.step()
    feed(p, 1.6, 0.2)
    assert [w.text for w in p.finish().confirmed] == [" have", " tried", " it."]


def test_audio_after_the_last_word_is_heard_at_the_end_of_the_utterance() -> None:
    # the model stops after "Hello? Hello?" on the short buffer although the utterance goes on 2 s
    hellos = [(0.0, 0.5, " Hello?"), (0.6, 1.0, " Hello?")]
    rest = [(0.1, 0.4, " I"), (0.4, 0.9, " see"), (0.9, 1.3, " you.")]
    asr = ScriptedASR([hellos, hellos, hellos, rest])
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=1.0))
    texts, last = step_texts(p, 2, 1.0, tail_s=1.0)
    assert texts == [" Hello?", " Hello?", " I", " see", " you."]
    assert last[-3].start >= 1.0  # timed on the audio after the last word


def test_nothing_is_committed_while_the_language_is_unsure() -> None:
    words = sentence_stream(10)
    asr = StreamASR(words)
    asr.language_settled = False  # type: ignore[attr-defined]
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5))
    t, early = 0.0, []
    while t < words[-1][1] + 0.2:
        feed(p, t, 0.1)
        t += 0.1
        if p.ready():
            u = p.step()
            early += u.confirmed
            assert u.tentative or not early
    assert early == []
    assert [w.text for w in p.finish().confirmed] == [w[2] for w in words]


def test_words_the_passes_never_agree_on_are_committed_once_heard_long_enough_before_the_end() -> None:
    """base on read Arabic: each pass spelled the words differently from the one before, and words were
    confirmed 11 s after they were said. A word heard HOLD_S before the end of the audio is committed as
    the newest pass hears it."""
    words = sentence_stream(30, word_s=0.3, gap_every=100)  # 9 s of unbroken speech

    def respell(call: int, heard: list[AsrWord]) -> list[AsrWord]:
        return [AsrWord(w.start, w.end, f"{w.text}~{call}", w.prob) for w in heard]  # never the same twice

    p = LocalAgreementPolicy(StreamASR(words, mangle=respell), LocalAgreementOptions(min_chunk_size=0.5))
    t, lags = 0.0, []
    while t < words[-1][1] + 0.05:
        feed(p, t, 0.1)
        t += 0.1
        if p.ready():
            u = p.step()
            lags += [t - w.end for w in u.confirmed]
            assert all(w.end <= t - HOLD_S + 1e-9 for w in u.confirmed)
    assert len(lags) >= 20 and max(lags) <= HOLD_S + 0.5 + 0.1  # one chunk after HOLD_S, at most
    rest = p.finish().confirmed
    assert len(lags) + len(rest) == len(words)


def test_words_piled_on_one_instant_are_dropped() -> None:
    hyp = [(0.0, 0.4, " real"), (0.5, 0.9, " words."), (1.0, 1.0, " ghost"), (1.0, 1.0, " ghost"), (1.0, 1.01, " tail")]
    p = LocalAgreementPolicy(ScriptedASR([hyp]), LocalAgreementOptions(min_chunk_size=0.5))
    feed(p, 0.0, 1.5)
    assert [w.text for w in p.finish().confirmed] == [" real", " words."]


def test_confidence_validation_commits_sure_words_at_once() -> None:
    hyp = [(0.0, 0.3, " sure"), (0.3, 0.6, " also"), (0.6, 0.9, " maybe")]
    asr = ScriptedASR([hyp], probs={"sure": 0.99, "also": 0.97, "maybe": 0.5})
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.5, confidence_validation=True))
    feed(p, 0.0, 1.0)
    u = p.step()
    assert [w.text for w in u.confirmed] == [" sure", " also"]
    assert [w.text for w in u.tentative] == [" maybe"]


def test_a_gap_in_inserted_audio_keeps_stream_times() -> None:
    p = LocalAgreementPolicy(ScriptedASR([[]]), LocalAgreementOptions())
    p.insert_audio(np.zeros(SR, dtype=np.float32), 10.0)
    p.insert_audio(np.zeros(SR, dtype=np.float32), 11.5)
    assert abs(p.buffer_duration - 2.5) < 1e-6


VOCAB = [" a", " b", " c", " d", " e"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_confirmed_words_are_append_only_and_agreed(data: st.DataObject) -> None:
    """Property: whatever the model says, no confirmed word is ever retracted or repeated, times never
    go backwards, and (without confidence validation) each confirmed word was agreed by two hypotheses
    or heard HOLD_S before the end of the audio."""
    n_steps = data.draw(st.integers(2, 12))
    stream = sentence_stream(40, word_s=0.25, gap_every=6)

    def mangle(call: int, words: list[AsrWord]) -> list[AsrWord]:
        out = list(words)
        if out and data.draw(st.booleans()):
            k = data.draw(st.integers(0, len(out) - 1))
            out[k] = AsrWord(out[k].start, out[k].end, data.draw(st.sampled_from(VOCAB)), 0.5)
        if out and data.draw(st.booleans()):
            out = out[: data.draw(st.integers(0, len(out)))]
        return out

    asr = StreamASR(stream, mangle=mangle)
    p = LocalAgreementPolicy(asr, LocalAgreementOptions(min_chunk_size=0.3, buffer_trimming_sec=3.0))
    confirmed: list[Word] = []
    previous_tail: list[Word] = []
    t = 0.0
    for _ in range(n_steps):
        dur = data.draw(st.sampled_from([0.1, 0.3, 0.5, 1.0]))
        feed(p, t, dur)
        t += dur
        if p.ready():
            u = p.step()
            for i, w in enumerate(u.confirmed):  # agreed, or heard HOLD_S before the end of the audio
                agreed = i < len(previous_tail) and norm(previous_tail[i].text) == norm(w.text)
                assert agreed or w.end <= t - HOLD_S + 1e-9
            confirmed += u.confirmed
            previous_tail = u.tentative
    confirmed += p.finish().confirmed
    for a, b in zip(confirmed, confirmed[1:]):
        assert b.start >= a.end - 0.1 - 1e-9
    ids = [(round(w.start, 3), w.text) for w in confirmed]
    assert len(ids) == len(set(ids))
