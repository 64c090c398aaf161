"""SimulStreaming with the real tiny.en on real speech: never retracts, stays accurate, trims, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import check_jsonl, clips, one_line_error, parse_jsonl, transcript, wer, wlk
from wlk_cli.asr.models import resolve_model
from wlk_cli.events import Word
from wlk_cli.policies.simulstreaming import SimulStreamingOptions, SimulStreamingPolicy

CLIPS = clips()


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    from wlk_cli.config import Settings
    from wlk_cli.engine import Engine

    return Engine(Settings(model="tiny.en"))


@pytest.fixture
def asr(engine):  # type: ignore[no-untyped-def]
    """A fresh stream's backend (its own language state) on the shared model."""
    from wlk_cli.asr.faster_whisper import FasterWhisperBackend

    return FasterWhisperBackend(engine.whisper, language="en")


def feed(policy: SimulStreamingPolicy, audio: np.ndarray, chunk_s: float = 0.2):  # type: ignore[no-untyped-def]
    """Stream ``audio`` in chunks as the pipeline would; yield (update, tokens after it) per call."""
    step = int(chunk_s * 16000)
    for i in range(0, audio.size, step):
        policy.insert_audio(audio[i : i + step], i / 16000)
        if policy.ready():
            yield policy.step(), list(policy._tokens)
    yield policy.finish(), None


@pytest.mark.parametrize("clip,ref", CLIPS[:3], ids=lambda c: getattr(c, "stem", ""))
def test_tokens_are_never_retracted_and_words_only_grow(engine, asr, clip: Path, ref: str) -> None:  # type: ignore[no-untyped-def]
    audio, _ = sf.read(clip, dtype="float32")
    policy = SimulStreamingPolicy(asr, engine.decoder(), SimulStreamingOptions(min_chunk_size=0.2))
    confirmed: list[Word] = []
    shown: list[tuple[int, str]] = []  # (index of the word, tentative text) whenever one was shown
    previous: list[int] = []
    early = 0
    for update, tokens in feed(policy, audio):
        if tokens is not None:
            assert tokens[: len(previous)] == previous  # emitted tokens are final
            previous = tokens
            early += len(update.confirmed)
        confirmed += update.confirmed
        if update.tentative:
            shown.append((len(confirmed), update.tentative[0].text))
    text = "".join(w.text for w in confirmed)
    assert wer(ref, text) <= 0.15, text
    assert early >= len(confirmed) // 2  # most words are confirmed while the audio is still coming
    for index, tentative in shown:  # a tentative word is the start of the word later confirmed there
        assert confirmed[index].text.startswith(tentative), (tentative, confirmed[index].text)
    starts = [w.start for w in confirmed]
    assert starts == sorted(starts) and all(w.end >= w.start for w in confirmed)


def test_never_fire_keeps_the_last_word_back(engine, asr) -> None:  # type: ignore[no-untyped-def]
    clip, ref = CLIPS[1]
    audio, _ = sf.read(clip, dtype="float32")
    policy = SimulStreamingPolicy(asr, engine.decoder(), SimulStreamingOptions(min_chunk_size=0.2, never_fire=True))
    confirmed: list[Word] = []
    held = 0
    for update, tokens in feed(policy, audio):
        confirmed += update.confirmed
        if tokens is not None and update.tentative:
            committed_open = policy._tok.decode(tokens[policy._done :]).strip()
            # what is shown as tentative was not kept: the kept tokens end where a word ends
            assert not committed_open or all(not c.isalnum() for c in committed_open), committed_open
            held += 1
    assert held > 0
    assert wer(ref, "".join(w.text for w in confirmed)) <= 0.15


