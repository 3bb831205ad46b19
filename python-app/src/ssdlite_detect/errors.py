"""Errors a user can cause. The CLI maps each to one line on stderr and a non-zero exit code.

Every error carries a message written for the person at the board's console: what went wrong
and, where there is one, what to do about it. Nothing else in the package prints.
"""
from __future__ import annotations


class DetectError(Exception):
    """Base class of every error that is the input's or the setup's fault, not a bug."""

    exit_code = 1


class ImageError(DetectError):
    """An input image is missing, unreadable, truncated, corrupt or too large to decode safely."""

    exit_code = 1


class ModelError(DetectError):
    """The model file is missing, not a TFLite flatbuffer, or has unexpected inputs/outputs."""

    exit_code = 3


class LabelsError(DetectError):
    """The labels file is missing, unreadable, or does not match the model's classes."""

    exit_code = 3


class DelegateError(DetectError):
    """A hardware delegate is missing, failed to load, or did not take the graph."""

    exit_code = 4


class RuntimeMissingError(DetectError):
    """No TensorFlow Lite interpreter module is installed."""

    exit_code = 4


class SourceError(DetectError):
    """A video source is missing, busy, unreadable, not a video, corrupt, silent or was lost."""

    exit_code = 1


class LiveUnavailableError(DetectError):
    """GStreamer or its Python bindings (the live mode's packages) are not installed."""

    exit_code = 4


class OutputError(DetectError):
    """An output (an annotated video file) cannot be written or finished."""

    exit_code = 1


class ServiceUnavailableError(DetectError):
    """aiohttp or paho-mqtt (the service mode's packages) are not installed."""

    exit_code = 4
