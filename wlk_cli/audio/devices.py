"""Input devices: PortAudio's, plus PulseAudio/PipeWire sources (monitors carry system audio).

PortAudio on Linux sees the sound server only as the ALSA devices ``pulse``/``default``; a particular
source (a monitor of an output) is opened through ``pulse`` with ``PULSE_SOURCE`` naming it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from wlk_cli.errors import DeviceError

_MONITOR_WORDS = ("monitor", "loopback", "stereo mix", "what u hear")


@dataclass(frozen=True)
class InputDevice:
    """Something wlk can capture from."""

    index: int
    """PortAudio device index to open (for a sound-server source: the ``pulse`` device)."""
    name: str
    hostapi: str
    channels: int
    default_rate: float
    is_default: bool = False
    is_monitor: bool = False
    pulse_source: str | None = None
    """Sound-server source name to select with PULSE_SOURCE, when this is one."""
    number: int = -1
    """The number `wlk devices` lists and ``--device`` takes: the PortAudio index, or for a sound-server
    source (opened through ``pulse``, so its index is not its own) a number after PortAudio's."""

    @property
    def label(self) -> str:
        return self.pulse_source or self.name

    @property
    def id(self) -> int:
        return self.number if self.number >= 0 else self.index


def quiet_native_stderr() -> None:
    """Keep PortAudio's and ALSA's own diagnostics (printed by C code to fd 2) off the user's screen.

    Python's stderr (our one-line errors, the TUI, which draws on stderr) moves to a duplicate of the
    terminal's descriptor; fd 2 itself then points at /dev/null. Call once, before sounddevice loads.
    """
    if getattr(quiet_native_stderr, "done", False):
        return
    try:
        sys.stderr.flush()
        keep = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        return
    stream = os.fdopen(keep, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    sys.stderr = stream
    sys.__stderr__ = stream  # type: ignore[misc]  # Textual draws on sys.__stderr__
    quiet_native_stderr.done = True  # type: ignore[attr-defined]


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as e:  # the PortAudio library itself is missing
        raise DeviceError(f"audio capture is unavailable: {e} (install libportaudio2)") from None
    return sd


def _pactl(*args: str) -> str | None:
    if shutil.which("pactl") is None:
        return None
    try:
        r = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def _parse_spec(spec: str) -> tuple[int, float]:
    """'s16le 2ch 44100Hz' -> (2, 44100.0)."""
    channels, rate = 2, 44100.0
    for part in spec.split():
        if part.endswith("ch") and part[:-2].isdigit():
            channels = int(part[:-2])
        elif part.endswith("Hz") and part[:-2].isdigit():
            rate = float(part[:-2])
    return channels, rate


def pulse_sources() -> list[tuple[str, int, float]]:
    """(name, channels, rate) of each sound-server source, or [] without pactl or a server."""
    out = _pactl("list", "short", "sources")
    if not out:
        return []
    sources = []
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) >= 4:
            ch, rate = _parse_spec(cols[3])
            sources.append((cols[1], ch, rate))
    return sources


def default_sink_monitor() -> str | None:
    out = _pactl("get-default-sink")
    return f"{out.strip()}.monitor" if out and out.strip() else None


def list_inputs() -> list[InputDevice]:
    """Every input: PortAudio devices, then sound-server sources reachable through the ``pulse`` device."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot list audio devices: {e}") from None
    out: list[InputDevice] = []
    pulse_index: int | None = None
    for i, d in enumerate(devices):
        if d["max_input_channels"] <= 0:
            continue
        name = str(d["name"])
        if name == "pulse":
            pulse_index = i
        out.append(
            InputDevice(
                index=i,
                name=name,
                hostapi=str(hostapis[d["hostapi"]]["name"]),
                channels=int(d["max_input_channels"]),
                default_rate=float(d["default_samplerate"]),
                is_default=(i == default_in),
                is_monitor=any(w in name.lower() for w in _MONITOR_WORDS),
            )
        )
    if pulse_index is not None:
        default_source = (_pactl("get-default-source") or "").strip()
        for k, (name, ch, rate) in enumerate(pulse_sources()):
            out.append(
                InputDevice(
                    index=pulse_index,
                    name=name,
                    hostapi="PulseAudio",
                    channels=ch,
                    default_rate=rate,
                    is_default=name == default_source,
                    is_monitor=name.endswith(".monitor"),
                    pulse_source=name,
                    number=len(devices) + k,
                )
            )
    if any(d.is_default and d.pulse_source for d in out):  # the server's default source is what
        # PortAudio's default records from: one device is the default, the one named for what it is
        out = [dataclasses.replace(d, is_default=False) if d.pulse_source is None else d for d in out]
    return out


def pick_input(spec: str | None = None, system: bool = False, devices: list[InputDevice] | None = None) -> InputDevice:
    """The device a user means: default input, ``--system`` (default output's monitor), an index or a name part."""
    devices = list_inputs() if devices is None else devices
    if not devices:
        raise DeviceError("no audio input device found (no sound card or sound server; see `wlk devices`)")
    if system:
        want = default_sink_monitor()
        monitors = [d for d in devices if d.is_monitor]
        for d in monitors:
            if want is not None and d.label == want:
                return d
        if len(monitors) == 1:
            return monitors[0]
        if not monitors:
            raise DeviceError("no system-audio (monitor or loopback) source found; see `wlk devices`")
        raise DeviceError("several monitor sources and no default output; pick one with --device")
    if spec is None:
        return next((d for d in devices if d.is_default), devices[0])
    if spec.strip().isdigit():
        idx = int(spec)
        for d in devices:
            if d.id == idx:
                return d
        raise DeviceError(f"no input device with number {idx}; see `wlk devices`")
    key = spec.lower()
    exact = [d for d in devices if d.label.lower() == key or d.name.lower() == key]
    if len(exact) == 1:
        return exact[0]
    found = [d for d in devices if key in d.label.lower() or key in d.name.lower()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DeviceError(f"no input device matches {spec!r}; see `wlk devices`")
    names = ", ".join(repr(d.label) for d in found[:6])
    raise DeviceError(f"device {spec!r} matches several ({names}); give more of the name or the index")
