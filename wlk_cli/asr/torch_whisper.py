"""Whisper's decoder (and encoder) in PyTorch, on the weights of a CTranslate2 model directory.

CTranslate2 runs Whisper fast but does not show the decoder's cross-attention for each generated token,
which AlignAtt needs. This module runs the same network from the same ``model.bin``: the decoder keeps a
self-attention cache, and every forward pass returns the cross-attention probabilities of the model's
alignment heads (``alignment_heads`` in the directory's ``config.json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wlk_cli.asr.base import FRAME_S
from wlk_cli.asr.ct2_weights import read_ct2_weights
from wlk_cli.asr.models import config_alignment_heads
from wlk_cli.errors import ModelError

_LN_EPS = 1e-5


def alignment_heads(model_dir: Path) -> list[tuple[int, int]]:
    """(layer, head) pairs from config.json; a ModelError when the directory names none."""
    heads = config_alignment_heads(model_dir)
    if not heads:
        raise ModelError(
            f"model directory {model_dir} names no alignment_heads in config.json, which simulstreaming needs; "
            "use --policy local-agreement"
        )
    return heads


@dataclass
class _Linear:
    weight: torch.Tensor
    bias: torch.Tensor | None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@dataclass
class _Norm:
    gamma: torch.Tensor
    beta: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.gamma, self.beta, _LN_EPS)


@dataclass
class _Layer:
    self_norm: _Norm
    self_qkv: _Linear
    self_out: _Linear
    ffn_norm: _Norm
    ffn_in: _Linear
    ffn_out: _Linear
    cross_norm: _Norm | None = None
    cross_q: _Linear | None = None
    cross_kv: _Linear | None = None
    cross_out: _Linear | None = None


@dataclass
class DecoderState:
    """Self-attention keys/values of the tokens seen so far, and each layer's keys/values of the audio."""

    self_kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    cross_kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return 0 if not self.self_kv else int(self.self_kv[0][0].shape[2])

    def select(self, index: torch.Tensor) -> DecoderState:
        """Reorder the batch (beam search): row i of the result is row index[i] of this state."""
        kv = [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.self_kv]
        n = int(index.numel())
        cross = [(k[:1].expand(n, -1, -1, -1), v[:1].expand(n, -1, -1, -1)) for k, v in self.cross_kv]
        return DecoderState(kv, cross)


