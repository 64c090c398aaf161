"""Every option of a run, declared once: type, default, range or choices, help, group and scope.

CLI flags (``cli.py``), preset keys, validation messages, the help's defaults and the JSON-lines
session line all come from the declarations below. A group holds the options of one component
(input, ASR, each policy, VAD, diarization, output); the scope tells the options a client of a
server may set per stream (``stream``) from those fixed when the models are loaded (``engine``).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from wlk_cli.errors import UsageError

PRESETS_DIR = Path(str(importlib.resources.files("wlk_cli") / "presets"))  # inside the package: a wheel has them
FORMATS = ("srt", "vtt", "json", "txt", "rttm")
POLICY_CHUNK_S = {"local-agreement": 0.6, "simulstreaming": 0.1}  # each policy's own step (and the policies)
SIMUL_CHUNK_S_LARGER = 0.2  # simulstreaming with models larger than tiny
SIMUL_BEAMS_TINY = 2  # simulstreaming with tiny models

GROUPS = {  # group -> the help section its flags are listed in
    "input": "Input",
    "asr": "Model",
    "policy": "Policy",
    "local-agreement": "Policy: local-agreement",
    "simulstreaming": "Policy: simulstreaming",
    "vad": "VAD",
    "diarization": "Speakers",
    "output": "Output",
}
STREAM, ENGINE = "stream", "engine"


@dataclass(frozen=True)
class Opt:
    """How one setting is declared (kept in its dataclass field's metadata)."""

    help: str
    group: str
    scope: str = STREAM
    """engine: fixed when the models are loaded; stream: may differ per stream (a server's client sets it)."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    zero_is_auto: bool = False
    """0 means "the default for this model/policy" and is allowed outside the range."""
    choices: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    """Flag names when not just --the-name (booleans: --name/--no-name)."""
    param: str = ""
    """The command parameter's name when not the setting's (``device`` is ``compute_device``)."""
    offline: bool = False
    """Also an option of `wlk transcribe` (whole files, not streamed)."""
    default_text: str = ""
    """What the help says the default is, when it depends on other settings."""


def setting(default: Any, help: str, group: str, **kw: Any) -> Any:
    """A Settings field: its default and its :class:`Opt`."""
    meta = {"opt": Opt(help, group, **kw)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _asr(default: Any, help: str, **kw: Any) -> Any:
    return setting(default, help, "asr", offline=True, **kw)


def _la(default: Any, help: str, **kw: Any) -> Any:
    return setting(default, help, "local-agreement", **kw)


def _ss(default: Any, help: str, **kw: Any) -> Any:
    return setting(default, help, "simulstreaming", **kw)


def _vad(default: Any, help: str, **kw: Any) -> Any:
    return setting(default, help, "vad", **kw)


def _dia(default: Any, help: str, **kw: Any) -> Any:
    return setting(default, help, "diarization", **{"offline": True, **kw})


@dataclass
class Settings:
    """Everything that shapes a run. Field names are the preset keys, the flags and the session line's keys."""

    # input
    speed: float = setting(
        1.0, "Feed at this multiple of real time; 0 = as fast as possible.", "input", lo=0.0, hi=100.0
    )
    chunk_ms: int = setting(
        100, "Size of each audio chunk in ms, as a microphone delivers it.", "input", lo=10, hi=5000
    )
    max_lag: float = setting(
        10.0,
        "Live input: when the audio not yet transcribed came this many seconds ago, it is dropped (and "
        "counted) so the transcript catches up; 0 = never.",
        "input",
        lo=0.0,
        hi=600.0,
    )
    # ASR
    model: str = _asr(
        "base", "Model name (tiny.en, base, small, large-v3, ...) or a CTranslate2 model directory.", scope=ENGINE
    )
    language: str = _asr("auto", "Language code or name (en, de, German, ...), or auto to detect it.")
    task: str = _asr("transcribe", "transcribe, or translate to English.", choices=("transcribe", "translate"))
    device: str = _asr(
        "auto", "Compute device: auto, cpu or cuda.", scope=ENGINE, choices=("auto", "cpu", "cuda"),
        flags=("--device", "--compute-device"), param="compute_device",
    )  # fmt: skip
    compute_type: str = _asr(
        "auto", "CTranslate2 compute type (auto: int8 on a CPU, float16 on CUDA).", scope=ENGINE,
        choices=("auto", "default", "int8", "int8_float32", "int8_float16", "int16", "float16", "bfloat16", "float32"),
    )  # fmt: skip
    beam_size: int = _asr(
        0, "Beam size of each decoding pass (1 = greedy, the fastest).", lo=1, hi=20, zero_is_auto=True,
        flags=("--beam-size", "--beams"),
        default_text="streaming 1 (simulstreaming with tiny models 2); transcribe 5",
    )  # fmt: skip
    threads: int = _asr(0, "CPU threads for the model (0 = what is fastest for its size).", scope=ENGINE, lo=0, hi=256)
    # policy
    policy: str = setting(
        "local-agreement", "Streaming policy: local-agreement or simulstreaming (AlignAtt).", "policy",
        choices=tuple(POLICY_CHUNK_S),
    )  # fmt: skip
    final: str = setting(
        "on", "Decode each utterance once more when it closes (beam 5, offline accuracy) and replace its words: "
        "on, or off for machines that cannot afford it.", "policy", choices=("on", "off"),
    )  # fmt: skip
    min_chunk_size: float = setting(
        0.0, "Seconds of new audio between two policy iterations.", "policy", lo=0.05, hi=30.0, zero_is_auto=True,
        default_text="0.6 local-agreement; simulstreaming 0.1 with tiny models, 0.2 larger",
    )  # fmt: skip
    # local-agreement
    buffer_trimming: str = _la("segment", "Trim the audio buffer at a completed segment or sentence.",
                               choices=("segment", "sentence"))  # fmt: skip
    buffer_trimming_sec: float = _la(15.0, "Trim the buffer once it is longer than this many seconds.", lo=2.0, hi=30.0)
    confidence_validation: bool = _la(False, "Commit a word at once when its probability is above the threshold.")
    confidence_threshold: float = _la(0.95, "Probability above which --confidence-validation commits a word.",
                                      lo=0.0, hi=1.0)  # fmt: skip
    # simulstreaming
    frame_threshold: int = _ss(25, "Hold a token back when it attends within this many 20 ms frames of the end.",
                               lo=1, hi=1500)  # fmt: skip
    audio_max_len: float = _ss(30.0, "Seconds of audio the buffer holds; older words move into the context.",
                               lo=1.0, hi=30.0)  # fmt: skip
    audio_min_len: float = _ss(0.0, "Seconds of audio before the first decoding pass.", lo=0.0, hi=30.0)
    init_prompt: str = _ss("", "Text that starts the context (trimmed like the rest of it).")
    static_init_prompt: str = _ss("", "Text that always prompts the decoder, never trimmed.")
    max_context_tokens: int = _ss(100, "At most this many tokens of earlier text prompt the decoder.", lo=0, hi=223)
    never_fire: bool = _ss(False, "Decode each pass's last word again with more audio before keeping it.",
                           flags=("--never-fire/--fire",))  # fmt: skip
    # VAD
    vad: bool = _vad(True, "Silero VAD: skip silence, end utterances on pauses.", offline=True)
    vac_chunk_size: float = _vad(0.04, "Seconds of audio per VAD step.", lo=0.032, hi=2.0)
    vad_threshold: float = _vad(0.5, "Speech probability above which a VAD window is speech.", lo=0.0, hi=1.0,
                                lo_open=True)  # fmt: skip
    min_silence_ms: int = _vad(500, "A pause this long (ms) ends an utterance.", lo=50, hi=10000)
    # diarization
    diarization: bool = _dia(False, "Label every confirmed word with a speaker (diart).")
    diarization_latency: float = _dia(5.0, "Seconds before a speaker is decided, 0.5 to 5 (longer: more accurate).",
                                      lo=0.5, hi=5.0, offline=False)  # fmt: skip
    tau_active: float = _dia(0.6, "Segmentation probability above which a local speaker is active.", lo=0.0, hi=1.0)
    rho_update: float = _dia(0.2, "Share of a chunk a speaker must speak to update its centroid.", lo=0.0, hi=1.0)
    delta_new: float = _dia(0.7, "Embedding distance above which a new speaker is created.", lo=0.0, hi=2.0)
    max_speakers: int = _dia(20, "Never create more speakers than this.", lo=1, hi=100)
    num_speakers: int = _dia(0, "The number of speakers when known (0 = unknown).", lo=0, hi=100)
    refine: bool = _dia(True, "Re-cluster the speakers with the whole session at the end (live: every 2 minutes too).")
    segmentation_model: str = _dia(
        "", "Segmentation checkpoint path or hub name.", scope=ENGINE, default_text="segmentation-3.0, bundled"
    )
    embedding_model: str = _dia(
        "", "Speaker-embedding checkpoint path or hub name.", scope=ENGINE, default_text="CAM++, bundled"
    )
    speaker_names: list[str] = _dia([], "Names for S1, S2, ... in order of first appearance, comma-separated.")
    speakers: list[str] = _dia(
        [], "Known voices to name when they speak (profiles of `wlk speakers add`), comma-separated, or all."
    )
    # output
    formats: list[str] = setting(
        ["srt", "json"], "Files to write: any of srt, vtt, json, txt, rttm (rttm with --diarization).", "output",
        offline=True, choices=FORMATS,
    )  # fmt: skip

    def validate(self) -> Settings:
        """Check every value against its declaration (and the few rules between settings)."""
        for f in fields(self):
            check(f.name, getattr(self, f.name))
        if not self.model.strip():
            raise UsageError("model: must not be empty")
        if not self.language.strip():
            raise UsageError("language: must not be empty")
        from wlk_cli.asr.languages import to_code

        self.language = to_code(self.language)  # "German" and "de" are one setting
        if self.audio_max_len <= self.chunk_s:
            raise UsageError(
                f"audio_max_len: {self.audio_max_len} s must be longer than min_chunk_size ({self.chunk_s} s)"
            )
        if self.audio_min_len > self.audio_max_len:
            raise UsageError(f"audio_min_len: {self.audio_min_len} is longer than audio_max_len ({self.audio_max_len})")
        if not self.formats:
            raise UsageError("formats: give at least one of " + ", ".join(FORMATS))
        if not self.diarization:  # speaker options without speakers would be silently ignored
            if self.speaker_names:
                raise UsageError("speaker_names: speakers are named only with --diarization")
            if self.speakers:
                raise UsageError("speakers: known voices are named only with --diarization")
            if "rttm" in self.formats:
                raise UsageError("formats: rttm lists speakers, which needs --diarization (or leave rttm out)")
        return self

    @property
    def chunk_s(self) -> float:
        """min_chunk_size, or the policy's default: 0.6 s for local-agreement (each iteration re-decodes the
        whole buffer); for simulstreaming (a word is let out at the first iteration after its audio) 0.1 s
        with tiny models, 0.2 s with larger ones, whose passes take about that long on a CPU anyway and
        which made more early guesses with 0.1 s steps (base on long.wav: WER 10.2% against 5.5%)."""
        if self.min_chunk_size:
            return self.min_chunk_size
        if self.policy == "simulstreaming" and not self._tiny:
            return SIMUL_CHUNK_S_LARGER
        return POLICY_CHUNK_S[self.policy]

    @property
    def beams(self) -> int:
        """beam_size, or the default: greedy, but 2 beams for simulstreaming with tiny models. Its passes
        decode a few tokens each with the beams batched, so a second beam costs little, and it helps
        tiny (tiny.en on long.wav: WER 7.09% -> 5.51% at the same latency and CPU; the corpus pooled
        17.5% -> 16.3%) but not base (long.wav 5.51% both; the corpus 23.8% -> 25.6%, a loop of one
        token in German). local-agreement decodes the whole buffer at every step: beams multiply that."""
        if self.beam_size:
            return self.beam_size
        return SIMUL_BEAMS_TINY if self.policy == "simulstreaming" and self._tiny else 1

    @property
    def _tiny(self) -> bool:
        from wlk_cli.asr.models import is_tiny

        return is_tiny(self.model)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "min_chunk_size": self.chunk_s, "beam_size": self.beams}


