"""Errors a user can cause; the CLI turns each into one line on stderr and a non-zero exit."""


class ToolsError(Exception):
    """Base class of every error the user can fix (missing input, no network, failed gate)."""

    exit_code = 2


class GateFailed(ToolsError):
    """A BSP compatibility or accuracy gate did not pass."""

    exit_code = 3
