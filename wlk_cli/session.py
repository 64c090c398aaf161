"""One stream: its feed, its state on the engine's models (backend, policy, VAD, diarizer), its files,
and the controls a front end needs. Making one loads nothing: the models are the engine's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wlk_cli.config import Settings
from wlk_cli.engine import Engine
from wlk_cli.errors import UsageError
from wlk_cli.events import EndStats, SessionInfo


class StreamControls:
    """What a front end can ask of a stream, local or remote: ``feed``, ``file_sink`` and ``interrupted``
    are the stream's."""

    def __init__(
        self,
        settings: Settings,
        feed: Any,
        source_label: str,
        file_sink: Any | None,
        total_s: float | None = None,
        extra_sinks: list[Any] | None = None,
    ) -> None:
        self.settings = settings
        self.feed = feed
        self.source_label = source_label
        self.model = settings.model
        self.policy = settings.policy
        self.file_sink = file_sink
        self.total_s = total_s
        self.extra_sinks = extra_sinks or []
        self.interrupted = False

    def pause(self, paused: bool) -> None:
        self.feed.pause(paused)

    def save(self) -> list[Path]:
        return list(self.file_sink.write()) if self.file_sink is not None else []

    def written(self) -> list[Path]:
        """The files this session has written so far."""
        return [p for p in self.file_sink.paths.values() if p.exists()] if self.file_sink is not None else []

    def name_speaker(self, name: str) -> str:
        """Save the voice speaking now as a profile called ``name`` and label it so; returns what was done."""
        raise UsageError("naming a speaker needs --diarization on this machine (not over --server)")

    def stop(self, interrupted: bool | None = None) -> None:
        """End the stream; what was heard is finished and written. ``interrupted``: True for Ctrl-C and
        SIGTERM; None (q) counts as an interruption when a file's audio was not all released yet (a live
        source has no end of its own: stopping it is how it ends)."""
        if interrupted is None:
            interrupted = not self.feed.live and not self.feed.exhausted
        self.interrupted = self.interrupted or interrupted
        self.feed.stop()


class Session(StreamControls):
    """One stream: a feed, its state on the engine's models, its files; and the controls a UI needs
    (thread-safe). Making one loads nothing: the models are the engine's."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        feed: Any,
        source_label: str,
        file_sink: Any | None,
        total_s: float | None = None,
        extra_sinks: list[Any] | None = None,
    ) -> None:
        super().__init__(settings, feed, source_label, file_sink, total_s, extra_sinks)
        parts = engine.stream(settings)
        self.asr = parts.asr
        self._policy = parts.policy
        self._vad = parts.vad
        self._final = parts.final
        self._diarization: Any = None
        self._attribution: Any = None
        if parts.diarizer is not None:
            from wlk_cli.diarization.attribution import SpeakerAttribution
            from wlk_cli.diarization.refine import refine_options
            from wlk_cli.diarization.voices import chosen
            from wlk_cli.diarization.worker import DiarizationWorker

            voices = chosen(settings.speakers)
            self._diarization = DiarizationWorker(feed.ring, parts.diarizer, refine_options(settings), voices)
            self._attribution = SpeakerAttribution(settings.speaker_names)

    def name_speaker(self, name: str) -> str:
        from wlk_cli.diarization import voices

        if self._diarization is None:
            return super().name_speaker(name)
        name = voices.check_name(name)
        if voices.exists(name):
            raise UsageError(f"a voice profile named {name!r} exists (wlk speakers rm {name})")
        current = self._attribution.current()
        if current is None:
            raise UsageError("no one has spoken yet")
        number, label, spoken = current
        if spoken < voices.MIN_SPEECH_S:
            raise UsageError(f"{label} has spoken {spoken:.1f} s: name them after at least {voices.MIN_SPEECH_S:.0f} s")
        centre = self._attribution.centre(number, self._diarization.diarizer.centres())
        if centre is None:
            raise UsageError(f"{label}'s voice is not known well enough yet")
        import datetime

        created = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        voice = voices.Voice(name, centre, spoken, (f"{self.source_label} ({label})",), created)
        path = voices.save(voice)
        self._diarization.voices.append(voice)  # named from the next chunk on, earlier words relabelled
        return f"{label} is {name} now (profile {path})"

    def run(self, sinks: list[Any]) -> EndStats:
        from wlk_cli.pipeline import Pipeline
        from wlk_cli.sinks.base import SinkFanout

        all_sinks = [*sinks, *self.extra_sinks, *([self.file_sink] if self.file_sink is not None else [])]
        pipeline = Pipeline(
            self.feed,
            self._policy,
            SinkFanout(all_sinks),
            self._vad,
            language=lambda: self.asr.language,
            total_s=self.total_s,
            diarization=self._diarization,
            attribution=self._attribution,
            stopped_early=lambda: self.interrupted,
            max_lag=self.settings.max_lag,
            final=self._final,
        )
        info = SessionInfo(
            source=self.source_label,
            settings={
                **self.settings.as_dict(),
                "device": self.asr.model.device,
                "compute_type": self.asr.model.compute_type,
                "duration_s": self.total_s,
            },
        )
        self.feed.start()
        return pipeline.run(info)
