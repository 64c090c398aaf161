"""A wheel of the package works outside the source tree: presets included (issue #13)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, clips, parse_jsonl, transcript, wer


def test_a_wheel_carries_the_presets_and_transcribes(tmp_path: Path) -> None:
    dist, site, src = tmp_path / "dist", tmp_path / "site", tmp_path / "src"
    # built from a copy of what a wheel is made of: a build in the checkout leaves build/ there, whose
    # stale files a later build would pack
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "wlk_cli", src / "wlk_cli", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."]
    subprocess.run(build, check=True, capture_output=True, cwd=src, timeout=300)
    wheel = next(dist.glob("wlk_cli-*.whl"))
    install = [*pip, "install", "-q", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's copy, ahead of the editable one

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, *args], capture_output=True, env=env, cwd=tmp_path, timeout=300)

    where = run("-c", "import wlk_cli; print(wlk_cli.__file__)").stdout.decode()
    assert where.startswith(str(site)), where  # the test runs the wheel, not the checkout
    r = run("-m", "wlk_cli", "presets")
    assert r.returncode == 0, r.stderr.decode()
    names = [line.split()[0] for line in r.stdout.decode().splitlines()]
    assert names == ["balanced", "high-accuracy", "meeting", "ultra-fast"]
    clip, ref = clips()[0]
    r = run(
        "-m", "wlk_cli", "file", str(clip), "--preset", "ultra-fast", "--speed", "0", "--no-files", "--format", "jsonl"
    )
    assert r.returncode == 0, r.stderr.decode()
    assert wer(ref, transcript(parse_jsonl(r.stdout))) <= 0.2
