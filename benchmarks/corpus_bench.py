#!/usr/bin/env python3
"""Both streaming policies and the offline result of the same model on every case of the corpus.

For each case (benchmarks/corpus.py) and model: offline faster-whisper on the whole file with its
defaults (beam 5, and greedy beside it), `wlk transcribe`'s decoding (Silero's filter, beam 5, the
coverage check; ``--policies ''`` runs only these), then `wlk file` with each policy: its confirmed
stream (the words as the live pass confirmed them) and, unless `-- --final off`, its final stream (what
the files hold: each utterance's final-pass words), with the latency of finals (from the end of an
utterance's last word to its final event). One table: WER per case and
pooled (errors over reference words of all cases), mean / p90 confirmation latency, CPU seconds per
audio second, duplicated words (a confirmed word committed again on its own audio) and lost words (shown
tentative when the tentative tail was cleared, then neither committed nor replaced by a confirmed word
over the same audio). English-only models run the English cases only.

    python benchmarks/corpus_bench.py --model tiny.en --speed 1 --out benchmarks/results.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from corpus import load
from report import emit, split_wlk_flags
from stream_bench import normalize, run_stream

from wlk_cli.sinks.jsonl import final_words

POLICIES = ("local-agreement", "simulstreaming")


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
_ONES += "seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


_SPELLINGS = {"ok": "okay", "mr": "mister", "mrs": "missus"}


def spoken(word: str) -> str:
    """A number below 100 written as words ("10" -> "ten", "42" -> "forty two"), and one spelling of
    words written two ways ("OK", "okay"): the models write digits where the references spell them."""
    if not word.isdigit() or int(word) >= 100:
        return _SPELLINGS.get(word, word)
    n = int(word)
    if n < 20:
        return _ONES[n]
    return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else " " + _ONES[n % 10])


def words_of(text: str) -> str:
    return " ".join(spoken(w) for w in normalize(text))


def errors(ref: str, hyp: str) -> tuple[int, int]:
    """(word errors, reference words), numbers below 100 compared as words."""
    import jiwer

    r, h = words_of(ref), words_of(hyp)
    if not h:
        return len(r.split()), len(r.split())
    out = jiwer.process_words(r, h)
    return out.substitutions + out.deletions + out.insertions, len(r.split())


def offline(wav: str, model: Any, beam: int) -> str:
    segs, _ = model.transcribe(wav, beam_size=beam)
    return "".join(s.text for s in segs)


def transcribe_path(wav: str, decoder: Any) -> tuple[str, dict[str, Any]]:
    """`wlk transcribe`'s decoding (Silero's filter, beam 5, the coverage check) on the same model."""
    from wlk_cli.asr.offline import coverage
    from wlk_cli.audio.decode import read_audio

    audio, _ = read_audio(wav)
    decoded = decoder.decode(audio, None)
    return "".join(w.text for w in decoded.words), coverage(decoded)


def final_latencies(events: list[dict[str, Any]]) -> list[float]:
    """For each final event: its wall time minus the end of the last word it holds or replaces (the
    stream's wall clock runs with its audio at --speed 1)."""
    ends: dict[int, float] = {}
    out = []
    for ev in events:
        if ev["type"] == "transcript":
            ends.update((w["id"], w["end"]) for w in ev["confirmed"])
        elif ev["type"] == "final":
            last = max([ends.get(i, 0.0) for i in ev["replaces"]] + [w["end"] for w in ev["words"]], default=None)
            if last is not None:
                out.append(ev["wall_s"] - last)
    return out


def repeated_words(words: list[str]) -> int:
    """Words in phrases said twice back to back (phrases of two or more different words: a run of one
    word, "hello hello hello", is a count the model can get wrong, not a phrase said again)."""
    n, i = 0, 0
    while i < len(words):
        for k in range(6, 1, -1):
            phrase = words[i : i + k]
            if len(phrase) == k and len(set(phrase)) > 1 and phrase == words[i + k : i + 2 * k]:
                n += k
                i += k
                break
        else:
            i += 1
    return n


def duplicates(words: list[dict[str, Any]], reference: str) -> int:
    """Words committed twice: a confirmed word that repeats one of the three before it on the same
    audio (starting before that word's end), and phrases said twice back to back more often than the
    reference says them (Whisper's "Good night, husband. Good night, husband.")."""
    n = 0
    for i, w in enumerate(words):
        for p in words[max(0, i - 3) : i]:
            if normalize(p["text"]) == normalize(w["text"]) and w["start"] < p["end"] - 1e-3:
                n += 1
                break
    said = [t for w in words for t in normalize(w["text"])]
    return n + max(0, repeated_words(said) - repeated_words(normalize(reference)))


def lost(events: list[dict[str, Any]]) -> int:
    """Words shown tentative when an utterance ended that no confirmed word covers (the end of the
    utterance neither committed them nor replaced them with words over the same audio)."""
    confirmed = [w for ev in events if ev["type"] == "transcript" for w in ev["confirmed"]]
    starts = np.array([w["start"] for w in confirmed]) if confirmed else np.zeros(0)
    ends = np.array([w["end"] for w in confirmed]) if confirmed else np.zeros(0)
    n, shown = 0, []
    for ev in events:
        if ev["type"] != "transcript":
            continue
        if ev.get("utterance_end"):
            for w in shown:  # covered: a confirmed word overlaps its time (alignment moves words a little)
                n += 0 if np.any((starts < w["end"]) & (ends > w["start"])) else 1
        shown = ev["tentative"]
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--corpus", default=str(Path(__file__).parent / "corpus-audio"))
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--out", help="append the result lines to this JSON-lines file")
    own, extra = split_wlk_flags(sys.argv[1:])  # wlk flags for both policies after --
    a = ap.parse_args(own)
    cases = load(Path(a.corpus))
    if a.cases:
        cases = [c for c in cases if c.name in a.cases.split(",")]
    if a.model.endswith(".en"):
        cases = [c for c in cases if c.language == "en"]
    from faster_whisper import WhisperModel

    from wlk_cli.asr.models import resolve_model

    model = WhisperModel(str(resolve_model(a.model)), device="cpu", compute_type="int8", cpu_threads=2)
    from wlk_cli.asr.offline import OfflineDecoder
    from wlk_cli.vad import SileroModel

    decoder = OfflineDecoder(model, SileroModel())
    stamp = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {psutil.cpu_count()} cpu",
        "bench": "corpus",
        "model": a.model,
        "speed": a.speed,
        "extra": extra,
    }
    policies = [p for p in a.policies.split(",") if p]
    finals = "--final" not in extra[:-1] or extra[extra.index("--final") + 1] != "off"
    systems = ["offline-beam5", "offline-greedy", "transcribe", *policies]
    if finals:
        systems += [f"{p}+final" for p in policies]
    totals: dict[str, list[float]] = {s: [0.0] * 6 for s in systems}  # errors, ref words, audio, cpu, dup, lost
    lat: dict[str, list[float]] = {s: [] for s in systems}
    table = []
    for case in cases:
        row: dict[str, Any] = {"case": case.name, "seconds": case.seconds}
        runs: dict[str, list[dict[str, Any]]] = {}
        for system in systems:
            if system.startswith("offline") or system == "transcribe":
                more: dict[str, Any] = {}
                if system == "transcribe":
                    hyp, more = transcribe_path(case.wav, decoder)
                else:
                    hyp = offline(case.wav, model, 5 if system.endswith("beam5") else 1)
                e, n = errors(case.reference, hyp)
                totals[system][0] += e
                totals[system][1] += n
                row[system] = {"wer": round(e / n, 4), **more, "hypothesis": hyp}
                continue
            if system.endswith("+final"):  # the final stream of the run just made for its policy
                text = "".join(w["text"] for w in final_words(runs[system[: -len("+final")]]))
                e, n = errors(case.reference, text)
                lats = final_latencies(runs[system[: -len("+final")]])
                totals[system][0] += e
                totals[system][1] += n
                lat[system] += lats
                stats = runs[system[: -len("+final")]][-1]["stats"]
                row[system] = {
                    "wer": round(e / n, 4),
                    "latency_mean_s": round(float(np.mean(lats)), 3) if lats else None,
                    "latency_p90_s": round(float(np.percentile(lats, 90)), 3) if lats else None,
                    "kept_live": stats.get("finals_kept_live"),
                    "speech_without_words_s": stats.get("speech_without_words_s"),
                    "hypothesis": text,
                }
                continue
            res = run_stream(case.wav, a.model, a.speed, ["--policy", system, *extra])
            runs[system] = res["events"]  # type: ignore[assignment]
            events = res["events"]
            words = [w for ev in events if ev["type"] == "transcript" for w in ev["confirmed"]]
            e, n = errors(case.reference, str(res["text"]))
            lats = [ev["wall_s"] - w["end"] for ev in events if ev["type"] == "transcript" for w in ev["confirmed"]]
            dup, gone = duplicates(words, case.reference), lost(events)
            t = totals[system]
            t[0] += e
            t[1] += n
            t[2] += float(res["audio_s"])  # type: ignore[arg-type]
            t[3] += float(res["cpu_s"])  # type: ignore[arg-type]
            t[4] += dup
            t[5] += gone
            lat[system] += lats
            row[system] = {
                "wer": round(e / n, 4),
                "latency_mean_s": round(float(np.mean(lats)), 3) if lats else None,
                "latency_p90_s": round(float(np.percentile(lats, 90)), 3) if lats else None,
                "cpu_s_per_audio_s": res["cpu_s_per_audio_s"],
                "duplicated": dup,
                "lost": gone,
                "language": res["wlk_stats"]["language"],  # type: ignore[index]
                "hypothesis": res["text"],
            }
        emit({**stamp, **row}, a.out)
        table.append(row)
    summary: dict[str, Any] = {**stamp, "bench": "corpus-summary", "cases": [c.name for c in cases]}
    for system in systems:
        t = totals[system]
        s: dict[str, Any] = {"pooled_wer": round(t[0] / t[1], 4) if t[1] else None}
        if system.endswith("+final"):
            s["latency_mean_s"] = round(float(np.mean(lat[system])), 3) if lat[system] else None
            s["latency_p90_s"] = round(float(np.percentile(lat[system], 90)), 3) if lat[system] else None
        if system in policies:
            s["latency_mean_s"] = round(float(np.mean(lat[system])), 3) if lat[system] else None
            s["latency_p90_s"] = round(float(np.percentile(lat[system], 90)), 3) if lat[system] else None
            s["cpu_s_per_audio_s"] = round(t[3] / t[2], 3) if t[2] else None
            s["duplicated"] = int(t[4])
            s["lost"] = int(t[5])
        summary[system] = s
    emit(summary, a.out)
    print_table(table, systems, summary, file=sys.stderr)


