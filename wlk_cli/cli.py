"""Typer commands only: parse flags, call the app, turn WlkError into one line and an exit code."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from wlk_cli import __version__
from wlk_cli.config import FIELD_TYPES, GROUPS, OPTS, Opt
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

OUT, IN = GROUPS["output"], GROUPS["input"]


def _opt(help: str, panel: str | None = None, *names: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel)


def _flags(name: str, o: Opt) -> tuple[str, ...]:
    if o.flags:
        return o.flags
    flag = "--" + name.replace("_", "-")
    return (f"{flag}/--no-{flag[2:]}",) if FIELD_TYPES[name] is bool else (flag,)


def _setting_params(names: list[str], taken: set[str]) -> list[inspect.Parameter]:
    """One keyword parameter per setting, its flag and help from the setting's declaration (config.py);
    flags in ``taken`` belong to the command itself (listen's --device is the input device)."""
    params = []
    for name in names:
        o = OPTS[name]
        flags = tuple(f for f in _flags(name, o) if f.split("/")[0] not in taken)
        kind = FIELD_TYPES[name]
        text = o.help + (f" [default: {o.default_text}]" if o.default_text else "")
        annotation = Annotated[  # type: ignore[valid-type]
            Optional[str if kind is list else kind], typer.Option(*flags, help=text, rich_help_panel=GROUPS[o.group])
        ]
        params.append(
            inspect.Parameter(o.param or name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        )
    return params


def with_settings(*, offline: bool = False, skip: tuple[str, ...] = ()) -> Callable[[Callable[..., None]], Any]:
    """Give a command a flag for every setting it uses (all streaming ones, or the offline ones); the
    command gets those given as ``overrides`` (setting name -> value), the rest of its parameters as usual."""

    def wrap(command: Callable[..., None]) -> Any:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "overrides"]
        taken = {f for p in own for f in _param_flags(p)}
        names = [n for n, o in OPTS.items() if n not in skip and (o.offline or not offline)]
        generated = _setting_params(names, taken)
        by_param = {p.name: n for p, n in zip(generated, names)}

        @functools.wraps(command)
        def run_command(**kwargs: Any) -> None:
            overrides = {by_param[k]: kwargs.pop(k) for k in list(kwargs) if k in by_param}
            command(**kwargs, overrides=overrides)

        params = [*own, *generated]
        run_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run_command.__annotations__ = {p.name: p.annotation for p in params}
        return run_command

    return wrap


def _param_flags(p: inspect.Parameter) -> list[str]:
    """The flags of a command's own parameter: those it names, else typer's --the-name."""
    meta = getattr(p.annotation, "__metadata__", ())
    named = [d.split("/")[0] for m in meta for d in (getattr(m, "param_decls", None) or ())]
    return named or ["--" + p.name.replace("_", "-")]


Preset = Annotated[Optional[str], _opt("Preset name (see `wlk presets`) or a TOML file.")]
OutputDir = Annotated[
    Optional[Path], _opt("Directory for the files (made if missing). [default: beside the input]", OUT)
]
OutputName = Annotated[Optional[str], _opt("File name stem. [default: the input's]", OUT)]
NoFiles = Annotated[bool, _opt("Write no files.", OUT, "--no-files")]
JsonlPath = Annotated[
    Optional[Path], _opt("Also write the JSON-lines stream to this file. [default: none]", OUT, "--jsonl")
]
StdoutFormat = Annotated[
    str, _opt("stdout: auto (text on a terminal, else JSON lines), jsonl or text.", OUT, "--format")
]
Debug = Annotated[bool, _opt("Show tracebacks.", None, "--debug")]
ServerUrl = Annotated[
    Optional[str],
    _opt("Transcribe on a `wlk serve` at this URL (ws://host:8000); audio, TUI and files stay here.", IN, "--server"),
]
ServerToken = Annotated[
    Optional[str], _opt("The server's API token. [default: $WLK_API_TOKEN, else none]", IN, "--api-token")
]


def _remote(url: str | None, token: str | None, overrides: dict[str, Any]) -> Any:
    """Where to transcribe: None for this machine, else the server (engine flags given must match it)."""
    if url is None:
        if token is not None:
            from wlk_cli.errors import UsageError

            raise UsageError("api-token: only with --server")
        return None
    import os

    from wlk_cli.config import ENGINE_FIELDS
    from wlk_cli.server.client import RemoteOptions

    engine = {k: v for k, v in overrides.items() if k in ENGINE_FIELDS and v is not None}
    remote = RemoteOptions(url, token or os.environ.get("WLK_API_TOKEN") or None, engine)
    remote.stream_url()  # a bad URL is refused before anything starts
    return remote


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


def _settings(preset: str | None, overrides: dict[str, Any], server: str | None = None) -> Any:
    """The run's settings; and the process-wide set-up every command that reads audio needs, done here once.
    With ``server``, known voices are the server's profiles (it checks them), not this machine's."""
    from wlk_cli.audio.decode import quiet_ffmpeg
    from wlk_cli.config import build_settings

    quiet_ffmpeg()
    settings = build_settings(preset, overrides)
    if settings.speakers and server is None:  # an unknown or damaged profile is refused before any model loads
        from wlk_cli.diarization.voices import chosen

        chosen(settings.speakers)
    return settings


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
@with_settings(skip=("max_lag",))  # a file's clock waits for the transcription
def file_cmd(
    path: Annotated[str, typer.Argument(help="Audio or video file, or - for stdin.", show_default=False)],
    preset: Preset = None,
    raw_format: Annotated[Optional[str], _opt("Read headerless PCM (s16le, f32le, ...).", IN)] = None,
    raw_rate: Annotated[int, _opt("Sample rate of raw PCM.", IN)] = 16000,
    raw_channels: Annotated[int, _opt("Channels of raw PCM.", IN)] = 1,
    format: StdoutFormat = "auto",
    tui: Annotated[bool, _opt("Show the file in the TUI.", OUT, "--tui")] = False,
    output_dir: OutputDir = None,
    output_name: OutputName = None,
    no_files: NoFiles = False,
    jsonl: JsonlPath = None,
    server: ServerUrl = None,
    api_token: ServerToken = None,
    debug: Debug = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """Transcribe a file (or stdin) fed as if it were live."""
    from wlk_cli.app import OutputOptions, run_file
    from wlk_cli.errors import UsageError

    try:
        if format not in ("auto", "jsonl", "text"):
            raise UsageError(f"format: {format!r} is not one of auto, jsonl, text")
        settings = _settings(preset, overrides, server)
        raw = None
        if raw_format is not None:
            from wlk_cli.audio.decode import RawSpec

            raw = RawSpec(raw_format, raw_rate, raw_channels)
        mode = "tui" if tui else format
        out = OutputOptions(
            mode=mode, write_files=not no_files, output_dir=output_dir, output_name=output_name, jsonl_path=jsonl
        )
        stats = run_file(path, settings, out, raw=raw, remote=_remote(server, api_token, overrides))
    except WlkError as e:
        _fail(e, debug, preset, overrides.get("model"))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _finish(stats)


BatchSize = Annotated[
    int, _opt("Segments decoded together (0 = auto: 8 on CUDA, 1 on a CPU).", GROUPS["asr"], "--batch-size")
]


TRANSCRIBE_EXAMPLES = """
wlk transcribe talk.mp3
wlk transcribe *.wav --model tiny.en --output-dir subs/ --formats srt,txt
wlk transcribe meeting.m4a --diarization --formats srt,rttm
"""


@app.command("transcribe", cls=GroupedCommand, epilog=TRANSCRIBE_EXAMPLES)
@with_settings(offline=True)
def transcribe_cmd(
    paths: Annotated[list[str], typer.Argument(help="Audio or video files.", show_default=False)],
    preset: Preset = None,
    batch_size: BatchSize = 0,
    output_dir: OutputDir = None,
    no_files: NoFiles = False,
    format: StdoutFormat = "auto",
    debug: Debug = False,
    *,
    overrides: dict[str, Any],
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
        settings = _settings(preset, overrides)
        out = OutputOptions(mode=format, write_files=not no_files, output_dir=output_dir)
        results = run_transcribe(paths, settings, out, TranscribeOptions(batch_size=batch_size))
    except WlkError as e:
        _fail(e, debug, preset, overrides.get("model"))
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
@with_settings(skip=("speed",))  # a live source has its own pace
def listen_cmd(
    device: Annotated[Optional[str], _opt("Input device: index or part of its name (see `wlk devices`).", IN)] = None,
    system: Annotated[bool, _opt("Capture system audio (the monitor of the default output).", IN, "--system")] = False,
    preset: Preset = None,
    no_tui: Annotated[bool, _opt("JSON lines on stdout instead of the TUI.", OUT, "--no-tui")] = False,
    output_dir: OutputDir = None,
    output_name: OutputName = None,
    no_files: NoFiles = False,
    jsonl: JsonlPath = None,
    server: ServerUrl = None,
    api_token: ServerToken = None,
    debug: Debug = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """Transcribe a microphone or system audio live, in the TUI (or as JSON lines when piped)."""
    from wlk_cli.app import OutputOptions, run_listen
    from wlk_cli.audio.devices import quiet_native_stderr

    if not debug:
        quiet_native_stderr()
    try:
        settings = _settings(preset, overrides, server)
        out = OutputOptions(
            mode="jsonl" if no_tui else "auto",
            write_files=not no_files,
            output_dir=output_dir,
            output_name=output_name,
            jsonl_path=jsonl,
        )
        remote = _remote(server, api_token, overrides)
        stats = run_listen(settings, out, device=device, system=system, remote=remote)
    except WlkError as e:
        _fail(e, debug, preset, overrides.get("model"))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _finish(stats)


SERVE_EXAMPLES = """
wlk serve --model tiny.en
wlk serve --host 0.0.0.0 --port 8000 --api-token "$TOKEN" --max-sessions 4
wlk serve --pcm-input --diarization --ssl-certfile cert.pem --ssl-keyfile key.pem
"""
SRV = "Server"


@app.command("serve", cls=GroupedCommand, epilog=SERVE_EXAMPLES)
@with_settings(skip=("speed", "formats"))  # clients send at their own pace; the files are the clients' own
def serve_cmd(
    host: Annotated[str, _opt("Address to listen on (0.0.0.0: every interface).", SRV)] = "127.0.0.1",
    port: Annotated[int, _opt("TCP port (0: any free one).", SRV)] = 8000,
    preset: Preset = None,
    max_sessions: Annotated[
        int, _opt("Sessions at once; more are refused (0 = what this machine holds in real time).", SRV)
    ] = 0,
    pcm_input: Annotated[
        bool, _opt("/asr clients send s16le 16 kHz mono PCM (an AudioWorklet), not WebM/Opus.", SRV, "--pcm-input")
    ] = False,
    api_token: Annotated[
        Optional[str], _opt("Required token (Bearer header or ?token=). [default: $WLK_API_TOKEN, else none]", SRV)
    ] = None,
    allowed_origins: Annotated[
        Optional[str], _opt("Other web origins allowed to connect, comma-separated (* = any). [default: none]", SRV)
    ] = None,
    ssl_certfile: Annotated[Optional[Path], _opt("TLS certificate (https/wss), with --ssl-keyfile.", SRV)] = None,
    ssl_keyfile: Annotated[Optional[Path], _opt("TLS private key, with --ssl-certfile.", SRV)] = None,
    max_frame_bytes: Annotated[int, _opt("Largest WebSocket frame accepted.", SRV)] = 1 << 20,
    max_upload_mb: Annotated[int, _opt("Largest upload to /v1/audio/transcriptions, in MB.", SRV)] = 200,
    max_session_s: Annotated[float, _opt("Longest session, in seconds.", SRV)] = 4 * 3600.0,
    idle_timeout: Annotated[float, _opt("Close a stream that sends nothing for this many seconds.", SRV)] = 60.0,
    debug: Debug = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """Serve transcription over WebSockets and HTTP: a web page, WhisperLiveKit's /asr, /v1/stream, an
    OpenAI-compatible API; every session on one set of models."""
    from wlk_cli.server.serve import ServeOptions, run_serve

    try:
        settings = _settings(preset, overrides)
        origins = tuple(o.strip().rstrip("/") for o in (allowed_origins or "").split(",") if o.strip())
        opts = ServeOptions(
            host=host,
            port=port,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            max_sessions=max_sessions,
            pcm_input=pcm_input,
            api_token=api_token,
            allowed_origins=origins,
            max_frame_bytes=max_frame_bytes,
            max_upload_mb=max_upload_mb,
            max_session_s=max_session_s,
            idle_s=idle_timeout,
            debug=debug,
        )
        run_serve(settings, opts)
    except WlkError as e:
        _fail(e, debug, preset, overrides.get("model"))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


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


SPEAKERS_EXAMPLES = """
wlk speakers add Alice alice-1.wav alice-2.m4a
wlk speakers list
wlk file meeting.wav --diarization --speakers Alice,Bob
wlk listen --diarization --speakers all
wlk speakers rm Alice
"""


@app.command("speakers", cls=GroupedCommand, epilog=SPEAKERS_EXAMPLES)
def speakers_cmd(
    action: Annotated[
        Optional[str], typer.Argument(help="list (the default), add NAME CLIP..., or rm NAME.", show_default=False)
    ] = None,
    args: Annotated[Optional[list[str]], typer.Argument(help="The name, then the clips.", show_default=False)] = None,
    replace: Annotated[bool, _opt("add: replace a profile of the same name.", None, "--replace")] = False,
    debug: Debug = False,
) -> None:
    """Known voices: profiles made from clips of one person talking alone (at least 2 s of speech in
    all), named by --speakers when that voice speaks."""
    from wlk_cli.diarization import voices
    from wlk_cli.errors import UsageError

    args = args or []
    try:
        if action in (None, "list"):
            if args:
                raise UsageError("speakers list takes no arguments")
            found = voices.all_voices()
            if not found:
                print(f"no voice profiles in {voices.profiles_dir()} (add one: wlk speakers add NAME clip.wav)")
            for v in found:
                print(f"  {v.name:<24} {v.speech_s:6.1f} s  {v.created[:10]}  {', '.join(v.clips)}")
        elif action == "add":
            if len(args) < 2:
                raise UsageError("speakers add NAME CLIP...: give a name and at least one clip")
            name, clips = voices.check_name(args[0]), args[1:]
            if not replace and voices.exists(name):
                raise UsageError(f"a voice profile named {name!r} exists (wlk speakers rm {name}, or --replace)")
            from wlk_cli.audio.decode import quiet_ffmpeg
            from wlk_cli.diarization.diarizer import DiarizationModels
            from wlk_cli.vad import SileroModel

            quiet_ffmpeg()
            voice = voices.enrol(DiarizationModels(), name, clips, SileroModel())
            path = voices.save(voice, replace=replace)
            print(f"{voice.name}: {voice.speech_s:.1f} s of speech from {len(clips)} clip(s) -> {path}")
        elif action == "rm":
            if len(args) != 1:
                raise UsageError("speakers rm NAME: give one name")
            print(f"removed {voices.remove(args[0])}")
        else:
            raise UsageError(f"speakers: {action!r} is not list, add or rm")
    except WlkError as e:
        _fail(e, debug)


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
