"""The OpenAI-compatible endpoints through the official ``openai`` package (as tools built on it call
them), against a real `wlk serve` and tiny.en; and the requests it must refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers import clips, wer
from tests.server import Server, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("--max-sessions", "2", "--max-upload-mb", "1", tmp=tmp_path_factory.mktemp("srv")) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.http + "/v1", api_key="not-needed", max_retries=0)


def test_models(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == {"tiny.en", "whisper-1"}


def test_json_and_text(client: openai.OpenAI) -> None:
    path, ref = clips()[0]
    with open(path, "rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert wer(ref, result.text) <= 0.15, result.text
    with open(path, "rb") as f:
        text = client.audio.transcriptions.create(model="tiny.en", file=f, response_format="text")
    assert isinstance(text, str) and wer(ref, text) <= 0.15


def test_verbose_json_with_words_and_segments(client: openai.OpenAI) -> None:
    path, ref = clips()[1]
    with open(path, "rb") as f:
        v = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"],
            language="en", prompt="Vignettes by Turner.",
        )  # fmt: skip
    assert v.language == "english" and 5.5 < v.duration < 6.5
    assert v.words and v.segments and wer(ref, " ".join(w.word for w in v.words)) <= 0.15
    starts = [w.start for w in v.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in v.words)
    assert v.segments[0].start <= v.words[0].start and v.segments[-1].end >= v.words[-1].end - 0.01


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles(client: openai.OpenAI, fmt: str) -> None:
    path, ref = clips()[2]
    with open(path, "rb") as f:
        sub = client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt)  # type: ignore[call-overload]
    assert isinstance(sub, str) and "-->" in sub
    assert sub.startswith("WEBVTT") if fmt == "vtt" else sub.startswith("1\n")


def test_refusals(server: Server, client: openai.OpenAI, tmp_path: Path) -> None:
    url = server.http + "/v1/audio/transcriptions"
    r = httpx.post(url, data={"model": "whisper-1"}, files={"other": ("a.txt", b"x")})
    assert r.status_code == 400 and "no 'file'" in r.json()["error"]["message"]
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"this is not audio at all" * 100)
    with open(not_audio, "rb") as f, pytest.raises(openai.BadRequestError, match="not an audio file"):
        client.audio.transcriptions.create(model="whisper-1", file=f)
    path, _ = clips()[0]
    with open(path, "rb") as f, pytest.raises(openai.BadRequestError, match="response_format 'xml'"):
        client.audio.transcriptions.create(model="whisper-1", file=f, response_format="xml")  # type: ignore[arg-type]
    with open(path, "rb") as f, pytest.raises(openai.BadRequestError, match="model 'gpt-9'"):
        client.audio.transcriptions.create(model="gpt-9", file=f)
    with open(path, "rb") as f, pytest.raises(openai.BadRequestError, match="English-only"):
        client.audio.transcriptions.create(model="whisper-1", file=f, language="de")
    big = httpx.post(url, files={"file": ("big.wav", b"\0" * (2 << 20))})
    assert big.status_code == 413 and "larger than 1 MB" in big.json()["error"]["message"]
    assert httpx.get(server.http + "/health").json() == {
        "status": "ok", "model": "tiny.en", "policy": "local-agreement", "diarization": False,
        "sessions": 0, "capacity": 2,
    }  # fmt: skip
