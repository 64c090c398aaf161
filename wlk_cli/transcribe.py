"""`wlk transcribe`: the best transcript of recorded files, not streamed.

faster-whisper on the whole file (beam 5, Silero VAD, word timestamps; batched over the VAD's chunks
where that is faster), speakers from the same diarizer as the live pipeline when asked, and the same
sinks: JSON lines (session, one transcript event per segment, end), text, and the files `wlk file`
writes. One model serves every file of the call. This is the offline ceiling the streaming
benchmarks compare with.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from wlk_cli.asr.offline import OFFLINE_BEAMS, Decoded, OfflineDecoder, coverage
from wlk_cli.config import OPTS, Settings
from wlk_cli.errors import InputError, WlkError
from wlk_cli.events import EndStats, SessionInfo, SpeakerTurn, TranscriptEvent, Word

_STREAMING_ONLY = {n for n, o in OPTS.items() if not o.offline}  # settings of a live stream only


@dataclass(frozen=True)
class TranscribeOptions:
    batch_size: int = 0
    """Segments decoded together (faster-whisper's BatchedInferencePipeline); 0 = one at a time on a
    CPU, 8 on CUDA. Batched segments are decoded without the text before them: on a CPU the speed is
    not worth the words (tiny.en long.wav: 5.51% against 3.94% WER, RTF 0.035 against 0.056)."""


@dataclass
class FileResult:
    """One file's outcome: its end statistics (None when it could not be read), its error, its files."""

    source: str
    stats: EndStats | None
    error: WlkError | None
    written: list[Path]


class OfflineTranscriber:
    """The model, loaded once, and how to run it on one file."""

    def __init__(self, settings: Settings, opts: TranscribeOptions, engine: Any = None) -> None:
        """``engine``: one already loaded (a server's, shared with its streams); else one of its own."""
        from wlk_cli.engine import Engine

        self.settings = settings
        self.opts = opts
        self.beams = settings.beam_size or OFFLINE_BEAMS
        if engine is None:
            threads = settings.threads or min(4, os.cpu_count() or 2)  # whole files: the decoder is busy enough
            engine = Engine(settings, threads=threads)
        self.engine = engine
        self.language = self.engine.whisper.check_language(settings.language, settings.task)
        """The language asked for (en for English-only models), or None: detected per file."""
        self.batch_size = opts.batch_size or (8 if self.engine.device == "cuda" else 1)
        self.decoder: OfflineDecoder = self.engine.offline_decoder(settings.task, self.beams, self.batch_size)

    def words(
        self, audio: np.ndarray, on_progress: Any = None, language: str | None = None, prompt: str | None = None
    ) -> Decoded:
        """Every word of ``audio`` and the language it was transcribed in; ``language`` and ``prompt``
        (text before it, as Whisper's initial prompt) for this call only (a server's request)."""
        # given (or en for English-only models), else detected per file
        code = self.language if language is None else self.engine.whisper.check_language(language, self.settings.task)
        return self.decoder.decode(audio, code, prompt, filter_silence=self.settings.vad, on_progress=on_progress)


def _speakers(
    engine: Any, settings: Settings, audio: np.ndarray, words: list[Word]
) -> tuple[list[Word], list[SpeakerTurn]]:
    import dataclasses

    from wlk_cli.diarization.attribution import SpeakerAttribution
    from wlk_cli.diarization.refine import refine, refine_options
    from wlk_cli.diarization.voices import NAME_DISTANCE, chosen, name_speakers

    voices = chosen(settings.speakers)
    diarizer = engine.diarizer_for(settings)  # a fresh speaker state per file, on the engine's models
    diarizer.expect([v.embedding for v in voices], NAME_DISTANCE)
    attribution = SpeakerAttribution(settings.speaker_names)
    turns = diarizer.process(audio) + diarizer.finish()
    named = name_speakers(diarizer.centres(), voices)
    attribution.name(named)
    attribution.add_turns(turns, decided_until=float("inf"))
    opts = refine_options(settings)
    refined = refine(diarizer.log, opts, named) if opts is not None else None
    if refined is not None:  # the whole file at once: its turns replace diart's live ones
        attribution.refine(dataclasses.replace(refined, names=name_speakers(refined.centroids, voices)))
    return attribution.assign(words), attribution.shown_turns()


def transcribe_file(
    transcriber: OfflineTranscriber, path: str, out: Any, sinks: Sequence[Any], on_progress: Any = None
) -> FileResult:
    """One file through the model into ``sinks`` and its files; a bad file is a result, not a raise."""
    from wlk_cli.app import file_sink
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.decode import read_audio
    from wlk_cli.pipeline import cpu_seconds
    from wlk_cli.sinks.base import SinkFanout
    from wlk_cli.sinks.segments import sentences

    settings = transcriber.settings
    try:
        audio, late_error = read_audio(path)
    except InputError as e:
        return FileResult(path, None, e, [])
    t0, cpu0 = time.monotonic(), cpu_seconds()
    files = file_sink(settings, out, out.output_dir or Path(path).resolve().parent, Path(path).stem)
    fan = SinkFanout([*sinks, *([files] if files is not None else [])])
    duration = audio.size / SAMPLE_RATE
    info = {k: v for k, v in settings.as_dict().items() if k not in _STREAMING_ONLY}
    info.update(
        mode="transcribe", beam_size=transcriber.beams, batch_size=transcriber.batch_size, duration_s=round(duration, 3)
    )
    fan.start(SessionInfo(source=path, settings=info))
    decoded = transcriber.words(audio, on_progress)
    words, language = decoded.words, decoded.language
    if settings.diarization and words:
        words, turns = _speakers(transcriber.engine, settings, audio, words)
        fan.turns(turns)
    wall = time.monotonic() - t0
    for seq, seg in enumerate(sentences(words)):
        fan.transcript(TranscriptEvent(seq, wall, seg[-1].end, tuple(seg), (), language, utterance_end=True))
    stats = EndStats(
        audio_duration_s=duration,
        processing_time_s=wall,
        real_time_factor=wall / duration if duration else 0.0,
        cpu_time_s=cpu_seconds() - cpu0,
        words=len(words),
        latency_mean_s=None,
        latency_p50_s=None,
        latency_p90_s=None,
        first_word_latency_s=None,
        max_lag_s=0.0,
        dropped_audio_s=0.0,
        language=language,
        error=str(late_error) if late_error else None,
        extra={
            **coverage(decoded),
            **({"note": "no speech found"} if not words and late_error is None else {}),
        },
    )
    fan.end(stats)
    written = [p for p in files.paths.values() if p.exists()] if files is not None else []
    return FileResult(path, stats, late_error, written)


class TextSink:
    """The transcript as text, a line per sentence, speakers named: for files already transcribed."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def start(self, session: SessionInfo) -> None:
        self.console.print(f"[bold]{session.source}[/bold]", highlight=False)

    def transcript(self, event: TranscriptEvent) -> None:
        from wlk_cli.sinks.terminal import labelled

        line = labelled(list(event.confirmed))
        line.rstrip()
        self.console.print(line)

    def final(self, event: Any) -> None:
        pass

    def status(self, event: Any) -> None:
        pass

    def turns(self, turns: list[SpeakerTurn], since: float | None = None) -> None:
        pass

    def speakers(self, event: Any) -> None:
        pass

    def end(self, stats: EndStats) -> None:
        pass


def run_transcribe(
    paths: Sequence[str], settings: Settings, out: Any, opts: TranscribeOptions, stdout: IO[str] | None = None
) -> list[FileResult]:
    """Every file in turn with one model, a progress bar over the files on a terminal, and one line on
    stderr per file at its end (or its error); returns the results (the CLI picks the exit code)."""
    from rich.console import Console

    from wlk_cli.app import resolve_mode, written_to_a_file
    from wlk_cli.sinks.terminal import summary

    stdout = stdout or sys.stdout
    mode = resolve_mode(out, stdout, "text")
    err = Console(stderr=True, highlight=False)
    on_terminal = mode == "text" and stdout.isatty()
    # the bar is drawn where nothing else is: with text on the terminal both go through one console
    show_bar = sys.stderr.isatty() and (on_terminal or written_to_a_file(stdout))
    transcriber = OfflineTranscriber(settings, opts)
    progress = _progress(err) if show_bar else None
    text_console = progress.console if progress is not None and on_terminal else Console(file=stdout, highlight=False)
    results: list[FileResult] = []
    try:
        overall = None
        if progress is not None:
            progress.start()
            overall = progress.add_task("files", total=len(paths))
        for i, path in enumerate(paths):
            sinks: list[Any] = [_jsonl(stdout)] if mode == "jsonl" else [TextSink(text_console)]
            task = progress.add_task(Path(path).name, total=None) if progress is not None else None

            def advance(t: float, task: Any = task) -> None:
                if progress is not None and task is not None:
                    progress.update(task, completed=t)

            result = transcribe_file(transcriber, path, out, sinks, advance)
            results.append(result)
            line = summary(result.stats, result.written, out.no_files_note(path)) if result.stats else ""
            if result.error is not None:
                line = f"wlk: error: {result.error}" + (f" ({line[5:]})" if line else "")
            (progress.console if progress is not None else err).print(
                line, markup=False, highlight=False, soft_wrap=True
            )
            if progress is not None and task is not None and overall is not None:
                progress.remove_task(task)
                progress.update(overall, completed=i + 1)
    finally:
        if progress is not None:
            progress.stop()
    return results


def _jsonl(stdout: IO[str]) -> Any:
    from wlk_cli.sinks.jsonl import JsonlSink

    return JsonlSink(stdout)


def _progress(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        transient=True,
    )  # fmt: skip
