"""Builds a stream from settings and runs it: the glue between the CLI and the pipeline."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wlk_cli.config import Settings
from wlk_cli.errors import UsageError
from wlk_cli.events import EndStats, SessionInfo


@dataclass
class OutputOptions:
    """Where results go (not part of presets: they depend on the invocation)."""

    mode: str = "auto"  # auto | jsonl | text
    write_files: bool = True
    output_dir: Path | None = None
    output_name: str | None = None


def _sigterm_as_interrupt() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests): Ctrl-C handling stays as it is
        pass


def build_backend(settings: Settings) -> Any:
    from wlk_cli.asr.faster_whisper import BackendOptions, FasterWhisperBackend

    return FasterWhisperBackend(
        BackendOptions(
            model=settings.model,
            language=settings.language,
            task=settings.task,
            device=settings.device,
            compute_type=settings.compute_type,
            beam_size=settings.beam_size,
            threads=settings.threads,
        )
    )


def build_policy(settings: Settings, asr: Any) -> Any:
    from wlk_cli.policies.local_agreement import LocalAgreementOptions, LocalAgreementPolicy

    return LocalAgreementPolicy(
        asr,
        LocalAgreementOptions(
            min_chunk_size=settings.min_chunk_size,
            buffer_trimming=settings.buffer_trimming,
            buffer_trimming_sec=settings.buffer_trimming_sec,
            confidence_validation=settings.confidence_validation,
            confidence_threshold=settings.confidence_threshold,
        ),
    )


def build_vad(settings: Settings) -> Any:
    if not settings.vad:
        return None
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.vad import SileroVAD, VoiceActivityController

    return VoiceActivityController(
        SileroVAD(),
        threshold=settings.vad_threshold,
        min_silence_ms=settings.min_silence_ms,
        step_samples=int(settings.vac_chunk_size * SAMPLE_RATE),
    )


def file_stem(source: str, out: OutputOptions) -> str:
    if out.output_name:
        return out.output_name
    return "stdin" if source == "-" else Path(source).stem


def run_file(
    source: str,
    settings: Settings,
    out: OutputOptions,
    raw: Any = None,
    stdout: IO[str] | None = None,
    stdin: IO[bytes] | None = None,
) -> EndStats:
    """Transcribe ``source`` (a path or ``-``) fed as if live; returns the end statistics."""
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.clock import AudioClock
    from wlk_cli.audio.decode import AudioDecoder
    from wlk_cli.audio.ring import RingBuffer
    from wlk_cli.pipeline import Pipeline
    from wlk_cli.sinks.base import Sink, SinkFanout

    stdout = stdout or sys.stdout
    if source == "-" and out.write_files and out.output_dir is None and out.output_name is None:
        out.write_files = False  # stdin has no name to write files beside: ask with --output-dir
    out_dir = out.output_dir or (Path(source).resolve().parent if source != "-" else Path.cwd())
    if out.write_files:
        if not out_dir.is_dir():
            raise UsageError(f"output-dir: {out_dir} is not a directory")

    decoder = AudioDecoder(source, raw=raw, stdin=stdin)
    asr = build_backend(settings)
    policy = build_policy(settings, asr)
    vad = build_vad(settings)

    sinks: list[Sink] = []
    mode = out.mode
    if mode == "auto":
        mode = "text" if stdout.isatty() else "jsonl"
    if mode == "jsonl":
        from wlk_cli.sinks.jsonl import JsonlSink

        sinks.append(JsonlSink(stdout))
        if sys.stderr.isatty():
            from rich.console import Console

            from wlk_cli.sinks.terminal import ProgressSink

            sinks.append(ProgressSink(Console(stderr=True), settings.speed))
    else:
        from rich.console import Console

        from wlk_cli.sinks.terminal import TerminalSink

        sinks.append(TerminalSink(Console(file=stdout, highlight=False), settings.speed))
    if out.write_files:
        from wlk_cli.sinks.files import FileSink

        sinks.append(FileSink(out_dir, file_stem(source, out), settings.formats, settings.model))

    ring = RingBuffer(capacity=SAMPLE_RATE * 120)
    clock = AudioClock(decoder.blocks(), ring, settings.chunk_ms, settings.speed)
    pipeline = Pipeline(
        clock, policy, SinkFanout(sinks), vad, language=lambda: asr.language, total_s=decoder.duration_s
    )
    session = SessionInfo(
        source=decoder.name,
        settings={
            **settings.as_dict(),
            "device": asr.device,
            "compute_type": asr.compute_type,
            "duration_s": decoder.duration_s,
        },
    )
    _sigterm_as_interrupt()
    clock.start()
    return pipeline.run(session)
