"""Typer commands only: parse flags, call the app, turn WlkError into one line and an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from wlk_cli import __version__
from wlk_cli.errors import WlkError
from wlk_cli.help import GroupedCommand

app = typer.Typer(
    name="wlk",
    help="Real-time speech transcription in the terminal: files, microphones, system audio.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help that fits the terminal (wlk_cli.help), errors as one line (run)
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 80},
)

ASR, STREAM, OUT, IN, VADP = "Model", "Policy", "Output", "Input", "VAD"


def _opt(help: str, panel: str | None = None, *names: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel)


# Engine options shared by `file` and `listen`: names match the preset keys.
Preset = Annotated[Optional[str], _opt("Preset name (see `wlk presets`) or a TOML file.")]
Model = Annotated[Optional[str], _opt("Model name (tiny.en, base, small, large-v3, ...) or a directory.", ASR)]
Language = Annotated[Optional[str], _opt("Language code, or auto.", ASR)]
Task = Annotated[Optional[str], _opt("transcribe or translate.", ASR)]
Device = Annotated[Optional[str], _opt("Compute device: auto, cpu or cuda.", ASR, "--device", "--compute-device")]
# listen's --device is the input device, so there the compute device is only --compute-device
ListenDevice = Annotated[Optional[str], _opt("Compute device: auto, cpu or cuda.", ASR, "--compute-device")]
ComputeType = Annotated[Optional[str], _opt("CTranslate2 compute type.", ASR)]
BeamSize = Annotated[
    Optional[int],
    _opt("Beam size (1 = greedy). [default: 1; 2 for simulstreaming with tiny models]", ASR, "--beam-size", "--beams"),
]
Policy = Annotated[Optional[str], _opt("local-agreement or simulstreaming (AlignAtt).", STREAM)]
SIM = "Policy: simulstreaming"
FrameThreshold = Annotated[Optional[int], _opt("Hold tokens attending this many 20 ms frames from the end.", SIM)]
AudioMaxLen = Annotated[Optional[float], _opt("Seconds of audio the buffer holds.", SIM)]
AudioMinLen = Annotated[Optional[float], _opt("Seconds of audio before the first pass.", SIM)]
InitPrompt = Annotated[Optional[str], _opt("Text that starts the context (trimmed like the rest).", SIM)]
StaticPrompt = Annotated[Optional[str], _opt("Text that always prompts the decoder, never trimmed.", SIM)]
MaxContext = Annotated[Optional[int], _opt("Tokens of earlier text in the prompt.", SIM)]
NeverFire = Annotated[
    Optional[bool],
    _opt("Decode each pass's last word again with more audio before keeping it.", SIM, "--never-fire/--fire"),
]
Threads = Annotated[Optional[int], _opt("CPU threads for the model (0 = auto).", ASR)]
MinChunk = Annotated[
    Optional[float],
    _opt(
        "Seconds of new audio between iterations. "
        "[default: 0.6 local-agreement; simulstreaming 0.1 with tiny models, 0.2 larger]",
        STREAM,
    ),
]
Trimming = Annotated[Optional[str], _opt("segment or sentence.", STREAM)]
TrimmingSec = Annotated[Optional[float], _opt("Trim the buffer past this many seconds.", STREAM)]
ConfVal = Annotated[
    Optional[bool],
    _opt("Commit very confident words at once.", STREAM, "--confidence-validation/--no-confidence-validation"),
]
Vad = Annotated[Optional[bool], _opt("Silero VAD: skip silence, end utterances on pauses.", VADP, "--vad/--no-vad")]
VacChunk = Annotated[Optional[float], _opt("Seconds of audio per VAD step.", VADP)]
MinSilence = Annotated[Optional[int], _opt("A pause this long (ms) ends an utterance.", VADP)]
ChunkMs = Annotated[Optional[int], _opt("Audio chunk size in ms.", IN)]
Formats = Annotated[Optional[str], _opt("Files to write: any of srt,vtt,json,txt,rttm (rttm with speakers).", OUT)]
OutputDir = Annotated[
    Optional[Path], _opt("Directory for the files (made if missing). [default: beside the input]", OUT)
]
OutputName = Annotated[Optional[str], _opt("File name stem. [default: the input's]", OUT)]
NoFiles = Annotated[bool, _opt("Write no files.", OUT, "--no-files")]
JsonlPath = Annotated[
    Optional[Path], _opt("Also write the JSON-lines stream to this file. [default: none]", OUT, "--jsonl")
]
Debug = Annotated[bool, _opt("Show tracebacks.", None, "--debug")]
DIA = "Speakers"
Diarization = Annotated[
    Optional[bool], _opt("Label words with speakers (diart).", DIA, "--diarization/--no-diarization")
]
DiaLatency = Annotated[Optional[float], _opt("Seconds before a speaker is decided, 0.5 to 5.", DIA)]
TauActive = Annotated[Optional[float], _opt("Speaker activity threshold.", DIA)]
RhoUpdate = Annotated[Optional[float], _opt("Speech share needed to update a speaker.", DIA)]
DeltaNew = Annotated[Optional[float], _opt("Distance that makes a new speaker.", DIA)]
MaxSpeakers = Annotated[Optional[int], _opt("At most this many speakers.", DIA)]
NumSpeakers = Annotated[Optional[int], _opt("The number of speakers, when you know it. [default: unknown]", DIA)]
SegModel = Annotated[
    Optional[str], _opt("Segmentation checkpoint path or hub name. [default: segmentation-3.0, bundled]", DIA)
]
EmbModel = Annotated[
    Optional[str], _opt("Speaker-embedding checkpoint path or hub name. [default: CAM++, bundled]", DIA)
]
SpeakerNames = Annotated[Optional[str], _opt("Names for S1,S2,... in order of appearance, comma-separated.", DIA)]


def _fail(e: WlkError, debug: bool, preset: str | None = None, model: str | None = None) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    from wlk_cli.errors import ModelError

    where = ""
    if isinstance(e, ModelError) and preset and model is None:  # the model was the preset's choice
        where = f" (the model of preset {preset}; choose another with --model)"
    print(f"wlk: error: {e}{where}", file=sys.stderr)
    raise typer.Exit(e.exit_code)


def _version(value: bool) -> None:
    if value:
        print(f"wlk {__version__}")
        raise typer.Exit()


def _settings(preset: str | None, params: dict[str, Any]) -> Any:
    """Settings from a preset and a command's parameters: those named like a setting override it."""
    from dataclasses import fields

    from wlk_cli.config import Settings, build_settings

    names = {f.name for f in fields(Settings)} - {"device"}  # listen's --device is the input device
    overrides = {k: v for k, v in params.items() if k in names}
    overrides["device"] = params.get("compute_device")
    return build_settings(preset, overrides)


