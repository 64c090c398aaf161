"""The front ends' entry: from settings and an output choice to a running session, on the terminal
(stream sinks) or in the TUI; Ctrl-C and SIGTERM; the line every run ends with.

``wlk file`` and ``wlk listen`` share everything here; only the feed (a file's audio clock or a
microphone) differs. The session itself (one stream on the engine's models) is ``session.py``.
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
from wlk_cli.engine import Engine
from wlk_cli.errors import UsageError
from wlk_cli.events import EndStats
from wlk_cli.session import Session

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

    def no_files_note(self, source: str) -> str:
        """Why a run writes no files, for the line it ends with."""
        if source == "-" and self.output_dir is None and self.output_name is None:
            return "no files written (stdin: give --output-dir or --output-name to write them)"
        return "no files written (--no-files)"


def _extra_sinks(out: OutputOptions) -> list[Any]:
    if out.jsonl_path is None:
        return []
    from wlk_cli.sinks.jsonl import JsonlSink

    try:
        f = open(out.jsonl_path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    except OSError as e:
        raise UsageError(f"jsonl: cannot write {out.jsonl_path}: {e.strerror}") from None
    return [JsonlSink(f)]


def file_sink(settings: Settings, out: OutputOptions, out_dir: Path, stem: str) -> Any | None:
    if not out.write_files:
        return None
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output-dir: {out_dir} is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # `--output-dir subs/` makes the folder, as cp -r would
    except OSError as e:
        raise UsageError(f"output-dir: cannot create {out_dir}: {e.strerror or e}") from None
    from wlk_cli.sinks.files import FileSink

    return FileSink(out_dir, out.output_name or stem, settings.formats, settings.model)


def resolve_mode(out: OutputOptions, stdout: IO[str], default_tty: str) -> str:
    if out.mode != "auto":
        return out.mode
    return default_tty if stdout.isatty() else "jsonl"


def written_to_a_file(stream: IO[str]) -> bool:
    """Whether ``stream`` goes to a regular file (``> out.jsonl``), not to a terminal or a pipe."""
    import os
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # a stream without a file descriptor (tests)
        return False


def _stream_sinks(mode: str, stdout: IO[str], live: bool) -> list[Any]:
    if mode == "jsonl":
        from wlk_cli.sinks.jsonl import JsonlSink

        sinks: list[Any] = [JsonlSink(stdout)]
        # a progress line on the terminal only while stdout goes to a file: JSON on the terminal, or a
        # program reading a pipe and printing there (jq), would be drawn over by it
        if sys.stderr.isatty() and written_to_a_file(stdout):
            from rich.console import Console

            from wlk_cli.sinks.terminal import ProgressSink

            sinks.append(ProgressSink(Console(stderr=True), live))
        return sinks
    from rich.console import Console

    from wlk_cli.sinks.terminal import TerminalSink

    return [TerminalSink(Console(file=stdout, highlight=False), live=live)]


def _on_sigterm(callback: Any) -> None:
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: callback())
    except ValueError:  # not the main thread (tests): keep the default
        pass


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


def keys_from_terminal(instead: str) -> IO[bytes] | None:
    """Make the TUI read its keys from the terminal (/dev/tty), never from stdin: Textual reads fd 0,
    and a pipe there (``cat talk.mp3 | wlk file - --tui``) would be taken for keys. Returns what was
    on stdin, for a source of ``-``; None when stdin already is the terminal."""
    import os

    if os.isatty(0):
        return None
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError as e:
        raise UsageError(
            f"the TUI reads its keys from a terminal and there is none (/dev/tty: {e.strerror}); {instead}"
        ) from None
    piped = os.fdopen(os.dup(0), "rb")
    os.dup2(tty, 0)
    os.close(tty)
    return piped


def check_tui_size(instead: str) -> None:
    """Refuse a terminal too small for the TUI; ``instead`` says how to run without it."""
    cols, rows = shutil.get_terminal_size((0, 0))
    if (cols and cols < MIN_TUI_SIZE[0]) or (rows and rows < MIN_TUI_SIZE[1]):
        raise UsageError(
            f"terminal too small for the TUI ({cols}x{rows}, need {MIN_TUI_SIZE[0]}x{MIN_TUI_SIZE[1]}); "
            f"enlarge it or {instead}"
        )


def run_session(session: Session, mode: str, stdout: IO[str], no_files: str) -> EndStats:
    """Run with the TUI or with stream sinks; Ctrl-C and SIGTERM finish the utterance and the files. The
    run ends with one line on stderr: what was heard and the files that hold it (``no_files`` when none)."""
    from wlk_cli.sinks.terminal import summary

    stats = _run_session(session, mode, stdout)
    print(summary(stats, session.written(), no_files), file=sys.stderr, flush=True)
    return stats


def _run_session(session: Session, mode: str, stdout: IO[str]) -> EndStats:
    if mode == "tui":
        from wlk_cli.tui.app import WlkApp

        app = WlkApp(session)
        _on_sigterm(app.request_stop)
        app.run()
        if app.failure is not None:  # its own exit code (a lost device is 5)
            raise app.failure
        if app.error:
            from wlk_cli.errors import WlkError

            raise WlkError(app.error)
        if app.stats is None:  # the app was closed before the session ended
            raise KeyboardInterrupt
        return app.stats
    _on_sigterm(_raise_interrupt)
    live = session.feed.live  # a microphone, not a file's clock
    return session.run(_stream_sinks(mode, stdout, live))


def start_engine(settings: Settings) -> Engine:
    """The engine of a one-stream process (its models loaded now), with PyTorch's thread count set
    once for the process: simulstreaming's decoder runs on PyTorch, and threads started later take the
    count over (the diarization thread sets its own, which stays its own)."""
    engine = Engine(settings)
    engine.prepare(settings)
    if settings.policy == "simulstreaming" or settings.diarization:
        import torch

        torch.set_num_threads(engine.threads)
    return engine


def select_source(device: Any) -> None:
    """Point PortAudio's pulse device at a sound-server source (a monitor): the one way to choose it,
    through the environment, so it is done once per process, before the stream opens."""
    import os

    if device.pulse_source:
        os.environ["PULSE_SOURCE"] = device.pulse_source


def run_file(
    source: str,
    settings: Settings,
    out: OutputOptions,
    raw: Any = None,
    stdout: IO[str] | None = None,
    stdin: IO[bytes] | None = None,
    remote: Any = None,
) -> EndStats:
    """Transcribe ``source`` (a path or ``-``) fed as if live; returns the end statistics. ``remote``
    (RemoteOptions): on a `wlk serve` instead of models here."""
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.clock import AudioClock
    from wlk_cli.audio.decode import AudioDecoder
    from wlk_cli.audio.ring import RingBuffer

    stdout = stdout or sys.stdout
    if source == "-" and out.output_dir is None and out.output_name is None:
        out.write_files = False  # stdin has no name to write files beside: ask with --output-dir
    out_dir = out.output_dir or (Path(source).resolve().parent if source != "-" else Path.cwd())
    stem = "stdin" if source == "-" else Path(source).stem
    mode = resolve_mode(out, stdout, "text")
    if mode == "tui":
        check_tui_size("run without --tui")
        piped = keys_from_terminal("run without --tui")
        stdin = stdin or piped
    decoder = AudioDecoder(source, raw=raw, stdin=stdin)  # a bad input is refused before any folder is made
    if decoder.note:
        print(f"wlk: note: {decoder.note}", file=sys.stderr, flush=True)
    files = file_sink(settings, out, out_dir, stem)
    clock = AudioClock(decoder.blocks(), RingBuffer(SAMPLE_RATE * 120), settings.chunk_ms, settings.speed)
    session = _session(settings, remote, clock, decoder.name, files, decoder.duration_s, _extra_sinks(out))
    return run_session(session, mode, stdout, out.no_files_note(source))


def _session(settings: Settings, remote: Any, feed: Any, label: str, files: Any, total_s: float | None,
             extra: list[Any]) -> Any:  # fmt: skip
    """The stream's session: on this machine's models (loaded now), or on a server's."""
    if remote is not None:
        from wlk_cli.server.client import RemoteSession

        return RemoteSession(remote, settings, feed, label, files, total_s, extra)
    return Session(start_engine(settings), settings, feed, label, files, total_s, extra)


def run_listen(
    settings: Settings,
    out: OutputOptions,
    device: str | None = None,
    system: bool = False,
    stdout: IO[str] | None = None,
    remote: Any = None,
) -> EndStats:
    """Transcribe a microphone or system audio until stopped."""
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.devices import pick_input
    from wlk_cli.audio.mic import MicrophoneFeed
    from wlk_cli.audio.ring import RingBuffer

    stdout = stdout or sys.stdout
    mode = resolve_mode(out, stdout, "tui")
    if mode == "tui":
        check_tui_size("use --no-tui")
        keys_from_terminal("use --no-tui")
    stem = time.strftime("wlk-%Y%m%d-%H%M%S")
    files = file_sink(settings, out, out.output_dir or Path.cwd(), stem)
    dev = pick_input(device, system)
    feed = MicrophoneFeed(dev, RingBuffer(SAMPLE_RATE * 120), block_ms=settings.chunk_ms)
    # the models load (here, unless a server has them), then capture starts
    session = _session(settings, remote, feed, dev.label, files, None, _extra_sinks(out))
    select_source(dev)
    feed.open()
    try:
        return run_session(session, mode, stdout, out.no_files_note("listen"))
    finally:
        feed.stop()
