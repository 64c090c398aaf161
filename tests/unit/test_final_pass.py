"""The final pass on fakes (no model): each closed utterance decoded once more, its words replacing the
confirmed ones once; a worse final keeps the live words; files and JSON lines end with final words."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np

from tests.unit.test_pipeline import FakePolicy, RecordingSink, audio_of, loudness_vad
from wlk_cli.asr.offline import Decoded, Score
from wlk_cli.audio.clock import AudioClock
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.events import FinalEvent, SessionInfo, TranscriptEvent, Word, apply_final
from wlk_cli.final_pass import FORCE_CLOSE_S, FinalPass, Utterance, judge, reconcile
from wlk_cli.pipeline import Pipeline
from wlk_cli.policies.base import PolicyUpdate
from wlk_cli.sinks.files import FileSink
from wlk_cli.sinks.jsonl import JsonlSink, final_words

SR = 16000


class ScriptedFinal:
    """An utterance decoder: ``say(n)`` gives the words of the n-th utterance decoded (1-based) in the
    audio it is given (times from its start); records every call."""

    def __init__(self, say=None) -> None:  # type: ignore[no-untyped-def]
        self.say = say or (lambda n, seconds: [(0.35, seconds / 2, " final"), (seconds / 2, seconds - 0.35, " words")])
        self.calls: list[tuple[float, str | None]] = []
        self.prefer: set[str] | None = None
        self.languages: list[str | None] = []
        self.lock = threading.Lock()

    def utterance(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Decoded:
        with self.lock:
            self.calls.append((audio.size / SR, prompt))
            self.languages.append(language)
            n = len(self.calls)
        words = [Word(a, b, t, 0.9) for a, b, t in self.say(n, audio.size / SR)]
        return Decoded(words, language)

    def scorer(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Score | None:
        """The model's judgement: none (as for a model without alignment heads), unless ``prefer``
        names words that make a text more likely."""
        if self.prefer is None:
            return None
        prefer = self.prefer
        return lambda readings: [[float(w.strip() in prefer) - 0.1 for w in r] for r in readings]


def run(audio: np.ndarray, decode: ScriptedFinal, policy=None, vad=True):  # type: ignore[no-untyped-def]
    clock = AudioClock([audio], RingBuffer(SR * 120), 100, 0.0)
    sink = RecordingSink()
    pipeline = Pipeline(clock, policy or FakePolicy(), sink, loudness_vad() if vad else None, final=decode)
    stats = pipeline.run(SessionInfo(source="fake", settings={}))
    return stats, sink


TWO = audio_of(("silence", 1.0), ("speech", 2.0), ("silence", 1.0), ("speech", 1.5), ("silence", 0.5))


def test_each_utterance_is_replaced_once_by_its_final_words() -> None:
    decode = ScriptedFinal()
    stats, sink = run(TWO, decode)
    finals = [e for e in sink.events if isinstance(e, FinalEvent)]
    confirmed = [w for e in sink.transcripts for w in e.confirmed]
    assert len(finals) == 2 and [f.utterance for f in finals] == [1, 2]
    # each names exactly its utterance's confirmed words, and no word is replaced twice (the ids depend
    # on whether the first final came before the second utterance's words were confirmed)
    utterances = [[w.id for w in e.confirmed] for e in sink.transcripts if e.confirmed]
    assert [list(f.replaces) for f in finals] == utterances and [len(u) for u in utterances] == [2, 2]
    assert [w.text for f in finals for w in f.words] == [" final", " words"] * 2
    new_ids = [w.id for f in finals for w in f.words]
    assert len(set(new_ids)) == 4 and not set(new_ids) & {w.id for w in confirmed}
    assert all(f.kept_live is None for f in finals)
    # the second utterance is prompted with the first one's final text; the audio has its padding
    assert decode.calls[0][1] is None and decode.calls[1][1] == "final words"
    assert 2.0 <= decode.calls[0][0] <= 2.9
    # the final words lie in their utterance's time
    for f, (a, b) in zip(finals, [(0.8, 3.4), (3.8, 5.7)]):
        assert all(a <= w.start and w.end <= b for w in f.words), (f.words, a, b)
    assert stats.extra["finals"] == 2 and stats.extra["final_words"] == 4
    assert stats.extra["final_latency_mean_s"] is not None and stats.extra["finals_kept_live"] == {}


def test_a_final_that_hears_nothing_or_loops_keeps_the_live_words() -> None:
    def say(n: int, seconds: float) -> list[tuple[float, float, str]]:
        if n == 1:
            return []
        return [(0.4 + 0.02 * i, 0.41 + 0.02 * i, " again") for i in range(8)]  # a loop with no audio of its own

    stats, sink = run(TWO, ScriptedFinal(say))
    finals = [e for e in sink.events if isinstance(e, FinalEvent)]
    assert [f.kept_live for f in finals] == ["no words", "loop"]
    live = [w for e in sink.transcripts for w in e.confirmed]
    assert [w for f in finals for w in f.words] == live  # the live words, with their ids, are final
    assert stats.extra["finals_kept_live"] == {"no words": 1, "loop": 1}


def test_judge_keeps_the_live_words_when_the_final_hears_far_fewer() -> None:
    live = [Word(i * 0.5, i * 0.5 + 0.4, f" w{i}", 0.9, None, i) for i in range(8)]
    assert judge(live, live[:3]) == "fewer words"
    assert judge(live, live[:5]) is None
    assert judge(live[:2], live[:0]) == "no words" and judge([], []) is None


def _words(text: str, start: float = 0.0) -> list[Word]:
    return [Word(start + i * 0.5, start + i * 0.5 + 0.4, f" {t}", 0.9) for i, t in enumerate(text.split())]


def test_reconcile_keeps_the_live_reading_where_the_model_finds_it_more_likely() -> None:
    calls: list[list[str]] = []

    def likes(*good: str):  # type: ignore[no-untyped-def]
        def score(readings):  # type: ignore[no-untyped-def]
            calls.append(list(readings))
            return [[float(w.strip(" ?,.").lower() in good) - 0.01 * len(w) for w in r] for r in readings]

        return score

    live = _words("Hello? Hello? Oh, hello. I didn't know")
    final = _words("The low, the low, oh, the low, I didn't know")
    # one misheard phrase over several places: weighed all at once
    words, n = reconcile(live, final, likes("hello"))
    assert "".join(w.text for w in words) == " Hello? Hello? oh, hello. I didn't know" and n == 2
    assert len(calls) == 1
    # the model prefers the final reading: it stays, and every place was weighed
    words, n = reconcile(live, final, likes("the", "low"))
    assert words == final and n == 0
    # two places, only one better live: that one alone (times and words from the live pass there)
    live = _words("Pearl saw and gazed intently at sun and tree")
    final = _words("Furl saw, engaged intently at son and tree.")
    words, n = reconcile(live, final, likes("pearl", "son"))
    assert " ".join(w.text.strip() for w in words) == "Pearl saw, engaged intently at son and tree." and n == 1
    assert words[0] == live[0] and words[1:] == final[1:]
    # the same words spelled alike, or no live words: nothing to weigh
    calls.clear()
    assert reconcile(_words("Hello, world"), _words("hello world."), likes("x")) == (_words("hello world."), 0)
    assert reconcile([], final, likes("x")) == (final, 0) and not calls


def test_the_final_event_keeps_live_words_the_model_prefers() -> None:
    decode = ScriptedFinal()
    decode.prefer = {"said", "it"}  # the live pass's words: more likely than " final words"
    stats, sink = run(TWO, decode)
    finals = [e for e in sink.events if isinstance(e, FinalEvent)]
    assert [[w.text for w in f.words] for f in finals] == [[" said", " it"]] * 2
    assert all(f.kept_live is None for f in finals) and stats.extra["final_places_from_live"] == 2
    # new ids, in order, in the utterance's time
    assert [w.id for f in finals for w in f.words] == sorted({w.id for f in finals for w in f.words})


class SteadyPolicy(FakePolicy):
    """Confirms a word for every 0.5 s step of unbroken speech."""

    def step(self) -> PolicyUpdate:
        super().step()
        end = self._buffer[-1][1]
        return PolicyUpdate(confirmed=[Word(end - 0.45, end - 0.05, " on", 0.9)])

    def finish(self) -> PolicyUpdate:
        self._buffer, self._new = [], 0
        return PolicyUpdate()


def test_unbroken_speech_is_closed_for_its_final_between_two_words() -> None:
    decode = ScriptedFinal()
    stats, sink = run(audio_of(("speech", 60.0)), decode, SteadyPolicy(), vad=False)
    finals = [e for e in sink.events if isinstance(e, FinalEvent)]
    assert len(finals) >= 2
    assert all(seconds <= FORCE_CLOSE_S + 2.0 for seconds, _ in decode.calls)
    replaced = [i for f in finals for i in f.replaces]
    live = [w.id for e in sink.transcripts for w in e.confirmed]
    assert sorted(replaced) == live  # every live word in exactly one final


def test_the_final_decoding_starts_while_the_live_pass_finishes_the_utterance() -> None:
    """At a pause the final pass gets the audio first; the live pass's last words (its ``finish``) come
    while it decodes, and are what the final replaces."""
    started = threading.Event()
    overlapped: list[bool] = []

    class Watching(ScriptedFinal):
        def utterance(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Decoded:
            started.set()
            return super().utterance(audio, language, prompt)

    class SlowFinish(FakePolicy):
        def finish(self) -> PolicyUpdate:
            overlapped.append(started.wait(2.0))
            started.clear()
            return super().finish()

    stats, sink = run(TWO, Watching(), SlowFinish())
    finals = [e for e in sink.events if isinstance(e, FinalEvent)]
    assert overlapped[:2] == [True, True]
    utterances = [[w.id for w in e.confirmed] for e in sink.transcripts if e.confirmed]
    assert [list(f.replaces) for f in finals] == utterances and all(f.kept_live is None for f in finals)


def test_finals_that_lag_are_all_waited_for_at_the_end() -> None:
    gate = threading.Event()

    def slow(n: int, seconds: float) -> list[tuple[float, float, str]]:
        gate.wait(2.0)  # the stream ends before any final is done
        return [(0.35, seconds - 0.35, " late")]

    stats, sink = run(TWO, ScriptedFinal(slow))
    assert len([e for e in sink.events if isinstance(e, FinalEvent)]) == 2


def test_final_pass_thread_reports_a_failure_as_live_words_kept() -> None:
    class Broken(ScriptedFinal):
        def utterance(self, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Decoded:
            raise RuntimeError("the model broke")

    fp = FinalPass(Broken())
    live = (Word(0.0, 0.5, " hi", 0.9, None, 0),)
    fp.close(Utterance(1, 0.0, 0.6, np.zeros(SR, dtype=np.float32), 0.0, live, "en"))
    (result,) = fp.take(wait=True)
    fp.stop()
    assert result.kept_live == "error: the model broke" and result.words == live


WORDS = [Word(a, a + 0.4, t, 0.9, "S1", i) for i, (a, t) in enumerate([(0.0, " one"), (0.5, " two"), (1.5, " three")])]


def test_an_utterance_is_decoded_in_the_language_known_when_its_final_runs() -> None:
    """The stream's language may be surer when the final pass runs than when the utterance closed."""
    now: list[str | None] = [None]
    decode = ScriptedFinal()
    fp = FinalPass(decode, lambda: now[0])
    live = (Word(0.0, 0.5, " hi", 0.9, None, 0),)
    fp.close(Utterance(1, 0.0, 0.6, np.zeros(SR, dtype=np.float32), 0.0, live, "en"))
    fp.take(wait=True)
    now[0] = "de"
    fp.close(Utterance(2, 1.0, 1.6, np.zeros(SR, dtype=np.float32), 1.0, live, "en"))
    fp.take(wait=True)
    fp.stop()
    assert decode.languages == ["en", "de"]


