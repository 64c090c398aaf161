"""Streaming resampling of mono float32 blocks to 16 kHz (FFmpeg's resampler through PyAV)."""

from __future__ import annotations

from typing import Any

import numpy as np

from wlk_cli.audio import SAMPLE_RATE


class StreamResampler:
    """Keeps filter state across blocks, so block edges leave no clicks or gaps."""

    def __init__(self, rate_in: int) -> None:
        self.rate_in = rate_in
        self._resampler: Any = None
        if rate_in != SAMPLE_RATE:
            import av

            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self._resampler is None:
            return block.astype(np.float32, copy=False)
        import av

        frame = av.AudioFrame.from_ndarray(block.astype(np.float32).reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.rate_in
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, dtype=np.float32)