def _finish(stats: Any) -> None:
    if stats.interrupted:
        raise typer.Exit(130)


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """wlk: live, speaker-labelled transcripts in your terminal."""


FILE_EXAMPLES = """
wlk file meeting.wav --model tiny.en
wlk file talk.mp3 --speed 0 | jq -c 'select(.type=="transcript")'
cat call.m4a | wlk file - --tui --diarization --output-dir subs/
"""


@app.command("file", cls=GroupedCommand, epilog=FILE_EXAMPLES)
def file_cmd(
    path: Annotated[str, typer.Argument(help="Audio or video file, or - for stdin.", show_default=False)],
    preset: Preset = None,
    model: Model = None,
    language: Language = None,
    task: Task = None,
    compute_device: Device = None,
    compute_type: ComputeType = None,
    beam_size: BeamSize = None,
    threads: Threads = None,
    policy: Policy = None,
    frame_threshold: FrameThreshold = None,
    audio_max_len: AudioMaxLen = None,
    audio_min_len: AudioMinLen = None,
    init_prompt: InitPrompt = None,
    static_init_prompt: StaticPrompt = None,
    max_context_tokens: MaxContext = None,
    never_fire: NeverFire = None,
    min_chunk_size: MinChunk = None,
    buffer_trimming: Trimming = None,
    buffer_trimming_sec: TrimmingSec = None,
    confidence_validation: ConfVal = None,
    vad: Vad = None,
    vac_chunk_size: VacChunk = None,
    min_silence_ms: MinSilence = None,
    speed: Annotated[Optional[float], _opt("Feed at this multiple of real time; 0 = as fast as possible.", IN)] = None,
    chunk_ms: ChunkMs = None,
    raw_format: Annotated[Optional[str], _opt("Read headerless PCM (s16le, f32le, ...).", IN)] = None,
    raw_rate: Annotated[int, _opt("Sample rate of raw PCM.", IN)] = 16000,
    raw_channels: Annotated[int, _opt("Channels of raw PCM.", IN)] = 1,
    format: Annotated[
        str, _opt("stdout: auto (text on a terminal, else JSON lines), jsonl or text.", OUT, "--format")
    ] = "auto",
    tui: Annotated[bool, _opt("Show the file in the TUI.", OUT, "--tui")] = False,
    diarization: Diarization = None,
    diarization_latency: DiaLatency = None,
    tau_active: TauActive = None,
    rho_update: RhoUpdate = None,
    delta_new: DeltaNew = None,
    max_speakers: MaxSpeakers = None,
    num_speakers: NumSpeakers = None,
    segmentation_model: SegModel = None,
    embedding_model: EmbModel = None,
    speaker_names: SpeakerNames = None,
    formats: Formats = None,
    output_dir: OutputDir = None,
    output_name: OutputName = None,
    no_files: NoFiles = False,
    jsonl: JsonlPath = None,
    debug: Debug = False,
) -> None:
    """Transcribe a file (or stdin) fed as if it were live."""
    from wlk_cli.app import OutputOptions, run_file
    from wlk_cli.errors import UsageError

    try:
        if format not in ("auto", "jsonl", "text"):
            raise UsageError(f"format: {format!r} is not one of auto, jsonl, text")
        settings = _settings(preset, locals())
        raw = None
        if raw_format is not None:
            from wlk_cli.audio.decode import RawSpec

            raw = RawSpec(raw_format, raw_rate, raw_channels)
        mode = "tui" if tui else format
        out = OutputOptions(
            mode=mode, write_files=not no_files, output_dir=output_dir, output_name=output_name, jsonl_path=jsonl
        )
        stats = run_file(path, settings, out, raw=raw)
    except WlkError as e:
        _fail(e, debug, preset, model)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _finish(stats)


