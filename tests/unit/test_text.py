from wlk_cli.events import Word
from wlk_cli.policies.text import cut_collapsed, cut_repetition, norm, overlap_ngram, repeats_tail


def ws(*texts: str, step: float = 0.3) -> list[Word]:
    return [Word(i * step, i * step + 0.25, t, 0.9) for i, t in enumerate(texts)]


def test_norm_ignores_case_punctuation_and_space() -> None:
    assert norm(" Hello,") == norm("hello") == "hello"
    assert norm(" don't") == "don't"
    assert norm(" Grüße!") == "grüße"


def test_overlap_ngram_finds_the_longest_reheard_tail() -> None:
    assert overlap_ngram(ws(" a", " b", " c"), ws(" b", " c", " d")) == 2
    assert overlap_ngram(ws(" a", " b"), ws(" c")) == 0


def test_cut_repetition_keeps_the_first_occurrence() -> None:
    loop = ws(" a", " heart", " trouble.", " a", " heart", " trouble.", " a", " heart", " trouble.")
    assert [w.text for w in cut_repetition(loop)] == [" a", " heart", " trouble."]
    long = ws(*[f" w{i}" for i in range(12)] * 2)
    assert len(cut_repetition(long)) == 12
    assert [w.text for w in cut_repetition(ws(" no", " no", " no", " no"))] == [" no"]


def test_cut_repetition_leaves_normal_speech_alone() -> None:
    speech = ws(" very", " very", " good", " that", " is", " that")
    assert cut_repetition(speech) == speech


def test_cut_collapsed_drops_words_piled_on_one_instant() -> None:
    words = ws(" real", " words") + [Word(1.0, 1.0, " x", 0.1), Word(1.0, 1.0, " y", 0.1), Word(1.0, 1.2, " z", 0.1)]
    assert [w.text for w in cut_collapsed(words)] == [" real", " words"]
    assert cut_collapsed(ws(" a", " b", " c")) == ws(" a", " b", " c")


def test_repeats_tail_needs_three_words() -> None:
    assert repeats_tail(ws(" x", " a", " b", " c"), ws(" a", " b", " c", " d")) == 3
    assert repeats_tail(ws(" a", " b"), ws(" a", " b")) == 0
