"""Refine and online clustering on made-up chunks: segmentations and embeddings written by hand, so each
rule is seen on its own (the real models' figures are in benchmarks/diarization_refine.py)."""

from __future__ import annotations

import numpy as np

from wlk_cli.diarization.attribution import SpeakerAttribution
from wlk_cli.diarization.clustering import OnlineClustering
from wlk_cli.diarization.diarizer import Turn
from wlk_cli.diarization.refine import ChunkLog, Refined, RefinedTurn, RefineOptions, aggregate, assign_chunk, refine
from wlk_cli.events import SpeakerTurn, TranscriptEvent, Word
from wlk_cli.sinks.files import FileSink, render_rttm

FRAMES = 50  # 0.1 s frames in a 5 s chunk
RNG = np.random.default_rng(0)
VOICES = np.linalg.qr(RNG.normal(size=(16, 16)))[0][:4]  # four orthogonal unit "voices"


def voice(k: int, noise: float = 0.15) -> np.ndarray:
    v = VOICES[k] + RNG.normal(scale=noise, size=16)
    return v / np.linalg.norm(v)


def chunk(spans: list[tuple[float, float]], start: float) -> np.ndarray:
    """A segmentation with one local speaker per span (seconds of stream time)."""
    seg = np.zeros((FRAMES, 3), dtype=np.float32)
    t = start + np.arange(FRAMES) * 0.1
    for s, (a, b) in enumerate(spans):
        seg[(t >= a) & (t < b), s] = 1.0
    return seg


def dialogue_log(turns: list[tuple[float, float, int]], live: dict[int, int] | None = None) -> ChunkLog:
    """Chunks every 0.5 s over ``turns`` (start, end, voice); each voice in a chunk is a local speaker;
    the live assignment is ``live`` (voice -> diart speaker), the truth when not given."""
    log = ChunkLog()
    end = max(b for _, b, _ in turns)
    for k in range(int(end / 0.5) + 1):
        start = k * 0.5 - 4.5
        here = [(max(a, start), min(b, start + 5), v) for a, b, v in turns if a < start + 5 and b > start]
        seg = chunk([(a, b) for a, b, _ in here], start)
        emb = np.full((3, 16), np.nan, dtype=np.float32)
        mapping = {}
        for s, (_, _, v) in enumerate(here):
            emb[s] = voice(v)
            mapping[s] = (live or {}).get(v, v)
        log.add(start, seg, emb, mapping)
    return log


A_B_A = [(0.0, 20.0, 0), (20.5, 40.0, 1), (40.5, 60.0, 0)]


def test_aggregate_gives_back_the_speech_of_the_chunks() -> None:
    log = dialogue_log(A_B_A)
    turns = aggregate(log, log.live, 0.6)
    by = {k: [(round(t.start, 1), round(t.end, 1)) for t in turns if t.speaker == k] for k in (0, 1)}
    assert by == {0: [(0.0, 20.0), (40.5, 60.0)], 1: [(20.5, 40.0)]}


def test_refine_joins_a_voice_that_live_split_in_two() -> None:
    log = dialogue_log(A_B_A, live={0: 0, 1: 1})
    for k, start in enumerate(log.starts):  # live gave the returning voice a new speaker
        if start > 40.5:
            log.live[k] = {s: 2 if g == 0 else g for s, g in log.live[k].items()}
    refined = refine(log)
    assert refined is not None
    speakers = {t.speaker for t in refined.turns}
    assert len(speakers) == 2
    first = next(t.speaker for t in refined.turns if t.start < 1)
    last = next(t.speaker for t in refined.turns if t.start > 40)
    assert first == last
    assert refined.live_to_cluster[0] == refined.live_to_cluster[2] != refined.live_to_cluster[1]


def test_num_speakers_never_folds_two_voices_into_one() -> None:
    log = dialogue_log([(0.0, 15.0, 0), (15.5, 30.0, 1), (30.5, 45.0, 2), (45.5, 60.0, 0)])
    refined = refine(log, RefineOptions(num_speakers=3))
    assert refined is not None and len({t.speaker for t in refined.turns}) == 3
    refined = refine(log, RefineOptions(num_speakers=2))  # fewer than there are: two of them share one
    assert refined is not None and len({t.speaker for t in refined.turns}) == 2