OfflineBeams = Annotated[Optional[int], _opt("Beam size (1 = greedy). [default: 5]", ASR, "--beam-size", "--beams")]
BatchSize = Annotated[
    int, _opt("Segments decoded together (0 = auto: 8 on CUDA, 1 on a CPU). [default: 0]", ASR, "--batch-size")
]


TRANSCRIBE_EXAMPLES = """
wlk transcribe talk.mp3
wlk transcribe *.wav --model tiny.en --output-dir subs/ --formats srt,txt
wlk transcribe meeting.m4a --diarization --formats srt,rttm
"""


@app.command("transcribe", cls=GroupedCommand, epilog=TRANSCRIBE_EXAMPLES)
def transcribe_cmd(
    paths: Annotated[list[str], typer.Argument(help="Audio or video files.", show_default=False)],
    preset: Preset = None,
    model: Model = None,
    language: Language = None,
    task: Task = None,
    compute_device: Device = None,
    compute_type: ComputeType = None,
    beam_size: OfflineBeams = None,
    threads: Threads = None,
    batch_size: BatchSize = 0,
    vad: Vad = None,
    diarization: Diarization = None,
    tau_active: TauActive = None,
    rho_update: RhoUpdate = None,
    delta_new: DeltaNew = None,
    max_speakers: MaxSpeakers = None,
    num_speakers: NumSpeakers = None,
    segmentation_model: SegModel = None,
    embedding_model: EmbModel = None,
    speaker_names: SpeakerNames = None,
    formats: Formats = None,
    output_dir: OutputDir = None,
    no_files: NoFiles = False,
    format: Annotated[
        str, _opt("stdout: auto (text on a terminal, else JSON lines), jsonl or text.", OUT, "--format")
    ] = "auto",
    debug: Debug = False,
) -> None:
    """The best transcript of recorded files, not streamed: beam 5, VAD, word times, speakers if asked."""
    from wlk_cli.app import OutputOptions
    from wlk_cli.errors import UsageError
    from wlk_cli.transcribe import TranscribeOptions, run_transcribe

    try:
        if format not in ("auto", "jsonl", "text"):
            raise UsageError(f"format: {format!r} is not one of auto, jsonl, text")
        if batch_size < 0 or batch_size > 256:
            raise UsageError(f"batch_size: {batch_size} is out of range (0 to 256)")
        if "-" in paths:
            raise UsageError("transcribe reads files; for stdin use `wlk file -`")
        settings = _settings(preset, locals())
        out = OutputOptions(mode=format, write_files=not no_files, output_dir=output_dir)
        results = run_transcribe(paths, settings, out, TranscribeOptions(batch_size=batch_size))
    except WlkError as e:
        _fail(e, debug, preset, model)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    failed = [r.error for r in results if r.error is not None]
    if failed:
        raise typer.Exit(failed[0].exit_code)