def test_apply_final_puts_the_final_words_where_the_live_ones_were() -> None:
    event = FinalEvent(5, 1.0, 1, (0, 1), (Word(0.0, 0.3, " One", 0.9, "S1", 3), Word(0.3, 0.9, " too.", 0.9, "S1", 4)))
    assert [w.text for w in apply_final(WORDS, event)] == [" One", " too.", " three"]
    empty = FinalEvent(6, 1.0, 2, (), (Word(1.0, 1.4, " and", 0.9, None, 5),))  # the live pass heard none
    assert [w.text for w in apply_final(WORDS, empty)] == [" one", " two", " and", " three"]


def test_files_and_json_lines_end_with_the_final_words(tmp_path: Path) -> None:
    files = FileSink(tmp_path, "t", ["srt", "json", "txt"], "tiny.en")
    out = io.StringIO()
    lines = JsonlSink(out)
    final = FinalEvent(5, 1.0, 1, (0, 1), (Word(0.0, 0.3, " One", 0.9, "S1", 3), Word(0.3, 0.9, " too.", 0.9, "S1", 4)))
    for sink in (files, lines):
        sink.transcript(TranscriptEvent(0, 1.0, 2.0, tuple(WORDS), ()))
        sink.final(final)
    files.write()
    assert (tmp_path / "t.txt").read_text().strip() == "[S1] One too. three"
    assert json.loads((tmp_path / "t.json").read_text())["text"] == " One too. three"
    events = [json.loads(x) for x in out.getvalue().splitlines()]
    assert events[-1]["type"] == "final" and events[-1]["replaces"] == [0, 1]
    assert "".join(w["text"] for w in final_words(events)) == " One too. three"
