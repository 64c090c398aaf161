"""The few torchaudio names diart touches at import, for when the real torchaudio cannot be used.

diart 0.9.2 calls ``torchaudio.set_audio_backend`` (removed in torchaudio 2.9) and imports
``torchaudio.transforms.Resample`` and ``torchaudio.functional.resample``; PyPI's torchaudio is a CUDA
build that does not load beside the CPU torch wheel. When ``import torchaudio`` works and still has
``set_audio_backend`` nothing is done. Otherwise a small stand-in module is registered that provides
exactly those names (resampling by SciPy's polyphase filter); wlk never calls diart's file or microphone
sources, which need the rest of torchaudio.
"""

from __future__ import annotations

import sys
import types
from math import gcd
from typing import Any

STAND_IN_FLAG = "__wlk_stand_in__"


def resample(waveform: Any, orig_freq: int, new_freq: int, **_: Any) -> Any:
    """Resample the last axis of a tensor (polyphase, anti-aliased)."""
    import torch
    from scipy.signal import resample_poly

    if orig_freq == new_freq:
        return waveform
    g = gcd(int(orig_freq), int(new_freq))
    out = resample_poly(waveform.detach().cpu().numpy(), int(new_freq) // g, int(orig_freq) // g, axis=-1)
    return torch.from_numpy(out.astype("float32")).to(waveform.device)


def _make_stand_in() -> types.ModuleType:
    import torch

    ta = types.ModuleType("torchaudio")
    setattr(ta, STAND_IN_FLAG, True)
    ta.set_audio_backend = lambda backend=None: None  # type: ignore[attr-defined]

    functional = types.ModuleType("torchaudio.functional")
    functional.resample = resample  # type: ignore[attr-defined]

    class Resample(torch.nn.Module):
        def __init__(self, orig_freq: int = 16000, new_freq: int = 16000, **_: Any) -> None:
            super().__init__()
            self.orig_freq, self.new_freq = orig_freq, new_freq

        def forward(self, waveform: Any) -> Any:
            return resample(waveform, self.orig_freq, self.new_freq)

    transforms = types.ModuleType("torchaudio.transforms")
    transforms.Resample = Resample  # type: ignore[attr-defined]
    ta.functional = functional  # type: ignore[attr-defined]
    ta.transforms = transforms  # type: ignore[attr-defined]
    return ta


def ensure_torchaudio() -> bool:
    """Make ``import diart`` possible; returns True when the stand-in was installed."""
    existing = sys.modules.get("torchaudio")
    if existing is not None and getattr(existing, STAND_IN_FLAG, False):
        return True
    try:
        import torchaudio

        if hasattr(torchaudio, "set_audio_backend"):
            return False
    except Exception:  # ImportError, or OSError from a CUDA build that cannot load here
        pass
    ta = _make_stand_in()
    sys.modules["torchaudio"] = ta
    sys.modules["torchaudio.functional"] = ta.functional
    sys.modules["torchaudio.transforms"] = ta.transforms
    return True


def import_diart() -> Any:
    """Import diart with the stand-in in place if needed; a missing package is one clear error."""
    from wlk_cli.errors import ModelError

    ensure_torchaudio()
    try:
        import diart
    except ImportError as e:
        raise ModelError(
            f"diarization needs diart (pip install --no-deps diart==0.9.2, see scripts/setup.sh): {e}"
        ) from None
    return diart