LISTEN_EXAMPLES = """
wlk listen --model tiny.en
wlk listen --system --diarization
wlk listen --no-tui | jq -c 'select(.type=="transcript")'
"""


@app.command("listen", cls=GroupedCommand, epilog=LISTEN_EXAMPLES)
def listen_cmd(
    device: Annotated[Optional[str], _opt("Input device: index or part of its name (see `wlk devices`).", IN)] = None,
    system: Annotated[bool, _opt("Capture system audio (the monitor of the default output).", IN, "--system")] = False,
    preset: Preset = None,
    model: Model = None,
    language: Language = None,
    task: Task = None,
    compute_device: ListenDevice = None,
    compute_type: ComputeType = None,
    beam_size: BeamSize = None,
    threads: Threads = None,
    policy: Policy = None,
    frame_threshold: FrameThreshold = None,
    audio_max_len: AudioMaxLen = None,
    audio_min_len: AudioMinLen = None,
    init_prompt: InitPrompt = None,
    static_init_prompt: StaticPrompt = None,
    max_context_tokens: MaxContext = None,
    never_fire: NeverFire = None,
    min_chunk_size: MinChunk = None,
    buffer_trimming: Trimming = None,
    buffer_trimming_sec: TrimmingSec = None,
    confidence_validation: ConfVal = None,
    vad: Vad = None,
    vac_chunk_size: VacChunk = None,
    min_silence_ms: MinSilence = None,
    chunk_ms: ChunkMs = None,
    no_tui: Annotated[bool, _opt("JSON lines on stdout instead of the TUI.", OUT, "--no-tui")] = False,
    diarization: Diarization = None,
    diarization_latency: DiaLatency = None,
    tau_active: TauActive = None,
    rho_update: RhoUpdate = None,
    delta_new: DeltaNew = None,
    max_speakers: MaxSpeakers = None,
    num_speakers: NumSpeakers = None,
    segmentation_model: SegModel = None,
    embedding_model: EmbModel = None,
    speaker_names: SpeakerNames = None,
    formats: Formats = None,
    output_dir: OutputDir = None,
    output_name: OutputName = None,
    no_files: NoFiles = False,
    jsonl: JsonlPath = None,
    debug: Debug = False,
) -> None:
    """Transcribe a microphone or system audio live, in the TUI (or as JSON lines when piped)."""
    from wlk_cli.app import OutputOptions, run_listen
    from wlk_cli.audio.devices import quiet_native_stderr

    if not debug:
        quiet_native_stderr()
    try:
        settings = _settings(preset, locals())
        out = OutputOptions(
            mode="jsonl" if no_tui else "auto",
            write_files=not no_files,
            output_dir=output_dir,
            output_name=output_name,
            jsonl_path=jsonl,
        )
        stats = run_listen(settings, out, device=device, system=system)
    except WlkError as e:
        _fail(e, debug, preset, model)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _finish(stats)


