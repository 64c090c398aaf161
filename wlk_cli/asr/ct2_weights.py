"""Read the weights of a CTranslate2 model directory (``model.bin``) into NumPy arrays.

The layout (CTranslate2's ``ModelSpec`` serialisation): u32 binary version, u16-length spec name,
u32 spec revision, u32 variable count; per variable a u16-length name, u8 rank, u32 dims, u8 dtype,
u32 byte count and the bytes; then u32 alias count and (alias, target) name pairs. Quantised weights
(int8, int16) carry a ``<name>_scale`` variable: the stored value is ``round(weight * scale)``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from wlk_cli.errors import ModelError

# CTranslate2's DataType enumeration
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype(np.float32),
    1: np.dtype(np.int8),
    2: np.dtype(np.int16),
    3: np.dtype(np.int32),
    4: np.dtype(np.float16),
    5: np.dtype(np.uint16),  # bfloat16: converted below
}
_BFLOAT16 = 5


class _Reader:
    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f = f
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise ModelError(f"{self.path}: truncated CTranslate2 model file")
        return data

    def take(self, fmt: str) -> int:
        return int(struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt)))[0])

    def string(self) -> str:
        return self.read(self.take("H")).decode("utf-8", "replace").rstrip("\0")


def _dequantise(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, value in weights.items():
        if name.endswith("_scale"):
            continue
        scale = weights.get(name + "_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            s = scale.astype(np.float32)
            value = value.astype(np.float32) / (s.reshape(-1, *([1] * (value.ndim - 1))) if s.ndim else s)
        out[name] = value
    return out


def read_ct2_weights(model_dir: Path) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, weights by variable name, aliases resolved) of ``model_dir/model.bin``."""
    path = model_dir / "model.bin"
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ModelError(f"cannot read {path}: {e.strerror or e}") from None
    with f:
        r = _Reader(f, path)
        version = r.take("I")
        if version < 5 or version > 6:
            raise ModelError(f"{path}: CTranslate2 binary version {version} is not supported (5 or 6)")
        spec = r.string()
        r.take("I")  # spec revision
        weights: dict[str, np.ndarray] = {}
        for _ in range(r.take("I")):
            name = r.string()
            shape = tuple(r.take("I") for _ in range(r.take("B")))
            code = r.take("B")
            nbytes = r.take("I")
            if code not in _DTYPES:
                raise ModelError(f"{path}: variable {name} has unknown data type {code}")
            arr = np.frombuffer(r.read(nbytes), dtype=_DTYPES[code])
            if code == _BFLOAT16:
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            weights[name] = arr.reshape(shape)
        aliases = [(r.string(), r.string()) for _ in range(r.take("I"))]
    weights = _dequantise(weights)  # before aliasing: an alias of a quantised weight has no scale of its own
    for alias, target in aliases:
        if target in weights:
            weights[alias] = weights[target]
    return spec, weights
