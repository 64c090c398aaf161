"""`wlk transcribe`: whole files with the real model, the same JSON lines and files as `wlk file`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.formats import check_cues, parse_srt
from tests.helpers import check_jsonl, clips, normalize, one_line_error, parse_jsonl, transcript, wer, wlk
from tests.integration.test_diarization_e2e import dialogue


def by_file(events: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    """The JSON lines of several files, one list per file (each starts with its session line)."""
    out: list[list[dict[str, object]]] = []
    for e in events:
        if e["type"] == "session":
            out.append([])
        out[-1].append(e)
    return out


def test_several_files_one_model_and_a_bad_one(tmp_path: Path) -> None:
    (a, ref_a), (b, ref_b) = clips()[0], clips()[1]
    missing = tmp_path / "gone.wav"
    out = tmp_path / "subs"
    r = wlk("transcribe", str(a), str(missing), str(b), "--model", "tiny.en", "--output-dir", str(out),
            "--format", "jsonl", "--formats", "srt,json")  # fmt: skip
    assert r.returncode == 3, r.stderr.decode()  # the bad file's exit code, after the others were done
    files = by_file(parse_jsonl(r.stdout))
    assert [f[0]["source"] for f in files] == [str(a), str(b)]
    for events, ref in zip(files, (ref_a, ref_b)):
        check_jsonl(events)
        assert events[0]["mode"] == "transcribe" and events[0]["beam_size"] == 5 and "policy" not in events[0]
        assert events[-1]["type"] == "end" and events[-1]["stats"]["language"] == "en"  # type: ignore[index]
        assert all(not e["tentative"] for e in events if e["type"] == "transcript")
        assert wer(ref, transcript(events)) <= 0.15
    for clip in (a, b):
        check_cues(parse_srt((out / f"{clip.stem}.srt").read_text()))
        doc = json.loads((out / f"{clip.stem}.json").read_text())
        assert doc["segments"] and doc["language"] == "en"
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 3 and "no such file" in err[1] and f"wrote {a.stem}.srt" in err[0], err


def test_speakers_and_silence(tmp_path: Path) -> None:
    wav, _ = dialogue(tmp_path)
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(16000 * 4, dtype=np.float32), 16000)
    r = wlk("transcribe", str(wav), str(quiet), "--model", "tiny.en", "--diarization", "--format", "jsonl",
            "--output-dir", str(tmp_path), "--formats", "srt,rttm", timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    talk, silence = by_file(parse_jsonl(r.stdout))
    words = [w for e in talk if e["type"] == "transcript" for w in e["confirmed"]]  # type: ignore[union-attr]
    assert {w["speaker"] for w in words} == {"S1", "S2"}  # type: ignore[index]
    assert words[0]["speaker"] == "S1"  # type: ignore[index]
    rttm = (tmp_path / "dialogue.rttm").read_text().split("\n")
    assert {line.split()[7] for line in rttm if line} == {"S1", "S2"}
    assert silence[-1]["stats"]["words"] == 0 and silence[-1]["stats"]["note"] == "no speech found"  # type: ignore[index]
    assert "no speech found in 4.0 s" in r.stderr.decode()


def test_stdin_is_refused_with_the_command_that_reads_it() -> None:
    one_line_error(wlk("transcribe", "-", "--model", "tiny.en"), 2, "wlk file -")


LONG = Path(__file__).parent.parent / "data" / "librispeech" / "long.wav"


def test_the_passage_whisper_skips_at_a_window_end_is_heard() -> None:
    """tiny.en behind faster-whisper's filter (the speech it keeps spliced together) skipped "Emerald City,
    where our Princess Ozma" at its first 30 s window's end on an AMD EPYC (10.2%, faster-whisper without
    the filter 3.9-4.7%): the speech is now decoded where it is, and the coverage check decodes again
    whatever is still skipped."""
    r = wlk("transcribe", str(LONG), "--model", "tiny.en", "--format", "jsonl", "--no-files")
    assert r.returncode == 0, r.stderr.decode()
    events = parse_jsonl(r.stdout)
    text = transcript(events)
    assert "emerald city" in " ".join(normalize(text)), text
    assert wer((LONG.with_suffix(".txt")).read_text(), text) <= 0.06  # 3.9% here (bar 4.8%), a margin for CPUs
    stats = events[-1]["stats"]
    assert stats["speech_without_words_s"] < 1.0  # type: ignore[index]


def test_speech_left_without_words_is_decoded_again_with_the_real_model() -> None:
    """The words of the passage taken out of a real decoding: the check finds the speech and hears them."""
    from wlk_cli.asr.faster_whisper import FasterWhisperModel
    from wlk_cli.asr.offline import OfflineDecoder
    from wlk_cli.audio.decode import read_audio
    from wlk_cli.vad import SileroModel

    model = FasterWhisperModel("tiny.en")
    decoder = OfflineDecoder(model.whisper, SileroModel())
    audio, _ = read_audio(str(LONG))
    heard = decoder.decode(audio, "en")
    gap = [w for w in heard.words if 28.0 <= w.start and w.end <= 30.5]
    lost = [w for w in heard.words if w not in gap]
    out = decoder.refill(audio, lost, "en")
    said = " ".join(normalize("".join(w.text for w in out.words)))
    assert "emerald city where our princess" in said, said
    assert out.refilled >= 1 and out.unheard_s < 1.0
    assert [w.start for w in out.words] == sorted(w.start for w in out.words)


def test_the_model_scores_what_was_said_above_what_was_not() -> None:
    """The final pass's judge between two readings: the real model's log-probability of the words said in
    a LibriSpeech clip, against a word changed, a word misheard and the phrases swapped (each far below)."""
    from wlk_cli.asr.faster_whisper import FasterWhisperModel
    from wlk_cli.audio.decode import read_audio

    model = FasterWhisperModel("tiny.en")
    audio, _ = read_audio(str(LONG.parent / "libri_01_spk1089.wav"))  # "number ten fresh nelly is waiting ..."
    score = model.scorer(audio, "en", "transcribe")
    assert score is not None
    readings = [
        " Number 10. Fresh Nelly is waiting on you. Good night, husband.",
        " Number 10. Fresh Nelly is waiting on me. Good night, husband.",
        " Number 10. Fresh Nelly is waiting on you. Good night, has bent.",
        " Good night, husband. Number 10. Fresh Nelly is waiting on you.",
    ]
    words = [[" " + w for w in r.split()] for r in readings]
    scores = score(words)
    assert [len(s) for s in scores] == [len(w) for w in words]  # one log-probability per word
    said, *wrong = [sum(s) for s in scores]
    assert all(said > w + 3.0 for w in wrong), (said, wrong)
    # the misheard word is where the model is surprised: "me" less likely than "you" after the same words
    assert scores[1][7] < scores[0][7] - 1.0
    assert all(abs(a - b) < 0.01 for a, b in zip(scores[1][:7], scores[0][:7]))  # the same words before it