@app.command("devices", cls=GroupedCommand, epilog="wlk devices\nwlk listen --device 7")
def devices_cmd() -> None:
    """List audio input devices; * marks the default, [system] the sources that carry system audio."""
    from wlk_cli.audio.devices import list_inputs, quiet_native_stderr

    quiet_native_stderr()
    try:
        devices = list_inputs()
    except WlkError as e:
        _fail(e, False)
    if not devices:
        from wlk_cli.errors import DeviceError

        _fail(DeviceError("no audio input devices (no sound card or sound server running)"), False)
    print(f"{'':2}{'number':>6}  {'name':<40} {'host API':<12} {'ch':>3} {'rate':>7}")
    for d in devices:
        mark = "*" if d.is_default else " "
        tag = "  [system]" if d.is_monitor else ""
        name, api = d.label[:40], d.hostapi[:12]
        print(f"{mark:2}{d.id:>6}  {name:<40} {api:<12} {d.channels:>3} {d.default_rate:>7.0f}{tag}")


@app.command("presets", cls=GroupedCommand, epilog="wlk presets\nwlk file talk.wav --preset ultra-fast")
def presets_cmd() -> None:
    """List the presets, one line each."""
    from wlk_cli.config import load_preset, preset_names

    try:
        for name in preset_names():
            _, desc = load_preset(name)
            print(f"{name:<14} {desc}")
    except WlkError as e:
        _fail(e, False)


@app.command("models", cls=GroupedCommand, epilog="wlk models\nwlk models pull small")
def models_cmd(
    action: Annotated[
        Optional[str], typer.Argument(help="pull NAME: fetch a Whisper model.", show_default=False)
    ] = None,
    name: Annotated[Optional[str], typer.Argument(help="The model to pull.", show_default=False)] = None,
) -> None:
    """The models wlk can use: where each comes from, its size and licence, whether it is here."""
    from wlk_cli.catalog import entries, pull
    from wlk_cli.errors import UsageError

    try:
        if action is None:
            print(f"  {'name':<18} {'kind':<12} {'here':<4} {'MB':>6}  {'licence':<10} source")
            for e in entries():
                size = f"{e.size_mb:6.0f}" if e.size_mb is not None else f"{'-':>6}"
                here = "yes" if e.path else "no"
                print(f"  {e.name:<18} {e.kind:<12} {here:<4} {size}  {e.licence:<10} {e.source}")
            return
        if action != "pull" or not name:
            raise UsageError("models: give nothing (list them) or `pull NAME`")
        print(f"{name}: {pull(name)}")
    except WlkError as e:
        _fail(e, False)


def run() -> None:
    """Console-script entry point. A mistake on the command line is one line too, like every error."""
    from typer import _click as click  # the click typer raises from

    try:
        code = app(prog_name="wlk", standalone_mode=False)  # returns the exit code of typer.Exit
    except click.exceptions.NoArgsIsHelpError as e:  # `wlk` alone: its help
        print(e.format_message())
        return
    except click.exceptions.UsageError as e:
        command = e.ctx.command_path if e.ctx is not None else "wlk"
        print(f"wlk: error: {e.format_message()} (see {command} --help)", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
