"""wlk: terminal-first real-time speech transcription."""

__version__ = "0.1.0"
