from pathlib import Path

import pytest

from wlk_cli.config import PRESETS_DIR, Settings, build_settings, load_preset, preset_names
from wlk_cli.errors import UsageError


def test_required_presets_exist() -> None:
    assert {"ultra-fast", "balanced", "high-accuracy", "meeting"} <= set(preset_names())


@pytest.mark.parametrize("name", sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
def test_every_preset_is_valid(name: str) -> None:
    values, description = load_preset(name)
    assert description
    build_settings(name, {})


def test_flags_override_the_preset() -> None:
    s = build_settings("high-accuracy", {"model": "tiny.en", "beam_size": None})
    assert s.model == "tiny.en" and s.beam_size == 5


def test_unknown_preset_key_is_named(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text('modle = "tiny"\n')
    with pytest.raises(UsageError, match="unknown key 'modle'"):
        build_settings(str(p), {})


def test_bad_preset_value_is_named(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text('beam_size = "five"\n')
    with pytest.raises(UsageError, match="beam_size"):
        build_settings(str(p), {})
    p.write_text("speed = -1\n")
    with pytest.raises(UsageError, match="speed"):
        build_settings(str(p), {})


def test_bad_toml_and_unknown_name() -> None:
    with pytest.raises(UsageError, match="unknown preset 'nope'"):
        build_settings("nope", {})


@pytest.mark.parametrize(
    "key,value",
    [
        ("speed", -1.0),
        ("speed", 1000.0),
        ("chunk_ms", 0),
        ("chunk_ms", 100000),
        ("beam_size", -1),
        ("min_chunk_size", 0.01),
        ("task", "summarize"),
        ("formats", "srt,docx"),
        ("vac_chunk_size", 0.001),
    ],
)
def test_out_of_range_flags_name_the_field(key: str, value: object) -> None:
    with pytest.raises(UsageError, match=key):
        build_settings(None, {key: value})


def test_defaults_are_valid() -> None:
    assert Settings().validate().model == "base"


def test_the_step_defaults_to_the_policys_and_models_own() -> None:
    assert Settings().chunk_s == 0.6
    assert Settings(policy="simulstreaming", model="tiny.en").chunk_s == 0.1
    assert Settings(policy="simulstreaming", model="/models/faster-whisper-tiny").chunk_s == 0.1
    assert Settings(policy="simulstreaming", model="base").chunk_s == 0.2
    assert Settings(policy="simulstreaming", model="base", min_chunk_size=0.5).chunk_s == 0.5
    assert Settings(policy="simulstreaming", model="base").as_dict()["min_chunk_size"] == 0.2


def test_the_beam_size_defaults_to_the_policys_and_models_own() -> None:
    assert Settings().beams == 1 and Settings(model="tiny.en").beams == 1
    assert Settings(policy="simulstreaming", model="tiny.en").beams == 2
    assert Settings(policy="simulstreaming", model="base").beams == 1
    assert Settings(policy="simulstreaming", model="tiny", beam_size=1).beams == 1
    assert Settings(policy="simulstreaming", model="tiny").as_dict()["beam_size"] == 2  # the start event's


def test_languages_by_name_and_code() -> None:
    import faster_whisper.tokenizer

    from wlk_cli.asr.languages import NAMES, to_code

    assert set(faster_whisper.tokenizer._LANGUAGE_CODES) <= set(NAMES)  # every language Whisper knows has a name
    assert to_code("German") == "de" and to_code("de") == "de" and to_code(" english ") == "en"
    assert Settings(language="Spanish").validate().language == "es"
    assert to_code("klingon") == "klingon"  # left for the model to refuse with its list


@pytest.mark.parametrize(
    "values,needle",
    [({"speaker_names": ["Ann"]}, "speaker_names"), ({"formats": ["srt", "rttm"]}, "rttm")],
)
def test_speaker_options_without_diarization_are_refused(values: dict[str, object], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        Settings(**values).validate()  # type: ignore[arg-type]
    assert Settings(**values, diarization=True).validate()  # type: ignore[arg-type]


def test_a_tiny_model_is_told_by_its_own_name_only() -> None:
    from wlk_cli.asr.models import is_tiny

    assert is_tiny("tiny.en") and is_tiny("/models/faster-whisper-tiny")
    assert not is_tiny("/home/tinyuser/large-v3") and not is_tiny("base")
    assert Settings(policy="simulstreaming", model="/home/tinyuser/large-v3").chunk_s == 0.2  # a larger model's step
