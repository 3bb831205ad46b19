"""`ssdlite-detect`: the command line, thin over the ssdlite_detect library.

It parses (with `--config FILE` under the options), picks the mode (ssdlite_detect/commands:
still images, --source for live video, --source with --http/--mqtt for the service), lets the
mode check its options into typed values, opens the model, runs the mode and maps DetectError
to one line on stderr and its exit code.

Only argparse and the standard library load at start; numpy, Pillow and the TFLite runtime load
after the arguments are parsed, so `--help` answers at once on the board.
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import List, Optional

from .commands import common, live, service, stills
from .commands.options import OptionRegistry
from .textout import one_line

PROG = "ssdlite-detect"
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line and exit 2: argparse's 20-line usage block before it buried the line that says
        what is wrong (a zone file's mistake, a URL's port) in a console or the journal; --help
        has the usage."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}\n")  # a value may hold a newline


def build_registry() -> OptionRegistry:
    parser = _Parser(
        prog=PROG,
        description="Detect objects (80 COCO classes) in images, or live in a camera, video file or "
        "RTSP stream (--source), with SSDLite MobileNetV2, on the NPU where the SoC has one "
        "(i.MX 93: Ethos-U65, i.MX 8M Plus: VX delegate), else the CPU.",
        epilog=f"Environment: {common.MODEL_ENVIRONMENT} overrides the installed model (--model wins). "
        "Exit status: 0 ok, 1 an input or output failed, 2 usage or config, 3 model or labels, 4 delegate or "
        "runtime, 130 interrupted.",
    )
    registry = OptionRegistry(parser)
    stills.add_arguments(registry)
    common.add_model_arguments(registry)
    live.add_arguments(registry)
    service.add_arguments(registry)
    common.add_output_arguments(registry)
    return registry


def build_parser() -> argparse.ArgumentParser:
    return build_registry().parser


def parse_arguments(registry: OptionRegistry, argv: Optional[List[str]]) -> argparse.Namespace:
    """The arguments, over the settings of --config FILE when one is given."""
    parser = registry.parser
    args = parser.parse_intermixed_args(argv)
    regions: dict = {}
    if args.config:
        from .config import ConfigError, load_settings

        try:
            settings, regions = load_settings(registry.long_options, args.config)
        except ConfigError as error:
            parser.error(str(error))
        parser.set_defaults(**settings)
        args = parser.parse_intermixed_args(argv)
    args.config_regions = regions  # the file's [[zones]], [[lines]], [tracking] (commands/live.py)
    return args


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(one_line(text) + "\n")  # a message is one line, whatever a URL holds
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed or full: the exit status still tells


def _error(message: str) -> None:
    _stderr_line(f"{PROG}: error: {message}")


def _note(message: str) -> None:
    _stderr_line(f"{PROG}: {message}")


class _Interrupts:
    """Ctrl-C as Python's default handler treats it (KeyboardInterrupt), but remembered: a library
    may turn the KeyboardInterrupt into another error (the TFLite runtime's pybind11 module, when
    interrupted while it loads, raises "ImportError: initialization failed", which reads as "no
    TensorFlow Lite runtime"); after a Ctrl-C, whatever error follows is the interruption."""

    seen = False

    @classmethod
    def handler(cls, _signum, _frame):
        cls.seen = True
        raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    # Ctrl-C at any point, from argument parsing on (the first fraction of a second included),
    # is one line and 130, as a shell reports a command SIGINT stopped.
    _Interrupts.seen = False
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:
        signal.signal(signal.SIGINT, _Interrupts.handler)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    finally:
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)


def _main(argv: Optional[List[str]]) -> int:
    registry = build_registry()
    parser = registry.parser
    args = parse_arguments(registry, argv)
    if service.wanted(args):
        mode, options = service, service.check(parser, args)
    elif args.source:
        mode, options = live, live.check(parser, args)
    else:
        mode, options = stills, stills.check(parser, args, live.OPTIONS + service.OPTIONS)
    try:
        detector = common.open_detector(common.detector_options(args), _note)
        return mode.run(options, detector, _note, _error)
    except Exception as error:  # noqa: BLE001 - one line for the user's errors, a traceback for bugs
        from .errors import DetectError

        if _Interrupts.seen:
            raise KeyboardInterrupt from None  # what the error really was
        if isinstance(error, DetectError):
            _error(str(error))
            return error.exit_code
        raise


if __name__ == "__main__":
    sys.exit(main())
