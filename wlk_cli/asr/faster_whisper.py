"""faster-whisper (CTranslate2) backend.

Each call encodes only the audio it is given plus one second of silence, instead of Whisper's fixed
30 s window: on a CPU the encoder then costs in proportion to the buffer, not 30 s every call.
Word timings come from CTranslate2's cross-attention alignment (faster-whisper's ``find_alignment``), or,
for a model directory whose config.json names no alignment heads, from each segment's span shared out
by characters.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlk_cli.asr.base import FRAME_S, AsrResult, AsrSegment, AsrWord, token_budget
from wlk_cli.asr.models import config_alignment_heads, is_tiny, resolve_model
from wlk_cli.audio import SAMPLE_RATE
from wlk_cli.errors import ModelError, UsageError

_HOP = 160  # samples per mel frame
_FRAMES_PER_S = SAMPLE_RATE // _HOP
_MAX_FRAMES = 3000
_PAD_FRAMES = 300  # three seconds of trailing silence: Whisper ends cleanly, fewer hallucinated tails
_LANG_LOCK_PROB = 0.8  # a detection this sure fixes the language for the session
_LANG_LOCK_S = 10.0  # so does one made on a buffer this long
_DETECT_AT_S = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)  # buffer lengths at which an unsure detection is made again
FALLBACK = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Whisper's temperatures, tried in turn
_MAX_COMPRESSION = 2.4  # a pass whose text gzips better than this repeats itself
_MIN_LOGPROB = -1.0  # a pass less sure than this (mean log-probability per token) is tried again
_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class EncodedAudio:
    features: np.ndarray
    """Encoder output, (frames, d_model): one frame per 20 ms."""
    content_frames: int
    """Frames that hold the audio; the rest is the silence padded after it."""
    language: str


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of it compressed (Whisper's test for a decoder repeating itself)."""
    import zlib

    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:
        return "cpu"


REMEMBERED = 4  # encodings kept per thread (``FasterWhisperModel.encode``)


