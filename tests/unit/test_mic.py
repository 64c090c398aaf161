"""MicrophoneFeed at the source boundary, with a fake PortAudio stream where faults cannot be made for real."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from wlk_cli.audio.devices import InputDevice, pick_input
from wlk_cli.audio.mic import MicrophoneFeed
from wlk_cli.audio.ring import RingBuffer
from wlk_cli.errors import DeviceError

DEV = InputDevice(index=3, name="USB Mic", hostapi="ALSA", channels=2, default_rate=48000.0)


class FakeStream:
    """Calls the callback with stereo blocks from a thread, like PortAudio; can overflow or die."""

    refuse: set[int] = set()

    def __init__(
        self, *, samplerate: int, channels: int, blocksize: int, callback: Any, finished_callback: Any, **kw: Any
    ) -> None:
        if samplerate in self.refuse:
            import sounddevice as sd

            raise sd.PortAudioError(f"Invalid sample rate {samplerate}")
        self.rate, self.channels, self.blocksize = samplerate, channels, blocksize
        self.callback, self.finished = callback, finished_callback
        self.blocks_to_send = 10**9
        self.overflow_every = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set() and k < self.blocks_to_send:
            t = (np.arange(self.blocksize) + k * self.blocksize) / self.rate
            block = np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * self.channels, axis=1).astype(np.float32)
            status = type("S", (), {"input_overflow": bool(self.overflow_every and k % self.overflow_every == 0)})()
            self.callback(block, self.blocksize, None, status)
            k += 1
            time.sleep(self.blocksize / self.rate / 4)  # 4x real time keeps tests short
        if not self._stop.is_set():
            self.finished()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.thread.join(1)


def make_feed(**stream_attrs: Any) -> tuple[MicrophoneFeed, list[FakeStream]]:
    made: list[FakeStream] = []

    def factory(**kw: Any) -> FakeStream:
        s = FakeStream(**kw)
        for k, v in stream_attrs.items():
            setattr(s, k, v)
        made.append(s)
        return s

    return MicrophoneFeed(DEV, RingBuffer(16000 * 30), block_ms=100, stream_factory=factory), made


def test_stereo_48k_becomes_16k_mono_in_the_ring() -> None:
    feed, made = make_feed(blocks_to_send=20)
    feed.open()
    assert feed.rate == 48000 and made[0].channels == 2
    pos = 0
    deadline = time.monotonic() + 5
    while feed.ring.end < 16000 * 1.9 and time.monotonic() < deadline:
        feed.wait_beyond(pos, timeout=0.1)
        pos = feed.ring.end
    feed.stop()
    assert abs(feed.ring.end - 32000) <= 400  # 20 blocks of 0.1 s, resampled
    _, audio = feed.ring.read(4000, 8000)
    assert 0.3 < float(np.abs(audio).max()) < 0.6  # the tone, not silence or a doubled sum
    assert feed.level_db > -10
    assert feed.release_wall(8000) is not None


def test_overflows_are_counted() -> None:
    feed, _ = make_feed(overflow_every=5, blocks_to_send=20)
    feed.open()
    time.sleep(0.8)
    feed.stop()
    assert feed.overflows >= 3


def test_a_device_that_dies_is_reported_after_its_audio() -> None:
    feed, _ = make_feed(blocks_to_send=5)
    feed.open()
    got = 0
    with pytest.raises(DeviceError, match="stopped delivering audio"):
        for _ in range(100):
            feed.wait_beyond(got, timeout=0.1)
            got = feed.ring.end
    assert got >= 4 * 1600  # the audio before the loss was delivered first


def test_a_refused_rate_falls_back_and_all_refused_is_one_error() -> None:
    FakeStream.refuse = {48000}
    try:
        feed, _ = make_feed()
        feed.open()
        assert feed.rate == 16000
        feed.stop()
        FakeStream.refuse = {48000, 16000, 44100}
        feed, _ = make_feed()
        with pytest.raises(DeviceError, match="refused every sample rate"):
            feed.open()
    finally:
        FakeStream.refuse = set()


def test_pause_drops_audio_and_stop_ends_the_stream() -> None:
    feed, _ = make_feed()
    feed.open()
    feed.pause(True)
    time.sleep(0.3)
    feed.wait_beyond(0, timeout=0.05)
    assert feed.ring.end == 0
    feed.pause(False)
    deadline = time.monotonic() + 3
    while feed.ring.end == 0 and time.monotonic() < deadline:
        feed.wait_beyond(0, timeout=0.1)
    assert feed.ring.end > 0
    feed.stop()
    pos = feed.ring.end
    while feed.wait_beyond(pos, timeout=0.1):
        pos = feed.ring.end
    assert feed.wait_beyond(pos) is False


DEVICES = [
    InputDevice(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "ALSA", 2, 44100.0),
    InputDevice(5, "pulse", "ALSA", 32, 44100.0),
    InputDevice(6, "default", "ALSA", 32, 44100.0, is_default=True),
    InputDevice(
        5, "alsa_input.usb-Blue_Yeti", "PulseAudio", 2, 48000.0, pulse_source="alsa_input.usb-Blue_Yeti", number=8
    ),
    InputDevice(
        5,
        "alsa_output.pci.analog-stereo.monitor",
        "PulseAudio",
        2,
        48000.0,
        is_monitor=True,
        pulse_source="alsa_output.pci.analog-stereo.monitor",
        number=9,
    ),
]


def test_pick_by_index_substring_and_default() -> None:
    assert pick_input(None, devices=DEVICES).name == "default"
    assert pick_input("0", devices=DEVICES).index == 0
    assert pick_input("5", devices=DEVICES).name == "pulse"  # the number listed, not the first device on it
    assert pick_input("9", devices=DEVICES).is_monitor  # a sound-server source by its own number
    assert pick_input("yeti", devices=DEVICES).pulse_source == "alsa_input.usb-Blue_Yeti"
    assert pick_input("pulse", devices=DEVICES).name == "pulse"  # an exact name wins over substrings
    assert pick_input(None, system=True, devices=DEVICES).is_monitor


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("nothing-like-this", "no input device matches"),
        ("alsa", "matches several"),
        ("42", "no input device with number"),
    ],
)
def test_pick_errors_are_one_clear_line(spec: str, needle: str) -> None:
    with pytest.raises(DeviceError, match=needle):
        pick_input(spec, devices=DEVICES)


def test_no_devices_at_all() -> None:
    with pytest.raises(DeviceError, match="no audio input device found"):
        pick_input(None, devices=[])
    with pytest.raises(DeviceError, match="no system-audio"):
        pick_input(None, system=True, devices=DEVICES[:3])
