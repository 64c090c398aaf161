"""`--help` fits 80 columns, groups the options, shows every default and ends with examples (#12)."""

from __future__ import annotations

import os
import re

import pytest

from tests.helpers import wlk

COMMANDS = [(), ("file",), ("listen",), ("transcribe",), ("devices",), ("presets",), ("models",)]


def options(text: str) -> dict[str, str]:
    """Each option's names -> its help text (the lines up to the next option or section)."""
    out: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if re.match(r"^  -", line):
            name, _, rest = line.strip().partition("  ")
            out[name] = rest.strip()
        elif name is not None and line.startswith("    ") and line.strip():
            out[name] += " " + line.strip()
        else:
            name = None
    return out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "wlk")
def test_help_fits_80_columns_and_shows_every_default(command: tuple[str, ...]) -> None:
    r = wlk(*command, "--help", env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "<bool>" not in text and "…" not in text  # no type noise, no cut names
    if not command:
        assert all(c in text for c in ("file", "listen", "transcribe", "devices", "presets", "models"))
        return
    found = options(text)
    assert found, text
    for name, help_text in found.items():
        if name.startswith(("-h", "--version")):
            continue
        assert "[default:" in help_text, (name, help_text)
    examples = text.split("Examples:")[-1].strip().splitlines()
    assert "Examples:" in text and 1 <= len(examples) <= 3 and all("wlk " in x for x in examples), examples
    if command[0] in ("file", "listen", "transcribe"):
        for section in ("Model:", "VAD:", "Speakers:", "Output:"):
            assert section in text, section
        assert "rttm" in found["--formats <str>"]


def test_devices_help_keeps_its_system_tag() -> None:
    assert "[system]" in wlk("devices", "--help").stdout.decode()


def test_usage_mistakes_are_one_line_like_every_error() -> None:
    from tests.helpers import one_line_error

    one_line_error(wlk("file", "--no-such-flag", "x.wav"), 2, "--no-such-flag", "wlk file --help")
    one_line_error(wlk("file"), 2, "Missing argument")
    one_line_error(wlk("nonsense"), 2, "nonsense")
    r = wlk()
    assert r.returncode == 0 and b"Commands:" in r.stdout  # `wlk` alone prints its help