def test_buffer_is_trimmed_into_the_context(engine, asr) -> None:  # type: ignore[no-untyped-def]
    audio = np.concatenate([sf.read(c, dtype="float32")[0] for c, _ in CLIPS[:2]])  # no pause long enough to cut
    ref = " ".join(r for _, r in CLIPS[:2])
    assert audio.size / 16000 > 8
    policy = SimulStreamingPolicy(asr, engine.decoder(), SimulStreamingOptions(min_chunk_size=0.2, audio_max_len=4.0))
    confirmed: list[Word] = []
    for update, tokens in feed(policy, audio):
        confirmed += update.confirmed
        if tokens is not None:
            assert policy.buffer_duration <= 4.0 + 0.2 + 1e-6
    assert policy._context  # the trimmed words (and the utterance) became context
    assert wer(ref, "".join(w.text for w in confirmed)) <= 0.25


def test_cli_jsonl_with_simulstreaming() -> None:
    clip, ref = CLIPS[0]
    r = wlk("file", str(clip), "--model", "tiny.en", "--policy", "simulstreaming", "--speed", "0", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    check_jsonl(events)
    assert events[0]["policy"] == "simulstreaming"
    assert events[0]["min_chunk_size"] == 0.1
    assert wer(ref, transcript(events)) <= 0.15


def test_cli_beam_search_and_presets() -> None:
    clip, ref = CLIPS[1]
    r = wlk("file", str(clip), "--model", "tiny.en", "--policy", "simulstreaming", "--beams", "3", "--speed", "0",
            "--no-files")  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    check_jsonl(events)
    assert events[0]["beam_size"] == 3
    assert wer(ref, transcript(events)) <= 0.15
    r = wlk("file", str(clip), "--preset", "ultra-fast", "--model", "tiny.en", "--speed", "0", "--no-files")
    events = parse_jsonl(r.stdout)
    s = events[0]
    assert (s["policy"], s["frame_threshold"], s["min_chunk_size"]) == ("simulstreaming", 15, 0.5)
    assert wer(ref, transcript(events)) <= 0.2
    r = wlk("file", str(clip), "--preset", "balanced", "--model", "tiny.en", "--policy", "local-agreement",
            "--speed", "0", "--no-files")  # fmt: skip
    s = parse_jsonl(r.stdout)[0]
    assert (s["policy"], s["frame_threshold"]) == ("local-agreement", 25)


def no_heads_model(tmp_path: Path) -> Path:
    src = resolve_model("tiny.en")
    for name in os.listdir(src):
        if name != "config.json":
            (tmp_path / name).symlink_to(src / name)
    config = json.loads((src / "config.json").read_text())
    config.pop("alignment_heads")
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_bad_simulstreaming_input(tmp_path: Path) -> None:

    clip = str(CLIPS[0][0])
    base = ["file", clip, "--model", "tiny.en", "--policy", "simulstreaming", "--no-files"]
    one_line_error(wlk(*base, "--frame-threshold", "0"), 2, "frame_threshold")
    one_line_error(wlk(*base, "--frame-threshold", "-4"), 2, "frame_threshold")
    one_line_error(wlk(*base, "--beams", "-1"), 2, "beam_size")
    one_line_error(wlk(*base, "--audio-max-len", "0.5", "--min-chunk-size", "0.6"), 2, "audio_max_len")
    one_line_error(wlk(*base, "--audio-max-len", "45"), 2, "audio_max_len")
    one_line_error(wlk(*base, "--max-context-tokens", "500"), 2, "max_context_tokens")
    one_line_error(wlk(*base, "--policy", "alignatt"), 2, "policy")
    model = no_heads_model(tmp_path / "m") if (tmp_path / "m").mkdir() is None else tmp_path
    msg = one_line_error(wlk("file", clip, "--model", str(model), "--policy", "simulstreaming", "--no-files"), 4)
    assert "alignment_heads" in msg and "local-agreement" in msg
    # the same directory still works with LocalAgreement (words timed by sharing out each segment)
    r = wlk("file", clip, "--model", str(model), "--speed", "0", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    check_jsonl(events)
    assert wer(CLIPS[0][1], transcript(events)) <= 0.15
