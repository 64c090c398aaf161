"""Known voices: speaker profiles made from clips, kept in the user's data directory, and naming.

A profile is the mean CAM++ embedding of one voice, made the way the diarizer makes them (the same
5 s chunks, segmentation weights and models), so a live speaker's centre can be compared with it. One
JSON file per profile in ``<user data dir>/wlk/speakers/`` (``platformdirs``; ``XDG_DATA_HOME`` moves
it), written atomically.

Naming: the speakers found (their centres) and the profiles asked for are matched one-to-one
(Hungarian) on cosine distance; a pair closer than ``NAME_DISTANCE`` names that speaker, and another
speaker that close to its nearest profile gets that name too.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlk_cli.errors import InputError, UsageError, WlkError

PROFILE_VERSION = 1
NAME_DISTANCE = 0.5  # cosine distance under which a speaker is taken to be a known voice
MIN_SPEECH_S = 2.0  # speech a profile needs, over all its clips
_NAME = re.compile(r"^[^\W_][\w .'-]{0,62}[\w.']?$")
_AUTO = re.compile(r"^S\d+$")  # the labels of unknown speakers


class ProfileError(WlkError):
    """A voice profile cannot be made, found or read."""

    exit_code = 2


@dataclass(frozen=True)
class Voice:
    name: str
    embedding: np.ndarray
    """Unit vector (CAM++, 192 values)."""
    speech_s: float
    clips: tuple[str, ...]
    created: str


def profiles_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("wlk")) / "speakers"


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise UsageError(
            f"speaker name {name!r}: use letters, digits, spaces, . ' - (at most 64, starting with a letter or digit)"
        )
    if _AUTO.match(name) or name.lower() == "all":
        raise UsageError(f"speaker name {name!r} is how wlk labels unknown speakers; choose another")
    return name


def _path(name: str) -> Path:
    return profiles_dir() / f"{name.casefold()}.json"


def load(path: Path) -> Voice:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        emb = np.asarray(doc["embedding"], dtype=np.float32)
        if doc.get("version") != PROFILE_VERSION or emb.ndim != 1 or emb.size < 16 or not np.isfinite(emb).all():
            raise ValueError("not a wlk voice profile")
        norm = float(np.linalg.norm(emb))
        if norm == 0:
            raise ValueError("empty embedding")
        return Voice(str(doc["name"]), emb / norm, float(doc["speech_s"]), tuple(doc["clips"]), str(doc["created"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        name = path.stem
        raise ProfileError(
            f"voice profile {path} is damaged ({str(e).splitlines()[0][:80]}): remove it with: wlk speakers rm {name}"
        ) from None


def all_voices() -> list[Voice]:
    folder = profiles_dir()
    return sorted((load(p) for p in folder.glob("*.json")), key=lambda v: v.name.casefold()) if folder.is_dir() else []


def chosen(names: Sequence[str]) -> list[Voice]:
    """The profiles ``--speakers`` names (``all``: every one); an unknown name is an error."""
    if not names:
        return []
    if [n.strip().lower() for n in names] == ["all"]:
        voices = all_voices()
        if not voices:
            raise UsageError("speakers: no voice profiles yet (make one with: wlk speakers add NAME clip.wav)")
        return voices
    out = []
    for n in names:
        path = _path(n.strip())
        if not path.exists():
            known = ", ".join(v.name for v in all_voices()) or "none yet"
            raise UsageError(
                f"speakers: no voice profile named {n.strip()!r} (known: {known};"
                " add one with: wlk speakers add NAME clip.wav)"
            )
        out.append(load(path))
    return out


def exists(name: str) -> bool:
    return _path(name.strip()).exists()


def save(voice: Voice, replace: bool = False) -> Path:
    from wlk_cli.sinks.files import atomic_write

    path = _path(voice.name)
    if path.exists() and not replace:
        raise UsageError(f"a voice profile named {voice.name!r} exists (wlk speakers rm {voice.name}, or --replace)")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": PROFILE_VERSION,
        "name": voice.name,
        "model": "campplus",
        "speech_s": round(voice.speech_s, 2),
        "clips": list(voice.clips),
        "created": voice.created,
        "embedding": [round(float(x), 6) for x in voice.embedding],
    }
    atomic_write(path, json.dumps(doc, indent=1) + "\n")
    return path


def remove(name: str) -> Path:
    path = _path(name.strip())
    if not path.exists():
        known = ", ".join(v.name for v in all_voices()) or "none"
        raise UsageError(f"no voice profile named {name.strip()!r} (known: {known})")
    path.unlink()
    return path


def enrol(models: Any, name: str, clips: Sequence[str], vad_model: Any) -> Voice:
    """A profile from ``clips`` of one voice alone; refuses silence, music, too little speech, two voices."""
    from wlk_cli.audio.decode import read_audio
    from wlk_cli.diarization.diarizer import StreamingDiarizer
    from wlk_cli.diarization.refine import RefineOptions, refine

    name = check_name(name)
    vectors, speech_total = [], 0.0
    for clip in clips:
        audio, error = read_audio(clip)
        if error is not None:
            raise InputError(f"{clip}: {error}")
        speech = _speech_seconds(audio, vad_model)
        if speech < 0.3:
            raise ProfileError(f"{clip}: no speech found (silence or music?): a profile needs a clip of {name} talking")
        diarizer = StreamingDiarizer(models)
        diarizer.process(audio)
        diarizer.finish()
        refined = refine(diarizer.log, RefineOptions(min_chunks=4))
        voices = _voices_in(diarizer.log, refined)
        talk = sorted(voices.values(), key=lambda v: -v[1])
        if len(talk) > 1 and talk[1][1] >= 1.0:
            parts = ", ".join(f"{s:.1f} s" for _, s in talk[:3])
            raise ProfileError(f"{clip}: more than one voice ({parts}): give a clip of {name} alone")
        if not talk:
            raise ProfileError(f"{clip}: no voice the diarizer could follow: a profile needs a clip of {name} talking")
        vectors.append(talk[0][0] * talk[0][1])
        speech_total += speech
    if speech_total < MIN_SPEECH_S:
        raise ProfileError(
            f"only {int(speech_total * 10) / 10:.1f} s of speech in {', '.join(clips)}:"
            f" a profile needs at least {MIN_SPEECH_S:.0f} s"
        )
    mean = np.sum(vectors, axis=0)
    created = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return Voice(name, mean / np.linalg.norm(mean), speech_total, tuple(str(Path(c).name) for c in clips), created)


def _speech_seconds(audio: np.ndarray, vad_model: Any) -> float:
    """Seconds of speech in ``audio`` (Silero windows of 32 ms with probability >= 0.5)."""
    from wlk_cli.vad import WINDOW, speech_windows

    return int(speech_windows(vad_model, audio).sum()) * WINDOW / 16000


def _voices_in(log: Any, refined: Any) -> dict[int, tuple[np.ndarray, float]]:
    """Each voice of a clip: its unit mean embedding and seconds of speech (from a refine, or from the
    live speakers when the clip is too short to refine)."""
    from wlk_cli.diarization.refine import aggregate

    turns = refined.turns if refined is not None else aggregate(log, log.live, 0.6)
    talk: dict[int, float] = {}
    for t in turns:
        talk[t.speaker] = talk.get(t.speaker, 0.0) + t.end - t.start
    if refined is not None:
        return {k: (refined.centroids[k], s) for k, s in talk.items() if k in refined.centroids}
    sums: dict[int, np.ndarray] = {}
    for seg, emb, live in zip(log.segmentations, log.embeddings, log.live):
        for local, g in live.items():
            if seg[:, local].astype(np.float32).mean() >= 0.2 and np.isfinite(emb[local]).all():
                e = emb[local] / max(float(np.linalg.norm(emb[local])), 1e-9)
                sums[g] = sums.get(g, 0) + e
    return {k: (sums[k] / np.linalg.norm(sums[k]), s) for k, s in talk.items() if k in sums}


def name_speakers(
    centres: Mapping[int, np.ndarray], voices: Sequence[Voice], limit: float = NAME_DISTANCE
) -> dict[int, str]:
    """Speaker -> profile name for the speakers whose centre is within ``limit`` of a profile: matched
    one-to-one first (a speaker between two profiles takes the one no other speaker is nearer), then any
    other speaker within ``limit`` of its nearest profile, a voice named so, gets that name too. One voice can have two
    live speakers: a first stretch of it just past ``limit`` opens a speaker of its own, which its later
    speech then joins (test_speakers' Perla, once the known-voice split cut her first words off
    another voice's local speaker)."""
    from scipy.optimize import linear_sum_assignment

    keys = [k for k, c in centres.items() if np.linalg.norm(c) > 0]
    if not keys or not voices:
        return {}
    c = np.stack([centres[k] / np.linalg.norm(centres[k]) for k in keys])
    v = np.stack([x.embedding for x in voices])
    dist = 1.0 - c @ v.T
    rows, cols = linear_sum_assignment(dist)
    out = {keys[r]: voices[k].name for r, k in zip(rows, cols) if dist[r, k] < limit}
    for r, key in enumerate(keys):
        k = int(np.argmin(dist[r]))
        if key not in out and dist[r, k] < limit and voices[k].name in out.values():
            out[key] = voices[k].name
    return out
