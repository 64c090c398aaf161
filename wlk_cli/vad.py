"""Silero VAD as a voice activity controller: finds where speech starts and where a pause ends it.

The ONNX model from the ``silero-vad`` wheel runs on onnxruntime directly (no torch, no JIT), one
512-sample window (32 ms) at a time, with the 64-sample context the v5/v6 models expect.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.errors import ModelError

WINDOW = 512
_CONTEXT = 64


def find_silero_model() -> Path | None:
    """The Silero ONNX file, found without importing silero_vad (its import pulls in torch)."""
    for package, rel in (("silero_vad", "data/silero_vad.onnx"), ("faster_whisper", "assets/silero_vad_v6.onnx")):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            p = Path(spec.origin).parent / rel
            if p.is_file():
                return p
    return None


def silero_model_path() -> Path:
    p = find_silero_model()
    if p is None:
        raise ModelError("Silero VAD model not found: pip install silero-vad==6.2.3 (or run with --no-vad)")
    return p


class SileroModel:
    """The Silero ONNX session, loaded once and shared: ``run`` keeps no state between calls (the RNN
    state goes in and comes out), and onnxruntime sessions may be run from several threads at once."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self._session: Any = onnxruntime.InferenceSession(
            str(path or silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def run(self, x: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """Speech probability of ``x`` (context + one window) and the next RNN state."""
        out, state = self._session.run(None, {"input": x, "state": state, "sr": self._sr})
        return float(out.reshape(-1)[0]), state


class SileroVAD:
    """One stream's speech probabilities, one per 32 ms window: the RNN state and the context of the
    stream, on a shared :class:`SileroModel`."""

    def __init__(self, model: SileroModel) -> None:
        self.model = model
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    def __call__(self, window: np.ndarray) -> float:
        """Speech probability of exactly one 512-sample window."""
        x = np.concatenate([self._context, window.reshape(1, WINDOW).astype(np.float32, copy=False)], axis=1)
        p, self._state = self.model.run(x, self._state)
        self._context = x[:, -_CONTEXT:]
        return p


SPEECH_PROB = 0.5  # Silero's probability from which a window is speech


def speech_windows(model: SileroModel, audio: np.ndarray, threshold: float = SPEECH_PROB) -> np.ndarray:
    """Silero's decision for each whole 32 ms window of ``audio``, from a fresh state: True = speech."""
    vad = SileroVAD(model)
    n = audio.size // WINDOW
    return np.array([vad(audio[k * WINDOW : (k + 1) * WINDOW]) >= threshold for k in range(n)], dtype=bool)


@dataclass(frozen=True)
class VadEvent:
    """``kind`` is "start" or "end"; ``pos`` an absolute sample position."""

    kind: str
    pos: int


class VoiceActivityController:
    """Turns speech probabilities into utterance start/end events with hysteresis and padding.

    ``process`` takes contiguous audio in any block size; windows of 512 samples are scored in steps of
    ``step_samples`` (the --vac-chunk-size). An utterance ends after ``min_silence_ms`` of non-speech.
    """

    def __init__(
        self,
        model: Any,
        threshold: float = 0.5,
        min_silence_ms: int = 500,
        speech_pad_ms: int = 100,
        step_samples: int = 640,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self.min_silence = SAMPLE_RATE * min_silence_ms // 1000
        self.pad = SAMPLE_RATE * speech_pad_ms // 1000
        # steps are whole windows: 0.04 s (640 samples) scores one 512-sample window per step
        self.step = max(1, round(step_samples / WINDOW)) * WINDOW
        self.triggered = False
        self._temp_end = 0
        self._pos = 0  # absolute position of the next unscored sample
        self._pending = np.zeros(0, dtype=np.float32)
        self._last_end = 0

    @property
    def position(self) -> int:
        """Absolute position up to which audio has been scored."""
        return self._pos

    def process(self, audio: np.ndarray) -> list[VadEvent]:
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        events: list[VadEvent] = []
        while self._pending.size >= self.step:
            block, self._pending = self._pending[: self.step], self._pending[self.step :]
            for k in range(0, self.step, WINDOW):
                self._window(block[k : k + WINDOW], events)
        return events

    def _window(self, window: np.ndarray, events: list[VadEvent]) -> None:
        p = self.model(window)
        start = self._pos
        self._pos += WINDOW
        if p >= self.threshold:
            self._temp_end = 0
            if not self.triggered:
                self.triggered = True
                s = max(self._last_end, start - self.pad, 0)
                events.append(VadEvent("start", s))
        elif p < self.neg_threshold and self.triggered:
            if not self._temp_end:
                self._temp_end = start
            if self._pos - self._temp_end >= self.min_silence:
                end = min(self._temp_end + self.pad, self._pos)
                self.triggered = False
                self._temp_end = 0
                self._last_end = end
                events.append(VadEvent("end", end))

    def skip_to(self, pos: int) -> None:
        """Audio before ``pos`` will not come (it was shed): score on from ``pos``, out of any utterance."""
        self._pending = np.zeros(0, dtype=np.float32)
        self._pos = self._last_end = max(self._pos, pos)
        self.triggered = False
        self._temp_end = 0

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open utterance at the last scored position."""
        events: list[VadEvent] = []
        if self.triggered:
            end = self._pos + self._pending.size
            self.triggered = False
            self._last_end = end
            events.append(VadEvent("end", end))
        return events