def print_table(table: list[dict[str, Any]], systems: list[str], summary: dict[str, Any], file: Any) -> None:
    head = f"{'case':14s}" + "".join(f"{s:>17s}" for s in systems)
    print(head, file=file)
    for row in table:
        cells = []
        for s in systems:
            r = row[s]
            cell = f"{100 * r['wer']:.1f}%"
            if "latency_mean_s" in r and r["latency_mean_s"] is not None:
                cell += f" {r['latency_mean_s']:.2f}s"
            if r.get("duplicated") or r.get("lost"):
                cell += f" d{r['duplicated']}l{r['lost']}"
            cells.append(f"{cell:>17s}")
        print(f"{row['case']:14s}" + "".join(cells), file=file)
    cells = []
    for s in systems:
        r = summary[s]
        cell = f"{100 * r['pooled_wer']:.1f}%"
        if r.get("latency_mean_s") is not None:
            cell += f" {r['latency_mean_s']:.2f}s"
        cells.append(f"{cell:>17s}")
    print(f"{'pooled':14s}" + "".join(cells), file=file)
    for s in systems:
        r = summary[s]
        if "cpu_s_per_audio_s" in r:
            print(
                f"{s}: p90 {r['latency_p90_s']} s, CPU {r['cpu_s_per_audio_s']} s/s, "
                f"duplicated {r['duplicated']}, lost {r['lost']}",
                file=file,
            )


if __name__ == "__main__":
    main()
