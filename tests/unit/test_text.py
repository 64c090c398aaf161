from wlk_cli.events import Word
from wlk_cli.policies.text import (
    WORD_S,
    cut_collapsed,
    cut_repetition,
    cut_unheard,
    overlap_ngram,
    repair_times,
    repeats_tail,
)
from wlk_cli.text import norm


def ws(*texts: str, step: float = 0.3) -> list[Word]:
    return [Word(i * step, i * step + 0.25, t, 0.9) for i, t in enumerate(texts)]


def test_norm_ignores_case_punctuation_and_space() -> None:
    assert norm(" Hello,") == norm("hello") == "hello"
    assert norm(" don't") == "don't"
    assert norm(" Grüße!") == "grüße"


def test_overlap_ngram_finds_the_longest_reheard_tail() -> None:
    assert overlap_ngram(ws(" a", " b", " c"), ws(" b", " c", " d")) == 2
    assert overlap_ngram(ws(" a", " b"), ws(" c")) == 0


def squeezed(words: list[Word], at: float) -> list[Word]:
    """The same words again, one frame each from ``at``: a copy with no audio under it."""
    return [Word(at + 0.02 * i, at + 0.02 * (i + 1), w.text, w.prob) for i, w in enumerate(words)]


def test_cut_repetition_drops_copies_without_audio() -> None:
    once = ws(" a", " heart", " trouble.")
    assert [w.text for w in cut_repetition(once + squeezed(once * 2, 1.0))] == [" a", " heart", " trouble."]
    long = ws(*[f" w{i}" for i in range(12)])
    assert len(cut_repetition(long + squeezed(long, 3.7))) == 12
    no = ws(" no")
    assert [w.text for w in cut_repetition(no + squeezed(no * 3, 0.3))] == [" no"]
    # words of no length with gaps between them: the span is there, the audio is not ("Hey, fever.")
    hey = [Word(14.81, 15.45, " Hey,", 0.9), Word(15.45, 15.45, " fever.", 0.9)]
    ghost = [Word(15.45, 15.45, " Hey,", 0.9), Word(15.63, 15.67, " fever.", 0.9)]
    assert [w.text for w in cut_repetition(hey + ghost)] == [" Hey,", " fever."]
    # a copy on the audio of the copy before is not said again either
    again = [Word(w.start + 0.1, w.end, w.text, w.prob) for w in once]
    assert [w.text for w in cut_repetition(once + again)] == [" a", " heart", " trouble."]


def test_cut_repetition_keeps_repeats_that_were_said() -> None:
    hello = ws(" Hello?", " Hello?", " Oh,", " hello.")
    assert cut_repetition(hello) == hello
    no = ws(" no,", " no,", " no,", " no,", " no.")
    assert cut_repetition(no) == no
    phrase = ws(" I", " don't", " know.", " I", " don't", " know.", " I", " don't", " know.")
    assert cut_repetition(phrase) == phrase
    speech = ws(" very", " very", " good", " that", " is", " that")
    assert cut_repetition(speech) == speech


def test_cut_unheard_drops_words_at_or_past_the_end_of_the_audio() -> None:
    words = ws(" a", " b") + [Word(2.0, 2.0, " ghost", 0.2)]
    assert [w.text for w in cut_unheard(words, 2.0)] == [" a", " b"]
    assert cut_unheard(words, 2.5) == words


def test_repair_times_orders_words_and_never_leaves_zero_length() -> None:
    words = [Word(0.8, 1.6, " 10", 0.9), Word(1.3, 1.5, " Fresh", 0.9), Word(2.0, 2.0, " a", 0.9)]
    words += [Word(2.0, 2.0, " b", 0.9), Word(1.9, 2.4, " c", 0.9)]
    out = repair_times(words, floor=0.9)
    assert [w.text for w in out] == [w.text for w in words]
    for a, b in zip(out, out[1:]):
        assert a.end <= b.start + 1e-9
    assert all(w.end - w.start >= WORD_S - 1e-9 for w in out)
    assert out[0].start == 0.9 and out[1].start >= 1.3
    assert out[-1].end == 2.4  # moved by frames, not by seconds
    good = ws(" a", " b", " c")
    assert repair_times(good) == good


def test_cut_collapsed_drops_words_piled_on_one_instant() -> None:
    words = ws(" real", " words") + [Word(1.0, 1.0, " x", 0.1), Word(1.0, 1.0, " y", 0.1), Word(1.0, 1.2, " z", 0.1)]
    assert [w.text for w in cut_collapsed(words)] == [" real", " words"]
    assert cut_collapsed(ws(" a", " b", " c")) == ws(" a", " b", " c")


def test_repeats_tail_needs_three_words_without_audio() -> None:
    tail = ws(" x", " a", " b", " c")
    assert repeats_tail(tail, squeezed(ws(" a", " b", " c", " d"), 1.2)) == 3
    assert repeats_tail(ws(" a", " b"), squeezed(ws(" a", " b"), 0.6)) == 0
    said_again = [Word(w.start + 1.2, w.end + 1.2, w.text, w.prob) for w in ws(" a", " b", " c")]
    assert repeats_tail(tail, said_again) == 0
