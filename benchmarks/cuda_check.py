#!/usr/bin/env python3
"""Check simulstreaming's PyTorch Whisper on a CUDA GPU against the same code on the CPU.

The GPU machine has PyTorch but no CTranslate2 and no model packages, and tiny.en's model.bin (75 MB)
is too big to send there, so this works in two steps:

    python benchmarks/cuda_check.py prep .gpu      # here: a copy of tiny.en with its large matrices
                                                   # stored as int8 + scale (as CTranslate2 does),
                                                   # the log-mel of the LibriSpeech test clips, and
                                                   # the greedy tokens our CPU float32 run gives
    python3 benchmarks/cuda_check.py check .gpu    # there: the same model in float16 on the GPU

``check`` prints one JSON line: tokens equal per clip, decode time per token on each device.
"""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def quantised_copy(src: Path, dst: Path, min_size: int = 1 << 20) -> None:
    """Rewrite src/model.bin with every variable of at least ``min_size`` elements as int8 + scale."""
    data = (src / "model.bin").read_bytes()
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (v,) = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return int(v)

    def name() -> bytes:
        nonlocal pos
        n = take("H")
        pos += n
        return data[pos - n : pos]

    out = bytearray()
    out += struct.pack("<I", take("I"))
    spec = name()
    out += struct.pack("<H", len(spec)) + spec + struct.pack("<I", take("I"))
    count = take("I")
    records: list[bytes] = []
    for _ in range(count):
        var = name()
        shape = [take("I") for _ in range(take("B"))]
        code, nbytes = take("B"), take("I")
        raw = data[pos : pos + nbytes]
        pos += nbytes
        if code == 4 and len(shape) == 2 and int(np.prod(shape)) >= min_size:
            w = np.frombuffer(raw, dtype=np.float16).reshape(shape).astype(np.float32)
            scale = 127.0 / np.maximum(np.abs(w).max(axis=1), 1e-8)
            q = np.clip(np.round(w * scale[:, None]), -127, 127).astype(np.int8)
            records.append(_record(var, shape, 1, q.tobytes()))
            scale_name = var.rstrip(b"\0") + b"_scale\0"  # names are stored NUL-terminated
            records.append(_record(scale_name, [shape[0]], 0, scale.astype(np.float32).tobytes()))
        else:
            records.append(_record(var, shape, code, raw))
    out += struct.pack("<I", len(records)) + b"".join(records) + data[pos:]
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "model.bin").write_bytes(bytes(out))
    (dst / "config.json").write_text((src / "config.json").read_text())


def _record(var: bytes, shape: list[int], code: int, raw: bytes) -> bytes:
    head = struct.pack("<H", len(var)) + var + struct.pack("<B", len(shape))
    head += b"".join(struct.pack("<I", d) for d in shape)
    return head + struct.pack("<BI", code, len(raw)) + raw


def greedy(tw, mel: np.ndarray, prompt: list[int], eot: int) -> tuple[list[int], float]:  # type: ignore[no-untyped-def]
    import torch

    state = tw.start(tw.encode(mel))
    ids = torch.tensor([prompt])  # on the CPU, as AlignAtt passes them
    out: list[int] = []
    t0 = time.perf_counter()
    while len(out) < 200:
        logp, _, state = tw.decode(ids, state)
        nxt = int(logp[0, -1].argmax())
        if nxt == eot:
            break
        out.append(nxt)
        ids = torch.tensor([[nxt]])
    return out, (time.perf_counter() - t0) / max(1, len(out))


def alignatt(tw, mel: np.ndarray, prompt: list[int], eot: int, frames: int) -> list[int]:  # type: ignore[no-untyped-def]
    """The AlignAtt loop itself (end of utterance: everything up to the last 4 frames)."""
    import torch

    from wlk_cli.policies.alignatt import AlignAtt, AlignAttConfig

    suppress = torch.zeros(tw.vocab, dtype=torch.bool)
    suppress[eot + 1 :] = True
    al = AlignAtt(
        tw, AlignAttConfig(), eot=eot, suppress=suppress, blank=[220], no_speech=None, max_tokens=448, closing={13}
    )
    return al.run(tw.features(tw.encode(mel)), frames, prompt, 0, [], 200, -200, True).tokens


def prep(folder: Path) -> None:
    import soundfile as sf
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

    from tests.helpers import clips
    from wlk_cli.asr.models import resolve_model
    from wlk_cli.asr.torch_whisper import load

    src = resolve_model("tiny.en")
    quantised_copy(src, folder / "model")
    fw = WhisperModel(str(src), device="cpu", compute_type="int8")
    tok = Tokenizer(fw.hf_tokenizer, False, task="transcribe", language="en")
    prompt = list(tok.sot_sequence) + [tok.no_timestamps]
    tw = load(folder / "model", "cpu")
    mels, expected, per_token = {}, {}, []
    for clip, _ in clips():
        audio, _ = sf.read(clip, dtype="float32")
        m = fw.feature_extractor(audio)[:, :3000]
        m = np.pad(m, ((0, 0), (0, 3000 - m.shape[1])))
        mels[clip.stem] = m
        expected[clip.stem], t = greedy(tw, m, prompt, tok.eot)
        per_token.append(t)
        frames = audio.size // 320
        expected[clip.stem + ":alignatt"] = [frames, alignatt(tw, m, prompt, tok.eot, frames)]
    np.savez_compressed(folder / "mels.npz", **mels)
    (folder / "expected.json").write_text(
        json.dumps({"prompt": prompt, "eot": tok.eot, "tokens": expected, "cpu_s_per_token": float(np.mean(per_token))})
    )


def check(folder: Path) -> None:
    import torch

    from wlk_cli.asr.torch_whisper import load

    assert torch.cuda.is_available(), "no CUDA device"
    want = json.loads((folder / "expected.json").read_text())
    mels = np.load(folder / "mels.npz")
    tw = load(folder / "model", "cuda")
    same, per_token = {}, []
    for stem, tokens in want["tokens"].items():
        if stem.endswith(":alignatt"):
            clip = stem.split(":")[0]
            same[stem] = alignatt(tw, mels[clip], want["prompt"], want["eot"], tokens[0]) == tokens[1]
            continue
        got, t = greedy(tw, mels[stem], want["prompt"], want["eot"])
        same[stem] = got == tokens
        per_token.append(t)
    print(
        json.dumps(
            {
                "bench": "cuda-check",
                "device": torch.cuda.get_device_name(0),
                "dtype": str(tw.dtype),
                "tokens_equal": same,
                "cuda_s_per_token": round(float(np.mean(per_token)), 5),
                "cpu_s_per_token": round(want["cpu_s_per_token"], 5),
            }
        )
    )


if __name__ == "__main__":
    {"prep": prep, "check": check}[sys.argv[1]](Path(sys.argv[2]))
