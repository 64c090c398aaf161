"""The one exception family of wlk.

Library code raises these; only the CLI turns them into a one-line message and an exit code.
"""

from __future__ import annotations


class WlkError(Exception):
    """Base of every error wlk reports to the user as one line."""

    exit_code = 1


class UsageError(WlkError):
    """A bad option value, preset or combination of flags."""

    exit_code = 2


class InputError(WlkError):
    """The audio input cannot be opened, decoded or is empty."""

    exit_code = 3


class ModelError(WlkError):
    """The ASR model cannot be found, downloaded or loaded."""

    exit_code = 4


class DeviceError(WlkError):
    """An audio device cannot be found or opened."""

    exit_code = 5
