"""Every setting is declared once (config.py) and reaches every place from there (#13): a flag with its
default in each command's help, a preset key, the same range message from a flag and from a preset,
the components' own defaults, the engine/stream split."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_help import options
from tests.helpers import wlk
from wlk_cli.cli import _flags
from wlk_cli.config import ENGINE_FIELDS, FIELD_TYPES, OPTS, Settings, build_settings, default_of, load_preset
from wlk_cli.errors import UsageError

COMMANDS = {  # command -> the settings it takes
    "file": [n for n in OPTS if n != "max_lag"],
    "listen": [n for n in OPTS if n != "speed"],
    "serve": [n for n in OPTS if n not in ("speed", "formats")],
    "transcribe": [n for n, o in OPTS.items() if o.offline],
}


def _help_of(command: str) -> dict[str, str]:
    r = wlk(command, "--help", env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr.decode()
    return {
        names: text.replace("- ", "-").strip() for names, text in options(r.stdout.decode()).items()
    }  # wrapped at "-"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(value) if value else "none"
    return str(value) if value != "" else "none"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_setting_has_a_flag_showing_its_declared_default(command: str) -> None:
    found = _help_of(command)
    for name in COMMANDS[command]:
        o = OPTS[name]
        flags = {f for spec in _flags(name, o) for f in spec.split("/")}
        entry = [text for names, text in found.items() if _names(names) <= flags and text.startswith(o.help[:20])]
        assert len(entry) == 1, (command, name, sorted(found))
        default = o.default_text or _shown(default_of(name))
        assert f"[default: {default}]" in entry[0], (command, name, entry[0])
    others = {"--" + n.replace("_", "-") for n in OPTS if n not in COMMANDS[command] and n != "device"}
    assert not others & {f for names in found for f in _names(names)}, "a setting the command does not use"


def _names(names: str) -> set[str]:
    """The flags of one help entry (``--vad / --no-vad``, ``--beam-size, --beams <int>``)."""
    return {w for w in names.replace(",", " ").replace("/", " ").split() if w.startswith("--")}


def test_every_setting_is_a_preset_key_with_the_same_default(tmp_path: Path) -> None:
    import tomllib

    lines = []
    for name in OPTS:
        value = default_of(name)
        if isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{name} = {value}")
        elif isinstance(value, list):
            lines.append(f"{name} = [{', '.join(repr(v) for v in value)}]".replace("'", '"'))
        else:
            lines.append(f'{name} = "{value}"')
    p = tmp_path / "all.toml"
    p.write_text("\n".join(lines) + "\n")
    values, _ = load_preset(str(p))
    assert set(values) == set(OPTS) == set(tomllib.loads(p.read_text()))
    assert build_settings(str(p), {}) == Settings().validate()


def _outside(name: str) -> Any:
    o = OPTS[name]
    assert o.hi is not None
    return FIELD_TYPES[name](o.hi * 2 + 1)


RANGED = [n for n, o in OPTS.items() if o.hi is not None]
CHOICES = [n for n, o in OPTS.items() if o.choices]


@pytest.mark.parametrize("name", RANGED + CHOICES)
def test_a_flag_and_a_preset_key_are_refused_with_one_message(name: str, tmp_path: Path) -> None:
    bad = _outside(name) if name in RANGED else "nonsense"
    with pytest.raises(UsageError) as from_flag:
        build_settings(None, {name: bad})
    p = tmp_path / "bad.toml"
    p.write_text(f"{name} = {bad if name in RANGED else repr(bad)}\n".replace("'", '"'))
    with pytest.raises(UsageError) as from_preset:
        build_settings(str(p), {})
    assert str(from_flag.value) == str(from_preset.value) and str(from_flag.value).startswith(f"{name}: ")


def test_a_flag_out_of_range_is_refused_by_the_program_with_the_declared_range() -> None:
    from tests.helpers import one_line_error

    o = OPTS["vad_threshold"]
    one_line_error(
        wlk("file", "x.wav", "--vad-threshold", "0"), 2, f"vad_threshold: 0.0 is out of range (must be > {o.lo}"
    )
    one_line_error(wlk("file", "x.wav", "--confidence-threshold", "2"), 2, "confidence_threshold: 2.0 is out of range")


def test_component_options_default_to_the_declared_settings() -> None:
    from wlk_cli.diarization.diarizer import DiarizationOptions
    from wlk_cli.policies.alignatt import AlignAttConfig
    from wlk_cli.policies.local_agreement import LocalAgreementOptions
    from wlk_cli.policies.simulstreaming import SimulStreamingOptions

    checked = 0
    for cls in (LocalAgreementOptions, SimulStreamingOptions, DiarizationOptions, AlignAttConfig):
        for f in dataclasses.fields(cls):
            if f.name in OPTS and f.name != "min_chunk_size":  # (0 in the settings: the policy's own)
                assert f.default == default_of(f.name), (cls.__name__, f.name)
                checked += 1
    assert checked >= 15


def test_engine_settings_are_told_apart_from_stream_settings() -> None:
    assert set(ENGINE_FIELDS) == {"model", "device", "compute_type", "threads", "segmentation_model", "embedding_model"}
    for name in ("language", "policy", "frame_threshold", "vad_threshold", "diarization", "speaker_names"):
        assert OPTS[name].scope == "stream"


def test_an_unknown_setting_is_refused_not_ignored() -> None:
    with pytest.raises(UsageError, match="unknown setting 'frame_treshold'"):
        build_settings(None, {"frame_treshold": 3})
