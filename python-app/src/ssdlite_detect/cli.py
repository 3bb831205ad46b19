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
import sys
from typing import List, Optional

from .commands import common, live, service, stills
from .commands.options import OptionRegistry

PROG = "ssdlite-detect"
EXIT_USAGE = 2


def build_registry() -> OptionRegistry:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Detect objects (80 COCO classes) in images, or live in a camera, video file or "
        "RTSP stream (--source), with SSDLite MobileNetV2, on the NPU where the SoC has one "
        "(i.MX 93: Ethos-U65, i.MX 8M Plus: VX delegate), else the CPU.",
        epilog=f"Environment: {common.MODEL_ENVIRONMENT} overrides the installed model (--model wins). "
        "Exit status: 0 ok, 1 an input failed, 2 usage, 3 model or labels, 4 delegate or runtime.",
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


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
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
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as error:  # noqa: BLE001 - one line for the user's errors, a traceback for bugs
        from .errors import DetectError

        if isinstance(error, DetectError):
            _error(str(error))
            return error.exit_code
        raise


if __name__ == "__main__":
    sys.exit(main())
