"""The PyTorch Whisper written here against CTranslate2, on the same model directory and real speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import clips
from wlk_cli.asr.models import resolve_model
from wlk_cli.errors import ModelError

torch = pytest.importorskip("torch")
ctranslate2 = pytest.importorskip("ctranslate2")


@pytest.fixture(scope="module")
def models():  # type: ignore[no-untyped-def]
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

    from wlk_cli.asr.torch_whisper import load

    path = resolve_model("tiny.en")
    fw = WhisperModel(str(path), device="cpu", compute_type="float32", cpu_threads=2)
    tok = Tokenizer(fw.hf_tokenizer, False, task="transcribe", language="en")
    return fw, load(path), tok


def mel(fw, audio: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    m = fw.feature_extractor(audio)[:, :3000]
    return np.pad(m, ((0, 0), (0, 3000 - m.shape[1])))


@pytest.mark.parametrize("clip", [c for c, _ in clips()], ids=lambda p: p.stem)
def test_greedy_tokens_match_ctranslate2(models, clip: Path) -> None:  # type: ignore[no-untyped-def]
    fw, tw, tok = models
    audio, _ = sf.read(clip, dtype="float32")
    features = mel(fw, audio)
    encoded = fw.model.encode(ctranslate2.StorageView.from_array(features[None]), to_cpu=True)
    prompt = list(tok.sot_sequence) + [tok.no_timestamps]
    want = fw.model.generate(encoded, [prompt], beam_size=1, max_length=200, suppress_blank=False, suppress_tokens=[])
    want_ids = list(want[0].sequences_ids[0])

    ours = tw.encode(features)  # the PyTorch encoder agrees with CTranslate2's
    assert float((ours - tw.features(np.asarray(encoded))).abs().max()) < 1e-3

    state = tw.start(tw.features(np.asarray(encoded)))
    ids = torch.tensor([prompt])
    got: list[int] = []
    while len(got) < 200:
        logp, align, state = tw.decode(ids, state)
        assert align.shape[:3] == (1, len(tw.heads), ids.shape[1])
        nxt = int(logp[0, -1].argmax())
        if nxt == tok.eot:
            break
        got.append(nxt)
        ids = torch.tensor([[nxt]])
    assert got == want_ids, (tok.decode(got), tok.decode(want_ids))
    assert len(got) > 5


def test_alignment_heads_come_from_config(tmp_path: Path) -> None:
    from wlk_cli.asr.torch_whisper import alignment_heads

    src = resolve_model("tiny.en")
    assert alignment_heads(src)[0] == (1, 0)
    config = json.loads((src / "config.json").read_text())
    del config["alignment_heads"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="local-agreement"):
        alignment_heads(tmp_path)


def test_truncated_model_bin(tmp_path: Path) -> None:
    from wlk_cli.asr.ct2_weights import read_ct2_weights

    src = resolve_model("tiny.en")
    with open(src / "model.bin", "rb") as f:
        (tmp_path / "model.bin").write_bytes(f.read(100_000))
    shutil.copy(src / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelError, match="truncated"):
        read_ct2_weights(tmp_path)


def _var(name: str, shape: tuple[int, ...], code: int, raw: bytes) -> bytes:
    import struct

    n = name.encode() + b"\0"
    head = struct.pack("<H", len(n)) + n + struct.pack("<B", len(shape)) + b"".join(struct.pack("<I", d) for d in shape)
    return head + struct.pack("<BI", code, len(raw)) + raw


def test_int8_weights_are_dequantised_before_aliasing(tmp_path: Path) -> None:
    """An int8 matrix with its per-row scale, and an alias of it (the decoder's projection is one)."""
    import struct

    from wlk_cli.asr.ct2_weights import read_ct2_weights

    q = np.array([[127, -64, 0], [10, 20, -127]], dtype=np.int8)
    scale = np.array([127.0, 12.7], dtype=np.float32)
    name = b"WhisperSpec\0"
    blob = struct.pack("<I", 6) + struct.pack("<H", len(name)) + name + struct.pack("<I", 3) + struct.pack("<I", 3)
    blob += _var("a/weight", (2, 3), 1, q.tobytes())
    blob += _var("a/weight_scale", (2,), 0, scale.tobytes())
    blob += _var("b/bias", (3,), 4, np.array([1.0, 2.0, 3.0], dtype=np.float16).tobytes())
    alias, target = b"c/weight\0", b"a/weight\0"
    blob += struct.pack("<I", 1) + struct.pack("<H", len(alias)) + alias + struct.pack("<H", len(target)) + target
    (tmp_path / "model.bin").write_bytes(blob)
    spec, w = read_ct2_weights(tmp_path)
    want = q.astype(np.float32) / scale[:, None]
    assert spec == "WhisperSpec" and "a/weight_scale" not in w
    np.testing.assert_allclose(w["a/weight"], want, rtol=1e-6)
    np.testing.assert_allclose(w["c/weight"], want, rtol=1e-6)
    assert w["b/bias"].dtype == np.float16 and w["b/bias"].tolist() == [1.0, 2.0, 3.0]
