"""The engine: every model a process loads, once, shared by all its streams.

An :class:`Engine` holds the faster-whisper model (CTranslate2, with ``num_workers`` so several
streams can run it at once), its tokenizer cache, the PyTorch decoder simulstreaming uses, the Silero
ONNX session and the diarization models. It holds no stream's state: a stream's buffer, policy,
language decision, VAD state and speaker clustering live in its :class:`~wlk_cli.session.Session` (built
by :meth:`Engine.stream`), so opening one more stream on a warm engine loads nothing.

The engine settings (``config.ENGINE_FIELDS``: model, device, compute type, threads, diarization
models) are fixed when it is made; a stream may set everything else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from wlk_cli.asr.offline import OfflineDecoder
from wlk_cli.config import ENGINE_FIELDS, Settings, options_for
from wlk_cli.errors import UsageError
from wlk_cli.final_pass import UtteranceDecoder


@dataclass
class StreamParts:
    """What one stream runs on (built by :meth:`Engine.stream`; cheap)."""

    asr: Any
    policy: Any
    vad: Any
    diarizer: Any
    """A StreamingDiarizer, or None without diarization."""
    final: UtteranceDecoder | None = None
    """How the final pass decodes a closed utterance (None: ``--final off``)."""


class Engine:
    """The models of one process. Thread-safe: each model is loaded once (under a lock, on first use)."""

    def __init__(self, settings: Settings, streams: int = 1, threads: int | None = None) -> None:
        """Load the Whisper model for ``settings``' engine fields; ``streams``: how many streams may run it
        at once; ``threads``: CPU threads per stream (default: the settings', else what suits the model)."""
        from wlk_cli.asr.faster_whisper import FasterWhisperModel

        self.settings = settings
        self.whisper = FasterWhisperModel(
            settings.model,
            settings.device,
            settings.compute_type,
            settings.threads if threads is None else threads,
            workers=streams + 1,  # one more: the final passes never wait for a stream's live pass
        )
        self._lock = threading.Lock()
        self._decoder: Any = None
        self._vad: Any = None
        self._diarization: Any = None

    @property
    def device(self) -> str:
        return self.whisper.device

    @property
    def threads(self) -> int:
        return self.whisper.threads

    # -- the models, each loaded on first use ----------------------------------------------------
    def decoder(self) -> Any:
        """The PyTorch Whisper (AlignAtt needs the cross-attention CTranslate2 does not expose)."""
        with self._lock:
            if self._decoder is None:
                from wlk_cli.asr.torch_whisper import load

                self._decoder = load(self.whisper.model_dir, "cuda" if self.device == "cuda" else "cpu")
            return self._decoder

    def vad_model(self) -> Any:
        with self._lock:
            if self._vad is None:
                from wlk_cli.vad import SileroModel

                self._vad = SileroModel()
            return self._vad

    def diarization_models(self) -> Any:
        with self._lock:
            if self._diarization is None:
                from wlk_cli.diarization.diarizer import DiarizationModels

                self._diarization = DiarizationModels(self.settings.segmentation_model, self.settings.embedding_model)
            return self._diarization

    def offline_decoder(self, task: str = "transcribe", beams: int = 0, batch_size: int = 1) -> OfflineDecoder:
        """Offline decoding on this engine's models (cheap: an OfflineDecoder holds no state): whole
        files as faster-whisper decodes them, an utterance and the coverage check's clips in a short
        window; ``beams``: 0 = beam 5."""
        from wlk_cli.asr.offline import OFFLINE_BEAMS, model_scorer, short_window

        beams = beams or OFFLINE_BEAMS
        clip = short_window(self.whisper, task, beams)
        scorer = model_scorer(self.whisper, task)
        return OfflineDecoder(self.whisper.whisper, self.vad_model(), task, beams, batch_size, clip, scorer=scorer)

    def prepare(self, settings: Settings) -> None:
        """Load now what streams with ``settings`` will need (so that the first one starts at once)."""
        self.check(settings)
        if settings.policy == "simulstreaming":
            self.decoder()
        if settings.vad or settings.final == "on":  # the final pass's coverage check hears with Silero
            self.vad_model()
        if settings.diarization:
            self.diarization_models()

    # -- streams ---------------------------------------------------------------------------------
    def check(self, settings: Settings) -> None:
        """Refuse a stream whose engine settings differ from this engine's (they need other models)."""
        differ = [n for n in ENGINE_FIELDS if getattr(settings, n) != getattr(self.settings, n)]
        if differ:

            def shown(s: Settings) -> str:
                return ", ".join(f"{n}={getattr(s, n)!r}" for n in differ)

            raise UsageError(
                f"engine settings cannot change per stream: {shown(settings)} (this engine: {shown(self.settings)})"
            )

    def stream(self, settings: Settings) -> StreamParts:
        """The per-stream objects for ``settings``: the ASR backend (its language state), the policy,
        the VAD (its RNN state) and the diarizer (its clustering state), all on this engine's models."""
        from wlk_cli.asr.faster_whisper import FasterWhisperBackend

        self.check(settings)
        asr = FasterWhisperBackend(self.whisper, settings.language, settings.task, settings.beams)
        final = self.offline_decoder(settings.task) if settings.final == "on" else None
        return StreamParts(
            asr, self.policy_for(settings, asr), self.vad_for(settings), self.diarizer_for(settings), final
        )

    def policy_for(self, settings: Settings, asr: Any) -> Any:
        if settings.policy == "simulstreaming":
            from wlk_cli.policies.simulstreaming import SimulStreamingOptions, SimulStreamingPolicy

            opts = options_for(SimulStreamingOptions, settings, min_chunk_size=settings.chunk_s, beams=settings.beams)
            return SimulStreamingPolicy(asr, self.decoder(), opts)
        from wlk_cli.policies.local_agreement import LocalAgreementOptions, LocalAgreementPolicy

        return LocalAgreementPolicy(asr, options_for(LocalAgreementOptions, settings, min_chunk_size=settings.chunk_s))

    def vad_for(self, settings: Settings) -> Any:
        if not settings.vad:
            return None
        from wlk_cli.audio import SAMPLE_RATE
        from wlk_cli.vad import SileroVAD, VoiceActivityController

        return VoiceActivityController(
            SileroVAD(self.vad_model()),
            threshold=settings.vad_threshold,
            min_silence_ms=settings.min_silence_ms,
            step_samples=int(settings.vac_chunk_size * SAMPLE_RATE),
        )

    def diarizer_for(self, settings: Settings) -> Any:
        if not settings.diarization:
            return None
        from wlk_cli.diarization.diarizer import DiarizationOptions, StreamingDiarizer

        speech = self.vad_model() if settings.speakers else None  # known voices split where Silero hears a pause
        return StreamingDiarizer(self.diarization_models(), options_for(DiarizationOptions, settings), speech)