def _prompted(tok: Any, prompt: str, max_length: int) -> list[int]:
    """The tokens that give the decoder ``prompt`` as the text before (Whisper's ``<|startofprev|>``)."""
    if not prompt.strip():
        return []
    text: list[int] = tok.encode(" " + prompt.strip())
    return [tok.sot_prev] + text[-(max_length // 2 - 1) :]


class FasterWhisperModel:
    """faster-whisper's CTranslate2 model, loaded once per process and shared by every stream: it holds
    no stream's state. ``workers`` streams can run it at once (CTranslate2's ``num_workers``: each
    worker has its own copy of the computation state and the calls release the GIL); the tokenizer
    cache is locked."""

    def __init__(
        self, model: str, device: str = "auto", compute_type: str = "auto", threads: int = 0, workers: int = 1
    ) -> None:
        path = resolve_model(model)
        self.model_dir = path
        self.name = model
        self.device = _pick_device(device)
        self.compute_type = compute_type
        if self.compute_type == "auto":
            self.compute_type = "float16" if self.device == "cuda" else "int8"
        # Small decoders lose more to thread hand-offs than they gain: one thread is faster for tiny.
        self.threads = threads or (1 if is_tiny(model) else 2)
        self.workers = workers
        from faster_whisper import WhisperModel

        try:
            self.whisper = WhisperModel(
                str(path), device=self.device, compute_type=self.compute_type, cpu_threads=self.threads,
                num_workers=workers,
            )  # fmt: skip
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"cannot load model {model!r} on {self.device}: {str(e).splitlines()[0]}") from None
        self.ct2: Any = self.whisper.model
        self.has_alignment_heads = bool(config_alignment_heads(path))  # the heads that time words
        self.multilingual: bool = bool(self.ct2.is_multilingual)
        self._languages: set[str] = set(self.whisper.supported_languages)
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._recent = threading.local()

    def check_language(self, language: str, task: str) -> str | None:
        """The language a stream asked for, checked against the model: its code, or None for auto."""
        from wlk_cli.asr.languages import NAMES, name, to_code

        language = to_code(language)
        if not self.multilingual:
            if language not in ("auto", "en"):
                said = f"{name(language)} ({language})" if language in NAMES else repr(language)
                raise UsageError(
                    f"language: model {self.name!r} is English-only and cannot transcribe {said}; "
                    "use --language en, or a multilingual model such as base"
                )
            if task == "translate":
                raise UsageError(f"task: model {self.name!r} is English-only and cannot translate")
            return "en"
        if language == "auto":
            return None
        if language not in self._languages:
            raise UsageError(
                f"language: unknown language {language!r} (use auto, a code such as en, de, fr, ar, "
                "or a name such as English or German)"
            )
        return language

    def tokenizer(self, language: str, task: str) -> Any:
        """faster-whisper's tokenizer for this model, task and language (made once)."""
        with self._lock:
            tok = self._tokenizers.get((language, task))
            if tok is None:
                from faster_whisper.tokenizer import Tokenizer

                tok = Tokenizer(self.whisper.hf_tokenizer, self.multilingual, task=task, language=language)
                self._tokenizers[(language, task)] = tok
            return tok

    def features(self, audio: np.ndarray, pad_frames: int = _PAD_FRAMES) -> tuple[np.ndarray, int]:
        """Log-mel features of ``audio`` followed by ``pad_frames`` of silence; and the frames of audio."""
        content = min(int(math.ceil(audio.size / _HOP)), _MAX_FRAMES)
        frames = min(_MAX_FRAMES, int(math.ceil((content + pad_frames) / 100.0)) * 100)
        padded = np.zeros(frames * _HOP - _HOP, dtype=np.float32)
        n = min(audio.size, padded.size)
        padded[:n] = audio[:n]
        feats = self.whisper.feature_extractor(padded)
        out = np.zeros((feats.shape[0], frames), dtype=np.float32)
        k = min(frames, feats.shape[1])
        out[:, :k] = feats[:, :k]
        return out, content

    def scorer(
        self, audio: np.ndarray, language: str, task: str, prompt: str = ""
    ) -> Callable[[Sequence[Sequence[str]]], list[list[float]]] | None:
        """How likely the model finds readings of ``audio`` (each a sequence of words) after ``prompt``:
        each word's log-probability, its tokens forced through the decoder after the words before it
        (CTranslate2's alignment, on the short window the live passes hear; the audio's encoding is the
        one its decoding made, when that was on this thread); None for a model without alignment heads."""
        if not self.has_alignment_heads:
            return None
        tok = self.tokenizer(language, task)
        start = _prompted(tok, prompt, self.whisper.max_length) + list(tok.sot_sequence)

        def score(readings: Sequence[Sequence[str]]) -> list[list[float]]:
            encoded, content_frames = self.encode(audio, remember=True)
            out = []
            for words in readings:
                pieces = [tok.encode(w) for w in words]
                ids = [t for p in pieces for t in p]
                if not ids:
                    out.append([0.0] * len(words))
                    continue
                aligned = self.ct2.align(encoded, start, [ids], content_frames)[0]
                logp = np.log(np.maximum(np.asarray(aligned.text_token_probs, dtype=np.float64), 1e-10))
                ends = np.cumsum([len(p) for p in pieces])
                out.append([float(logp[e - len(p) : e].sum()) for p, e in zip(pieces, ends)])
            return out

        return score

    def encode(self, audio: np.ndarray, remember: bool = False) -> tuple[Any, int]:
        """The encoder's output for ``audio`` on the short window (``features``), and its frames of audio.
        With ``remember`` (audio that is not changed after), the last REMEMBERED encodings made on this
        thread are kept and given again for the same array: the final pass scores readings of the
        utterance it has just decoded without encoding it twice."""
        import ctranslate2

        recent: list[tuple[Any, Any, int]] = self._recent.__dict__.setdefault("items", [])
        if remember:
            for ref, encoded, frames in recent:
                if ref() is audio:
                    return encoded, frames
        feats, frames = self.features(audio)
        encoded = self.ct2.encode(ctranslate2.StorageView.from_array(feats[None]), to_cpu=False)
        if remember:
            recent.append((weakref.ref(audio), encoded, frames))
            del recent[:-REMEMBERED]
        return encoded, frames

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """The most likely language of ``audio`` and its probability, on Whisper's own 30 s window (as
        faster-whisper's detection: one on the short padded window of a pass is much less sure)."""
        import ctranslate2

        feats, _ = self.features(audio, pad_frames=_MAX_FRAMES)
        encoded = self.ct2.encode(ctranslate2.StorageView.from_array(feats[None]))
        token, prob = self.ct2.detect_language(encoded)[0][0]
        return str(token[2:-2]), float(prob)


class FasterWhisperBackend:
    """An :class:`~wlk_cli.asr.base.AsrBackend` for one stream on a shared :class:`FasterWhisperModel`:
    the stream's language (given, or detected as speech comes in) and decoding options."""

    def __init__(
        self,
        model: FasterWhisperModel,
        language: str = "auto",
        task: str = "transcribe",
        beam_size: int = 1,
        temperatures: tuple[float, ...] = (0.0,),
        remember: bool = False,
    ) -> None:
        """``temperatures``: Whisper's fallback (``FALLBACK``): a pass whose text compresses too well (a
        loop) or that the model is unsure of is decoded again by sampling at the next temperature."""
        self.model = model
        self.task = task
        self.beam_size = beam_size
        self.temperatures = temperatures
        self.remember = remember  # the audio is not changed after: its encoding may be used again
        self._fixed_language: str | None = model.check_language(language, task)
        self._detected: str | None = None
        self._detected_on = 0.0
        self._locked = False
        self.language_prob: float | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def language(self) -> str | None:
        return self._fixed_language or self._detected

    @property
    def language_settled(self) -> bool:
        """Whether the language is decided for the session (given, or detected surely enough): until
        then a policy keeps its words tentative, so that a better detection can still change them."""
        return self._fixed_language is not None or self._locked

    def _language_for(self, audio: np.ndarray) -> str:
        """The language to decode ``audio`` in. Detection runs on the first buffer and then as it grows
        (1, 2, 3, 4, 6, 8 s), until one is sure (0.8) or 10 s were heard; the longest buffer's detection
        is the guess until then. (Locking on the same language winning twice at 0.5 locked espeak German
        as English.)"""
        if self._fixed_language is not None:
            return self._fixed_language
        if self._locked:
            assert self._detected is not None
            return self._detected
        duration = audio.size / SAMPLE_RATE
        due = self._detected is None or any(self._detected_on < t <= duration for t in _DETECT_AT_S)
        if due:
            self._detected, self.language_prob = self.model.detect_language(audio)
            self._detected_on = duration
            self._locked = self.language_prob >= _LANG_LOCK_PROB
        if duration >= _LANG_LOCK_S:
            self._locked = True
        assert self._detected is not None
        return self._detected

    def encode(self, audio: np.ndarray, pad_s: float = _PAD_FRAMES / _FRAMES_PER_S) -> EncodedAudio:
        """Run only the encoder (for a policy that decodes itself); detects the language as transcribe does."""
        import ctranslate2

        feats, content_frames = self.model.features(audio, int(pad_s * _FRAMES_PER_S))
        encoded = self.model.ct2.encode(ctranslate2.StorageView.from_array(feats[None]), to_cpu=True)
        language = self._language_for(audio)
        return EncodedAudio(np.asarray(encoded, dtype=np.float32)[0], (content_frames + 1) // 2, language)

    def tokenizer(self, language: str) -> Any:
        """faster-whisper's tokenizer for this model, this stream's task and ``language``."""
        return self.model.tokenizer(language, self.task)

    def transcribe(self, audio: np.ndarray, prompt: str = "") -> AsrResult:
        from faster_whisper.transcribe import get_suppressed_tokens, merge_punctuations

        duration = audio.size / SAMPLE_RATE
        encoded, content_frames = self.model.encode(audio, remember=self.remember)
        ct2 = self.model.ct2
        language = self._language_for(audio)
        tok = self.tokenizer(language)
        max_length = self.model.whisper.max_length

        tokens = _prompted(tok, prompt, max_length) + list(tok.sot_sequence)
        max_new = token_budget(duration)  # a loop that runs away stops here, not at 448 tokens
        options = dict(
            max_length=min(max_length, len(tokens) + max_new),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tok, [-1]),
            max_initial_timestamp_index=50,
        )
        tried: list[tuple[float, list[int], float]] = []  # (avg log-probability, tokens, no-speech probability)
        for temperature in self.temperatures:
            if temperature == 0.0:
                sampling: dict[str, Any] = {"beam_size": self.beam_size}
            else:  # faster-whisper's fallback: the best of 5 samples
                sampling = {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0,
                            "sampling_temperature": temperature}  # fmt: skip
            result = ct2.generate(encoded, [tokens], **options, **sampling)[0]
            ids: list[int] = list(result.sequences_ids[0])
            avg_logprob = float(result.scores[0]) if result.scores else 0.0
            tried.append((avg_logprob, ids, float(result.no_speech_prob)))
            if float(result.no_speech_prob) > 0.6 and avg_logprob < -1.0:
                break  # silence: no temperature helps
            text = tok.decode([t for t in ids if t < tok.eot])
            if compression_ratio(text) <= _MAX_COMPRESSION and avg_logprob >= _MIN_LOGPROB:
                break
        else:  # none passed: the most likely of them, as faster-whisper does
            tried.sort(key=lambda r: r[0])
        avg_logprob, ids, no_speech = tried[-1]
        out = AsrResult(
            language=language, language_prob=self.language_prob, no_speech_prob=no_speech, avg_logprob=avg_logprob
        )
        if out.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return out
        spans = self._split_segments(ids, tok, duration)
        text_tokens = [t for _, _, seg in spans for t in seg]
        if not text_tokens:
            return out
        if self.model.has_alignment_heads:
            alignment = self.model.whisper.find_alignment(tok, [text_tokens], encoded, content_frames)[0]
        else:
            alignment = self._spread(tok, spans, duration, avg_logprob)
        merge_punctuations(alignment, _PREPEND, _APPEND)
        k = 0
        for start, end, seg_tokens in spans:
            words: list[AsrWord] = []
            used = 0
            while k < len(alignment) and used < len(seg_tokens):
                a = alignment[k]
                used += len(a["tokens"])
                k += 1
                if a["word"]:
                    w_end = min(float(a["end"]), duration)
                    w_start = min(float(a["start"]), w_end)
                    words.append(AsrWord(w_start, w_end, a["word"], float(a["probability"])))
            if words:
                out.segments.append(AsrSegment(start, end, tuple(words)))
        return out

    @staticmethod
    def _spread(tok: Any, spans: list[tuple[float, float, list[int]]], duration: float, logprob: float) -> list[Any]:
        """Word timings without alignment heads: each segment's time shared out by characters."""
        out: list[dict[str, Any]] = []
        for start, end, seg_tokens in spans:
            words, groups = tok.split_to_word_tokens(seg_tokens)
            end = min(end, duration)
            total = sum(len(w) for w in words) or 1
            t = start
            for w, g in zip(words, groups):
                step = (end - start) * len(w) / total
                out.append({"word": w, "tokens": g, "start": t, "end": t + step, "probability": math.exp(logprob)})
                t += step
        return out

    @staticmethod
    def _split_segments(ids: list[int], tok: Any, duration: float) -> list[tuple[float, float, list[int]]]:
        """Split Whisper's output at timestamp tokens; a segment with no closing timestamp ends at +inf."""
        spans: list[tuple[float, float, list[int]]] = []
        current: list[int] = []
        seg_start = 0.0
        for t in ids:
            if t >= tok.timestamp_begin:
                at = (t - tok.timestamp_begin) * FRAME_S
                if current:
                    spans.append((seg_start, at, current))
                    current = []
                seg_start = at
            elif t < tok.eot:
                current.append(t)
        if current:
            spans.append((seg_start, math.inf, current))
        return spans
