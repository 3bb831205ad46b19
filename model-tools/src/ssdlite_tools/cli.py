"""`ssdlite-tools`: one command, one module per sub-command under `ssdlite_tools.commands`.

Each command module exposes `add_parser(subparsers)` (which registers its sub-parser and sets
`func` to its `run(args)`); `run` returns an exit code or raises `ToolsError`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ToolsError

# Order = the pipeline order shown in --help.
COMMANDS = ("fetch", "convert", "vela", "check", "evaluate", "bundle")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssdlite-tools",
        description="Convert, check, evaluate and bundle SSDLite MobileNetV2 for i.MX boards.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ssdlite_tools.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ToolsError as error:
        print(f"ssdlite-tools {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ssdlite-tools: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