class TorchWhisper:
    """Whisper on CTranslate2 weights: ``encode`` (mel -> audio features) and an incremental ``decode``."""

    def __init__(self, model_dir: Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        spec, w = read_ct2_weights(model_dir)
        if spec != "WhisperSpec" or "decoder/embeddings/weight" not in w:
            raise ModelError(f"{model_dir} is not a CTranslate2 Whisper model (its spec is {spec!r})")
        self.device = torch.device(device)
        self.dtype = dtype
        self.heads = alignment_heads(model_dir)

        def t(name: str) -> torch.Tensor:
            if name not in w:
                raise ModelError(f"{model_dir}: model.bin has no {name}")
            return torch.from_numpy(np.ascontiguousarray(w[name], dtype=np.float32)).to(self.device, dtype)

        def lin(prefix: str) -> _Linear:
            bias = prefix + "/bias"
            return _Linear(t(prefix + "/weight"), t(bias) if bias in w else None)

        def norm(prefix: str) -> _Norm:
            return _Norm(t(prefix + "/gamma"), t(prefix + "/beta"))

        self.n_dec_heads = int(w["decoder/num_heads"]) if "decoder/num_heads" in w else 0
        self.n_enc_heads = int(w["encoder/num_heads"]) if "encoder/num_heads" in w else 0
        # the vocabulary projection reads every weight for each token: stored (d_model, vocab), a row
        # vector times it streams memory in order (twice as fast as the transposed product on this CPU);
        # when it is the embedding (Whisper ties them), tokens are embedded from the same copy
        self.projection_t = (
            t("decoder/projection/weight") if "decoder/projection/weight" in w else t("decoder/embeddings/weight")
        ).T.contiguous()
        self.embedding = t("decoder/embeddings/weight") if "decoder/projection/weight" in w else None
        self.positions = t("decoder/position_encodings/encodings")
        self.dec_norm = norm("decoder/layer_norm")

        def layers(side: str) -> list[_Layer]:
            out: list[_Layer] = []
            while f"{side}/layer_{len(out)}/self_attention/linear_0/weight" in w:
                p = f"{side}/layer_{len(out)}"
                cross = (
                    (
                        norm(f"{p}/attention/layer_norm"),
                        lin(f"{p}/attention/linear_0"),
                        lin(f"{p}/attention/linear_1"),
                        lin(f"{p}/attention/linear_2"),
                    )
                    if side == "decoder"
                    else ()
                )
                out.append(
                    _Layer(
                        norm(f"{p}/self_attention/layer_norm"),
                        lin(f"{p}/self_attention/linear_0"),
                        lin(f"{p}/self_attention/linear_1"),
                        norm(f"{p}/ffn/layer_norm"),
                        lin(f"{p}/ffn/linear_0"),
                        lin(f"{p}/ffn/linear_1"),
                        *cross,
                    )
                )
            return out

        self.dec_layers = layers("decoder")
        self.enc_layers = layers("encoder")
        self.conv1, self.conv2 = lin("encoder/conv1"), lin("encoder/conv2")
        self.enc_positions = t("encoder/position_encodings/encodings")
        self.enc_norm = norm("encoder/layer_norm")
        self.d_model = int(self.projection_t.shape[0])
        if not self.n_dec_heads:
            self.n_dec_heads = self.d_model // 64
        if not self.n_enc_heads:
            self.n_enc_heads = self.d_model // 64
        self.max_tokens = int(self.positions.shape[0])
        self.vocab = int(self.projection_t.shape[1])
        bad = [(layer, h) for layer, h in self.heads if layer >= len(self.dec_layers) or h >= self.n_dec_heads]
        if bad:
            raise ModelError(f"{model_dir}: alignment_heads {bad} do not exist in this model")
        self._heads_by_layer: dict[int, list[int]] = {}
        for layer, h in self.heads:
            self._heads_by_layer.setdefault(layer, []).append(h)

    # -- encoder -------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, mel: np.ndarray) -> torch.Tensor:
        """(80|128, frames) log-mel -> (1, frames // 2, d_model) audio features."""
        x = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32)).to(self.device, self.dtype)[None]
        x = F.gelu(F.conv1d(x, self.conv1.weight, self.conv1.bias, padding=1))
        x = F.gelu(F.conv1d(x, self.conv2.weight, self.conv2.bias, stride=2, padding=1))
        x = x.transpose(1, 2)
        if x.shape[1] > self.enc_positions.shape[0]:
            raise ModelError(f"audio of {x.shape[1] * FRAME_S:.1f} s is longer than Whisper's 30 s window")
        x = x + self.enc_positions[: x.shape[1]]
        for layer in self.enc_layers:
            h = layer.self_norm(x)
            q, k, v = self._split(layer.self_qkv(h), 3, self.n_enc_heads)
            a = F.scaled_dot_product_attention(q, k, v)
            x = x + layer.self_out(self._merge(a))
            x = x + layer.ffn_out(F.gelu(layer.ffn_in(layer.ffn_norm(x))))
        return self.enc_norm(x)

    # -- decoder -------------------------------------------------------------------------------
    def features(self, audio_features: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Audio features (frames, d) or (1, frames, d) from any encoder, as this model's tensor."""
        x = torch.as_tensor(audio_features).to(self.device, self.dtype)
        return x if x.ndim == 3 else x[None]

    @torch.inference_mode()
    def start(self, audio_features: torch.Tensor, batch: int = 1) -> DecoderState:
        """A fresh state over these audio features (each layer's cross-attention keys and values)."""
        cross = []
        for layer in self.dec_layers:
            assert layer.cross_kv is not None
            k, v = self._split(layer.cross_kv(audio_features), 2, self.n_dec_heads)
            cross.append((k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)))
        return DecoderState([], cross)

    @torch.inference_mode()
    def decode(
        self, tokens: torch.Tensor, state: DecoderState, positions: list[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, DecoderState]:
        """Run ``tokens`` (batch, n) after those in ``state``.

        Returns log-probabilities (batch, len(positions), vocab) of the next token after each of the
        ``positions`` (indices into ``tokens``; default: the last one only, since the vocabulary projection
        is the costly part), the cross-attention of the alignment heads (batch, heads, n, frames) and
        the state extended by these tokens.
        """
        past = state.length
        n = tokens.shape[1]
        tokens = tokens.to(self.device)
        if past + n > self.max_tokens:
            raise ModelError(f"decoder context of {past + n} tokens exceeds Whisper's {self.max_tokens}")
        x = self._embed(tokens) + self.positions[past : past + n]
        mask = None
        if n > 1:
            mask = torch.ones(n, past + n, dtype=torch.bool, device=self.device).tril(past)
        new_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        align: list[torch.Tensor] = []
        for i, layer in enumerate(self.dec_layers):
            assert layer.cross_q is not None and layer.cross_out is not None and layer.cross_norm is not None
            q, k, v = self._split(layer.self_qkv(layer.self_norm(x)), 3, self.n_dec_heads)
            if state.self_kv:
                k = torch.cat([state.self_kv[i][0], k], dim=2)
                v = torch.cat([state.self_kv[i][1], v], dim=2)
            new_kv.append((k, v))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = x + layer.self_out(self._merge(a))
            q = self._heads(layer.cross_q(layer.cross_norm(x)), self.n_dec_heads)
            ck, cv = state.cross_kv[i]
            heads = self._heads_by_layer.get(i)
            if heads:
                scores = (q @ ck.transpose(-1, -2)) / math.sqrt(q.shape[-1])
                probs = scores.float().softmax(dim=-1)
                align.append(probs[:, heads])
                a = probs.to(self.dtype) @ cv
            else:
                a = F.scaled_dot_product_attention(q, ck, cv)
            x = x + layer.cross_out(self._merge(a))
            x = x + layer.ffn_out(F.gelu(layer.ffn_in(layer.ffn_norm(x))))
        x = x[:, positions if positions is not None else [-1]]
        logits = self.dec_norm(x) @ self.projection_t
        logp = logits.float().log_softmax(dim=-1).cpu()  # small: the search runs on the CPU
        return logp, torch.cat(align, dim=1).cpu(), DecoderState(new_kv, state.cross_kv)

    # -- helpers -------------------------------------------------------------------------------
    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding[tokens]
        b, n = tokens.shape
        return self.projection_t.index_select(1, tokens.reshape(-1)).T.reshape(b, n, self.d_model)

    def _heads(self, x: torch.Tensor, n_heads: int) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)

    def _split(self, x: torch.Tensor, parts: int, n_heads: int) -> list[torch.Tensor]:
        return [self._heads(p, n_heads) for p in x.chunk(parts, dim=-1)]

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)


def load(model_dir: Path, device: str = "cpu") -> TorchWhisper:
    """The model on ``device`` (float16 on CUDA, float32 on the CPU)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(
            "device cuda: PyTorch sees no CUDA GPU (simulstreaming's decoder runs on PyTorch); "
            "use --device cpu or a CUDA build of torch"
        )
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    return TorchWhisper(model_dir, device, dtype)