def test_too_little_speech_keeps_the_live_labels() -> None:
    assert refine(dialogue_log([(0.0, 3.0, 0), (3.5, 6.0, 1)])) is None


def test_two_voices_heard_at_once_are_never_merged() -> None:
    # two speakers talking over each other the whole time, whose embeddings look alike
    log = ChunkLog()
    for k in range(60):
        start = k * 0.5 - 4.5
        seg = chunk([(start, start + 5), (start, start + 5)], start)
        emb = np.full((3, 16), np.nan, dtype=np.float32)
        emb[0], emb[1] = voice(0, 0.01), voice(0, 0.01)
        log.add(start, seg, emb, {0: 0, 1: 1})
    assert refine(log) is None


def test_assign_chunk_keeps_voices_heard_together_apart() -> None:
    dist = np.array([[0.1, 0.9], [0.2, 0.8]])
    together = chunk([(0, 3), (2, 5)], 0)[:, :2]
    apart = chunk([(0, 2), (3, 5)], 0)[:, :2]
    assert assign_chunk(together, dist) == [0, 1]  # heard at once: distinct clusters
    assert assign_chunk(apart, dist) == [0, 0]  # one voice across a pause
    assert assign_chunk(apart, dist, share=0.15) == [0, 1]  # too far to share
    assert assign_chunk(together[:, :2], dist[:, :1]) in ([0, -1], [-1, 0])  # one cluster for two voices


def test_online_clustering_keeps_one_voice_split_by_a_pause_on_one_centre() -> None:
    clustering = OnlineClustering(0.6, 0.2, 0.7, 20, ChunkLog())
    emb = np.full((3, 16), np.nan)
    emb[0] = voice(0, 0.01)
    assert clustering.identify(chunk([(0, 4)], 0), emb) == {0: 0}
    emb[1] = voice(0, 0.01)  # the same voice again after a pause, in a second local speaker
    assert clustering.identify(chunk([(0, 2), (3, 5)], 0), emb) == {0: 0, 1: 0}
    emb[1] = voice(1, 0.01)  # another voice after the pause: a new speaker, as diart does
    assert clustering.identify(chunk([(0, 2), (3, 5)], 0), emb) == {0: 0, 1: 1}


def test_attribution_takes_a_refine_keeping_names_and_mapping_later_turns() -> None:
    a = SpeakerAttribution()
    a.add_turns([Turn(0, 10, 0), Turn(10, 20, 1), Turn(20, 30, 2)], decided_until=30)
    words = a.assign([Word(i + 0.2, i + 0.6, f" w{i}", 0.9, None, i) for i in range(30)])
    assert {w.speaker for w in words} == {"S1", "S2", "S3"}
    # refine: diart's speaker 2 was speaker 0 again; clusters numbered differently from diart
    refined = Refined([RefinedTurn(0, 10, 5), RefinedTurn(10, 20, 3), RefinedTurn(20, 30, 5)], 0.0, {0: 5, 1: 3, 2: 5})
    turns, updates = a.refine(refined)
    assert [t.speaker for t in turns] == ["S1", "S2", "S1"]
    assert updates == [(i, "S1") for i in range(20, 30)]
    assert a.revisions() == [] and a.finish() == []
    later = a.add_turns([Turn(30, 35, 2)], decided_until=35)
    assert later[0].speaker == "S1"  # diart's 2 goes where its time went


def test_a_refine_replaces_the_rttm_turns_it_covers(tmp_path: object) -> None:
    sink = FileSink(tmp_path, "talk", ["rttm"], "tiny.en")  # type: ignore[arg-type]
    sink.turns([SpeakerTurn(0, 5, "S1"), SpeakerTurn(5, 10, "S2"), SpeakerTurn(10, 12, "S1")])
    sink.turns([SpeakerTurn(4, 12, "S1")], since=4.0)
    assert sink.speaker_turns == [SpeakerTurn(0, 4.0, "S1"), SpeakerTurn(4, 12, "S1")]
    assert render_rttm(sink.speaker_turns, "talk").count("SPEAKER") == 1  # touching turns of one speaker merged


