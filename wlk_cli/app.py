"""Builds a session from settings and runs it: the glue between the CLI and the pipeline.

``wlk file`` and ``wlk listen`` share everything here; only the feed (a file's audio clock or a
microphone) differs.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wlk_cli.config import Settings
from wlk_cli.errors import UsageError
from wlk_cli.events import EndStats, SessionInfo

MIN_TUI_SIZE = (40, 10)


@dataclass
class OutputOptions:
    """Where results go (not part of presets: they depend on the invocation)."""

    mode: str = "auto"  # auto | jsonl | text | tui
    write_files: bool = True
    output_dir: Path | None = None
    output_name: str | None = None
    jsonl_path: Path | None = None
    """Also write the JSON-lines stream to this file (whatever stdout shows)."""


def build_backend(settings: Settings) -> Any:
    from wlk_cli.asr.faster_whisper import BackendOptions, FasterWhisperBackend

    return FasterWhisperBackend(
        BackendOptions(
            model=settings.model,
            language=settings.language,
            task=settings.task,
            device=settings.device,
            compute_type=settings.compute_type,
            beam_size=settings.beams,
            threads=settings.threads,
        )
    )


def build_policy(settings: Settings, asr: Any) -> Any:
    if settings.policy == "simulstreaming":
        from wlk_cli.policies.simulstreaming import SimulStreamingOptions, SimulStreamingPolicy

        return SimulStreamingPolicy(asr, SimulStreamingOptions.from_settings(settings))
    from wlk_cli.policies.local_agreement import LocalAgreementOptions, LocalAgreementPolicy

    return LocalAgreementPolicy(
        asr,
        LocalAgreementOptions(
            min_chunk_size=settings.chunk_s,
            buffer_trimming=settings.buffer_trimming,
            buffer_trimming_sec=settings.buffer_trimming_sec,
            confidence_validation=settings.confidence_validation,
            confidence_threshold=settings.confidence_threshold,
        ),
    )


def build_diarization(settings: Settings, ring: Any) -> tuple[Any, Any]:
    """(DiarizationWorker, SpeakerAttribution), or (None, None) when diarization is off."""
    if not settings.diarization:
        return None, None
    from wlk_cli.diarization.attribution import SpeakerAttribution
    from wlk_cli.diarization.diarizer import DiarizationOptions, StreamingDiarizer
    from wlk_cli.diarization.worker import DiarizationWorker

    diarizer = StreamingDiarizer(DiarizationOptions.from_settings(settings))
    return DiarizationWorker(ring, diarizer), SpeakerAttribution(settings.speaker_names)


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


class Session:
    """One stream: a feed, the engine, the files; and the controls a UI needs (thread-safe)."""

    def __init__(
        self,
        settings: Settings,
        feed: Any,
        source_label: str,
        file_sink: Any | None,
        total_s: float | None = None,
        extra_sinks: list[Any] | None = None,
    ) -> None:
        self.settings = settings
        self.feed = feed
        self.source_label = source_label
        self.model = settings.model
        self.policy = settings.policy
        self.file_sink = file_sink
        self.total_s = total_s
        self.extra_sinks = extra_sinks or []
        self.asr = build_backend(settings)
        self._policy = build_policy(settings, self.asr)
        self._vad = build_vad(settings)
        self._diarization, self._attribution = build_diarization(settings, feed.ring)

    def run(self, sinks: list[Any]) -> EndStats:
        from wlk_cli.pipeline import Pipeline
        from wlk_cli.sinks.base import SinkFanout

        all_sinks = [*sinks, *self.extra_sinks, *([self.file_sink] if self.file_sink is not None else [])]
        pipeline = Pipeline(
            self.feed,
            self._policy,
            SinkFanout(all_sinks),
            self._vad,
            language=lambda: self.asr.language,
            total_s=self.total_s,
            diarization=self._diarization,
            attribution=self._attribution,
        )
        info = SessionInfo(
            source=self.source_label,
            settings={
                **self.settings.as_dict(),
                "device": self.asr.device,
                "compute_type": self.asr.compute_type,
                "duration_s": self.total_s,
            },
        )
        if hasattr(self.feed, "start"):
            self.feed.start()
        return pipeline.run(info)

    def pause(self, paused: bool) -> None:
        self.feed.pause(paused)

    def save(self) -> list[Path]:
        return list(self.file_sink.write()) if self.file_sink is not None else []

    def stop(self) -> None:
        self.feed.stop()


def _extra_sinks(out: OutputOptions) -> list[Any]:
    if out.jsonl_path is None:
        return []
    from wlk_cli.sinks.jsonl import JsonlSink

    try:
        f = open(out.jsonl_path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    except OSError as e:
        raise UsageError(f"jsonl: cannot write {out.jsonl_path}: {e.strerror}") from None
    return [JsonlSink(f)]


def _file_sink(settings: Settings, out: OutputOptions, out_dir: Path, stem: str) -> Any | None:
    if not out.write_files:
        return None
    if not out_dir.is_dir():
        raise UsageError(f"output-dir: {out_dir} is not a directory")
    from wlk_cli.sinks.files import FileSink

    return FileSink(out_dir, out.output_name or stem, settings.formats, settings.model)


def _resolve_mode(out: OutputOptions, stdout: IO[str], default_tty: str) -> str:
    if out.mode != "auto":
        return out.mode
    return default_tty if stdout.isatty() else "jsonl"


def _stream_sinks(mode: str, stdout: IO[str], speed: float) -> list[Any]:
    if mode == "jsonl":
        from wlk_cli.sinks.jsonl import JsonlSink

        sinks: list[Any] = [JsonlSink(stdout)]
        if sys.stderr.isatty():
            from rich.console import Console

            from wlk_cli.sinks.terminal import ProgressSink

            sinks.append(ProgressSink(Console(stderr=True), speed))
        return sinks
    from rich.console import Console

    from wlk_cli.sinks.terminal import TerminalSink

    return [TerminalSink(Console(file=stdout, highlight=False), speed)]


def _on_sigterm(callback: Any) -> None:
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: callback())
    except ValueError:  # not the main thread (tests): keep the default
        pass


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


def check_tui_size() -> None:
    cols, rows = shutil.get_terminal_size((0, 0))
    if (cols and cols < MIN_TUI_SIZE[0]) or (rows and rows < MIN_TUI_SIZE[1]):
        raise UsageError(
            f"terminal too small for the TUI ({cols}x{rows}, need {MIN_TUI_SIZE[0]}x{MIN_TUI_SIZE[1]}); "
            "enlarge it or use --no-tui"
        )


def run_session(session: Session, mode: str, stdout: IO[str]) -> EndStats:
    """Run with the TUI or with stream sinks; Ctrl-C and SIGTERM finish the utterance and the files."""
    if mode == "tui":
        from wlk_cli.sinks.tui.app import WlkApp

        check_tui_size()
        app = WlkApp(session)
        _on_sigterm(app.request_stop)
        app.run()
        if app.error:
            from wlk_cli.errors import WlkError

            raise WlkError(app.error)
        if app.stats is None:  # the app was closed before the session ended
            raise KeyboardInterrupt
        return app.stats
    _on_sigterm(_raise_interrupt)
    return session.run(_stream_sinks(mode, stdout, session.settings.speed))


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

    stdout = stdout or sys.stdout
    if source == "-" and out.output_dir is None and out.output_name is None:
        out.write_files = False  # stdin has no name to write files beside: ask with --output-dir
    out_dir = out.output_dir or (Path(source).resolve().parent if source != "-" else Path.cwd())
    stem = "stdin" if source == "-" else Path(source).stem
    mode = _resolve_mode(out, stdout, "text")
    if mode == "tui":
        check_tui_size()
    file_sink = _file_sink(settings, out, out_dir, stem)
    decoder = AudioDecoder(source, raw=raw, stdin=stdin)
    clock = AudioClock(decoder.blocks(), RingBuffer(SAMPLE_RATE * 120), settings.chunk_ms, settings.speed)
    session = Session(settings, clock, decoder.name, file_sink, decoder.duration_s, _extra_sinks(out))
    return run_session(session, mode, stdout)


def run_listen(
    settings: Settings,
    out: OutputOptions,
    device: str | None = None,
    system: bool = False,
    stdout: IO[str] | None = None,
) -> EndStats:
    """Transcribe a microphone or system audio until stopped."""
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.devices import pick_input
    from wlk_cli.audio.mic import MicrophoneFeed
    from wlk_cli.audio.ring import RingBuffer

    stdout = stdout or sys.stdout
    mode = _resolve_mode(out, stdout, "tui")
    if mode == "tui":
        check_tui_size()
    stem = time.strftime("wlk-%Y%m%d-%H%M%S")
    file_sink = _file_sink(settings, out, out.output_dir or Path.cwd(), stem)
    dev = pick_input(device, system)
    feed = MicrophoneFeed(dev, RingBuffer(SAMPLE_RATE * 120), block_ms=settings.chunk_ms)
    session = Session(settings, feed, dev.label, file_sink, None, _extra_sinks(out))  # model loads, then capture
    feed.open()
    try:
        return run_session(session, mode, stdout)
    finally:
        feed.stop()
