from __future__ import annotations

import os

from tests.helpers import clips, wlk


def test_terminal_too_small_for_the_tui_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "COLUMNS": "30", "LINES": "8"}
    r = wlk("file", str(clips()[0][0]), "--tui", "--model", "tiny.en", "--output-dir", str(tmp_path), env=env)
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and "terminal too small" in err and len(err.splitlines()) == 1
    assert "without --tui" in err and "--no-tui" not in err  # `wlk file` has no --no-tui
    assert not list(tmp_path.iterdir())
