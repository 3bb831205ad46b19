"""The command line's options: argument types with their range checks, and a registry that keeps
every long option by name, so that `--config FILE` can check a file's settings with the options'
own parsers (argparse has no public list of a parser's options). Standard library only: this
runs before anything heavy is imported.
"""
from __future__ import annotations

import argparse
from typing import Dict, Optional, Tuple


# Upper bounds where the option has no natural one: a value past them is a typo or an attack on
# whatever receives it (a C int in TFLite's SetNumThreads, a timer that overflows), not a setting.
MAX_INT = 2**31 - 1
MAX_SECONDS = 365 * 24 * 3600.0
MAX_SIDE = 16384  # a frame side: past every camera and every GStreamer scaler's caps


def positive_int(text: str, maximum: int = MAX_INT) -> int:
    value = int(text)
    if not 1 <= value <= maximum:
        raise argparse.ArgumentTypeError(f"must be in [1, {maximum}], not {value}")
    return value


def positive_float(text: str, maximum: float = MAX_SECONDS) -> float:
    value = float(text)
    if not 0 < value <= maximum:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {maximum:g}, not {text}")
    return value


def at_most(parse, maximum):
    """`parse` (positive_int or positive_float) with a tighter upper bound; keeps parse's name,
    which argparse shows in its messages."""

    def parse_bounded(text: str):
        return parse(text, maximum)

    parse_bounded.__name__ = parse.__name__
    return parse_bounded


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {value}")
    return value


def size(text: str) -> Tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and 0 < int(width) <= MAX_SIDE and 0 < int(height) <= MAX_SIDE):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 640x480, each side 1 to {MAX_SIDE}, not {text}")
    return int(width), int(height)


def http_address(text: str) -> Tuple[str, int]:
    """[HOST:]PORT -> (host, port); the host defaults to 127.0.0.1, port 0 picks a free one."""
    host, separator, port = text.rpartition(":")
    host = host.strip("[]") if separator else "127.0.0.1"  # [::1]:8080 for IPv6
    if not port.isdigit() or int(port) > 65535 or not host:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT such as 8080 or 0.0.0.0:8080, not {text}")
    return host, int(port)


class OptionRegistry:
    """A parser's option groups, and its long options by name (without the dashes)."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser
        self.long_options: Dict[str, argparse.Action] = {}

    def group(self, title: str, description: Optional[str] = None) -> "OptionGroup":
        return OptionGroup(self, self.parser.add_argument_group(title, description))


class OptionGroup:
    def __init__(self, registry: OptionRegistry, group):
        self._registry = registry
        self._group = group

    def add(self, *flags: str, **kwargs) -> argparse.Action:
        action = self._group.add_argument(*flags, **kwargs)
        for flag in flags:
            if flag.startswith("--"):
                self._registry.long_options[flag[2:]] = action
        return action


def given(args: argparse.Namespace, names) -> list:
    """The options among `names` (long names, e.g. "source-size") that `args` sets."""
    return [f"--{name}" for name in names if getattr(args, name.replace("-", "_"))]
