"""The command line's options: argument types with their range checks, and a registry that keeps
every long option by name, so that `--config FILE` can check a file's settings with the options'
own parsers (argparse has no public list of a parser's options). Standard library only: this
runs before anything heavy is imported.
"""
from __future__ import annotations

import argparse
from typing import Dict, Optional, Tuple


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {value}")
    return value


def size(text: str) -> Tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, not {text}")
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