def default_of(name: str) -> Any:
    """The declared default of a setting (what a component's own options default to)."""
    f = _FIELDS[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def check(name: str, value: Any) -> None:
    """Raise a UsageError naming ``name`` when ``value`` is outside its declared choices or range."""
    o = OPTS[name]
    for v in value if isinstance(value, list) else [value]:
        if o.choices and v not in o.choices:
            raise UsageError(f"{name}: {v!r} is not one of {', '.join(o.choices)}")
    if o.lo is None or o.hi is None or (o.zero_is_auto and value == 0):
        return
    if value != value or value > o.hi or value < o.lo or (o.lo_open and value == o.lo):
        low = f"> {o.lo}" if o.lo_open else f">= {o.lo}"
        auto = " (or 0 for the default)" if o.zero_is_auto else ""
        raise UsageError(f"{name}: {value} is out of range (must be {low} and <= {o.hi}{auto})")


OptionsT = TypeVar("OptionsT")


def options_for(cls: Callable[..., OptionsT], settings: Settings, **resolved: Any) -> OptionsT:
    """A component's options from the settings of the same names; ``resolved`` gives the rest (a value
    worked out from several settings, such as the step of the policy)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {n: getattr(settings, n) for n in names & OPTS.keys()}
    values.update(resolved)
    return cls(**values)


_FIELDS = {f.name: f for f in fields(Settings)}
OPTS: dict[str, Opt] = {f.name: f.metadata["opt"] for f in fields(Settings)}
ENGINE_FIELDS = tuple(n for n, o in OPTS.items() if o.scope == ENGINE)
_HINTS = typing.get_type_hints(Settings)
FIELD_TYPES: dict[str, type] = {n: typing.get_origin(_HINTS[n]) or _HINTS[n] for n in OPTS}
assert all(o.group in GROUPS for o in OPTS.values())


def coerce(key: str, value: Any, where: str) -> Any:
    want = FIELD_TYPES[key]
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: {key} must be a list of strings")
        return value
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise UsageError(f"{where}: {key} must be {want.__name__}, got {type(value).__name__} {value!r}")
    return value


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def resolve_preset_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or "/" in name_or_path:
        if not p.is_file():
            raise UsageError(f"preset file not found: {name_or_path}")
        return p
    cand = PRESETS_DIR / f"{name_or_path}.toml"
    if not cand.is_file():
        raise UsageError(f"unknown preset {name_or_path!r}; available: {', '.join(preset_names())}")
    return cand


def load_preset(name_or_path: str) -> tuple[dict[str, Any], str]:
    """Return (values, description) of a preset, every key checked."""
    import tomllib  # here: `wlk --help` reads no preset

    path = resolve_preset_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"preset {path.name}: not valid TOML ({e})") from None
    description = data.pop("description", "")
    if not isinstance(description, str):
        raise UsageError(f"preset {path.name}: description must be a string")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in OPTS:
            raise UsageError(f"preset {path.name}: unknown key {key!r}")
        values[key] = coerce(key, value, f"preset {path.name}")
    return values, description


def build_settings(preset: str | None, overrides: dict[str, Any]) -> Settings:
    """Defaults, then the preset, then every flag that was given (not None)."""
    values: dict[str, Any] = {}
    if preset:
        values.update(load_preset(preset)[0])
    for key, value in overrides.items():
        if key not in OPTS:
            raise UsageError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = coerce(key, value, "option")
    return Settings(**values).validate()