def test_the_json_file_carries_overlapping_turns(tmp_path: object) -> None:
    import json
    from pathlib import Path

    sink = FileSink(Path(str(tmp_path)), "talk", ["json"], "tiny.en")
    sink.turns([SpeakerTurn(0, 4, "S1"), SpeakerTurn(3, 6, "S2"), SpeakerTurn(4, 5, "S1")])
    sink.transcript(TranscriptEvent(0, 1.0, 6.0, (Word(0.5, 0.9, " hi", 0.9, "S1", 0),), ()))
    sink.write()
    doc = json.loads((Path(str(tmp_path)) / "talk.json").read_text())
    assert doc["turns"] == [
        {"start": 0.0, "end": 5.0, "speaker": "S1"},
        {"start": 3.0, "end": 6.0, "speaker": "S2"},
    ]


def test_two_live_speakers_far_apart_are_not_merged_by_a_loose_threshold() -> None:
    """Two voices 0.45 apart (as two LibriSpeech voices measured): average linkage at 0.6 would join them."""
    close = np.linalg.qr(RNG.normal(size=(16, 16)))[0][:2]
    pair = [close[0], 0.55 * close[0] + np.sqrt(1 - 0.55**2) * close[1]]  # cosine 0.55: distance 0.45
    log = ChunkLog()
    for k in range(81):
        start = k * 0.5 - 4.5
        v = 0 if start + 2.5 < 20 else 1
        emb = np.full((3, 16), np.nan, dtype=np.float32)
        e = pair[v] + RNG.normal(scale=0.02, size=16)
        emb[0] = e / np.linalg.norm(e)
        log.add(start, chunk([(max(0, start), start + 5)], start), emb, {0: v})
    loose = refine(log, RefineOptions(threshold=0.6, keep_apart=2.0))  # without the rule: one speaker
    assert loose is not None and len({t.speaker for t in loose.turns}) == 1
    kept = refine(log, RefineOptions(threshold=0.6))
    assert kept is not None and len({t.speaker for t in kept.turns}) == 2


def test_known_voices_get_their_own_centres_from_the_first_chunk() -> None:
    """Two known voices 0.45 apart, each heard first in a chunk of its own: with nothing to go on, diart's
    rules put the second on the first one's centre (within delta_new 0.7); seeded, each finds its own,
    and an unknown voice far from both opens a centre rather than joining one."""
    close = np.linalg.qr(RNG.normal(size=(16, 16)))[0][:2]
    pair = [close[0], 0.55 * close[0] + np.sqrt(1 - 0.55**2) * close[1]]

    def heard(v: np.ndarray) -> np.ndarray:
        emb = np.full((3, 16), np.nan)
        e = v + RNG.normal(scale=0.02, size=16)
        emb[0] = e / np.linalg.norm(e)
        return emb

    plain = OnlineClustering(0.6, 0.2, 0.7, 20, ChunkLog())
    assert [plain.identify(chunk([(0, 4)], 0), heard(v)) for v in pair] == [{0: 0}, {0: 0}]
    seeded = OnlineClustering(0.6, 0.2, 0.7, 20, ChunkLog())
    seeded.expect(pair, 0.3)
    assert [seeded.identify(chunk([(0, 4)], 0), heard(v)) for v in pair] == [{0: 0}, {0: 1}]
    assert seeded.identify(chunk([(0, 4)], 0), heard(VOICES[3])) == {0: 2}  # unknown: a new speaker
    few = OnlineClustering(0.6, 0.2, 0.7, 2, ChunkLog())
    few.expect([VOICES[0], VOICES[1], VOICES[2]], 0.3)  # room is left for one unknown voice
    few.identify(chunk([(0, 4)], 0), heard(VOICES[0]))
    assert few.used == [0]


def test_a_refine_that_would_merge_two_known_voices_keeps_the_live_labels() -> None:
    log = dialogue_log(A_B_A, live={0: 0, 1: 1})
    for k in range(len(log)):  # the second voice's chunks look like the first's
        log.embeddings[k] = np.where(np.isnan(log.embeddings[k]), np.nan, voice(0, 0.01)).astype(np.float32)
    assert refine(log) is not None  # one cluster for both: refine merges them...
    assert refine(log, named={0: "Hugo", 1: "Vera"}) is None  # ...unless they are two known voices
    assert refine(log, named={0: "Hugo", 1: "Hugo"}) is not None
