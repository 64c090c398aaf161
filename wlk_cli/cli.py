"""Typer commands only: parse flags, call the app, turn WlkError into one line and an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from wlk_cli import __version__
from wlk_cli.errors import WlkError

app = typer.Typer(
    name="wlk",
    help="Real-time speech transcription in the terminal: files, microphones, system audio.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ASR = "Model"
STREAM = "Streaming"
OUT = "Output"
IN = "Input"


def _fail(e: WlkError, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    print(f"wlk: error: {e}", file=sys.stderr)
    raise typer.Exit(e.exit_code)


def _version(value: bool) -> None:
    if value:
        print(f"wlk {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """wlk: live, speaker-labelled transcripts in your terminal."""


@app.command("file")
def file_cmd(
    path: Annotated[str, typer.Argument(help="Audio or video file, or - for stdin.", show_default=False)],
    preset: Annotated[Optional[str], typer.Option(help="Preset name (see `wlk presets`) or a TOML file.")] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            help="Model name (tiny.en, base, small, large-v3, ...) or a directory. [default: base]", rich_help_panel=ASR
        ),
    ] = None,
    language: Annotated[
        Optional[str], typer.Option(help="Language code, or auto. [default: auto]", rich_help_panel=ASR)
    ] = None,
    task: Annotated[
        Optional[str], typer.Option(help="transcribe or translate. [default: transcribe]", rich_help_panel=ASR)
    ] = None,
    device: Annotated[
        Optional[str], typer.Option(help="auto, cpu or cuda. [default: auto]", rich_help_panel=ASR)
    ] = None,
    compute_type: Annotated[
        Optional[str], typer.Option(help="CTranslate2 compute type. [default: auto]", rich_help_panel=ASR)
    ] = None,
    beam_size: Annotated[
        Optional[int], typer.Option(help="Beam size (1 = greedy). [default: 1]", rich_help_panel=ASR)
    ] = None,
    threads: Annotated[
        Optional[int], typer.Option(help="CPU threads for the model (0 = auto). [default: 0]", rich_help_panel=ASR)
    ] = None,
    min_chunk_size: Annotated[
        Optional[float],
        typer.Option(help="Seconds of new audio between iterations. [default: 0.6]", rich_help_panel=STREAM),
    ] = None,
    buffer_trimming: Annotated[
        Optional[str], typer.Option(help="segment or sentence. [default: segment]", rich_help_panel=STREAM)
    ] = None,
    buffer_trimming_sec: Annotated[
        Optional[float],
        typer.Option(help="Trim the buffer past this many seconds. [default: 15]", rich_help_panel=STREAM),
    ] = None,
    confidence_validation: Annotated[
        Optional[bool],
        typer.Option(
            "--confidence-validation/--no-confidence-validation",
            help="Commit very confident words at once.",
            rich_help_panel=STREAM,
        ),
    ] = None,
    vad: Annotated[
        Optional[bool],
        typer.Option(
            "--vad/--no-vad",
            help="Silero VAD: skip silence, end utterances on pauses. [default: on]",
            rich_help_panel=STREAM,
        ),
    ] = None,
    vac_chunk_size: Annotated[
        Optional[float], typer.Option(help="Seconds of audio per VAD step. [default: 0.04]", rich_help_panel=STREAM)
    ] = None,
    min_silence_ms: Annotated[
        Optional[int], typer.Option(help="A pause this long ends an utterance. [default: 500]", rich_help_panel=STREAM)
    ] = None,
    speed: Annotated[
        Optional[float],
        typer.Option(
            help="Feed at this multiple of real time; 0 = as fast as possible. [default: 1.0]", rich_help_panel=IN
        ),
    ] = None,
    chunk_ms: Annotated[
        Optional[int], typer.Option(help="Audio chunk size in ms. [default: 100]", rich_help_panel=IN)
    ] = None,
    raw_format: Annotated[
        Optional[str], typer.Option(help="Read headerless PCM (s16le, f32le, ...).", rich_help_panel=IN)
    ] = None,
    raw_rate: Annotated[int, typer.Option(help="Sample rate of raw PCM.", rich_help_panel=IN)] = 16000,
    raw_channels: Annotated[int, typer.Option(help="Channels of raw PCM.", rich_help_panel=IN)] = 1,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="stdout: auto (text on a terminal, JSON lines otherwise), jsonl or text.",
            rich_help_panel=OUT,
        ),
    ] = "auto",
    formats: Annotated[
        Optional[str],
        typer.Option(help="Files to write: any of srt,vtt,json,txt. [default: srt,json]", rich_help_panel=OUT),
    ] = None,
    output_dir: Annotated[
        Optional[Path], typer.Option(help="Directory for the files. [default: beside the input]", rich_help_panel=OUT)
    ] = None,
    output_name: Annotated[
        Optional[str], typer.Option(help="File name stem. [default: the input's]", rich_help_panel=OUT)
    ] = None,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no files.", rich_help_panel=OUT)] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Transcribe a file (or stdin) fed as if it were live.

    Example: wlk file meeting.wav --model tiny.en --speed 0 | jq -c 'select(.type=="transcript")'
    """
    from wlk_cli.app import OutputOptions, run_file
    from wlk_cli.config import build_settings
    from wlk_cli.errors import UsageError

    overrides: dict[str, Any] = dict(
        model=model,
        language=language,
        task=task,
        device=device,
        compute_type=compute_type,
        beam_size=beam_size,
        threads=threads,
        min_chunk_size=min_chunk_size,
        buffer_trimming=buffer_trimming,
        buffer_trimming_sec=buffer_trimming_sec,
        confidence_validation=confidence_validation,
        vad=vad,
        vac_chunk_size=vac_chunk_size,
        min_silence_ms=min_silence_ms,
        speed=speed,
        chunk_ms=chunk_ms,
        formats=formats,
    )
    try:
        if format not in ("auto", "jsonl", "text"):
            raise UsageError(f"format: {format!r} is not one of auto, jsonl, text")
        settings = build_settings(preset, overrides)
        raw = None
        if raw_format is not None:
            from wlk_cli.audio.decode import RawSpec

            raw = RawSpec(raw_format, raw_rate, raw_channels)
        out = OutputOptions(mode=format, write_files=not no_files, output_dir=output_dir, output_name=output_name)
        stats = run_file(path, settings, out, raw=raw)
    except WlkError as e:
        _fail(e, debug)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if stats.interrupted:
        raise typer.Exit(130)


@app.command("presets")
def presets_cmd() -> None:
    """List the presets, one line each.

    Example: wlk presets
    """
    from wlk_cli.config import load_preset, preset_names

    try:
        for name in preset_names():
            values, desc = load_preset(name)
            print(f"{name:<14} {desc}")
    except WlkError as e:
        _fail(e, False)


def run() -> None:
    """Console-script entry point."""
    app()
