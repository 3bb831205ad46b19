"""`ssdlite-detect`: a thin command line over the ssdlite_detect library.

Only argparse and the standard library load at start; numpy, Pillow and the TFLite runtime load
after the arguments are parsed, so `--help` answers at once on the board.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Iterator, List, Optional, Sequence, Tuple

PROG = "ssdlite-detect"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def _size(text: str) -> Tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, not {text}")
    return int(width), int(height)


def _http_address(text: str) -> Tuple[str, int]:
    """[HOST:]PORT -> (host, port); the host defaults to 127.0.0.1, port 0 picks a free one."""
    host, separator, port = text.rpartition(":")
    host = host.strip("[]") if separator else "127.0.0.1"  # [::1]:8080 for IPv6
    if not port.isdigit() or int(port) > 65535 or not host:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT such as 8080 or 0.0.0.0:8080, not {text}")
    return host, int(port)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Detect objects (80 COCO classes) in images, or live in a camera, video file or "
        "RTSP stream (--source), with SSDLite MobileNetV2, on the NPU where the SoC has one "
        "(i.MX 93: Ethos-U65, i.MX 8M Plus: VX delegate), else the CPU.",
        epilog="Environment: SSDLITE_MODEL overrides the installed model (--model wins). "
        "Exit status: 0 ok, 1 an input failed, 2 usage, 3 model or labels, 4 delegate or runtime.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or directories of images")
    model = parser.add_argument_group("model and backend")
    model.add_argument("--model", help="a .tflite model (default: the installed one that fits this SoC)")
    model.add_argument("--labels", help="labels file, one per line, line i = class id i (default: beside the model)")
    model.add_argument("--device", choices=("auto", "cpu", "npu"), default="auto",
                       help="auto: NPU if present, else CPU (default); npu: fail without one")
    model.add_argument("--delegate", metavar="PATH", help="external TFLite delegate library to use")
    model.add_argument("--threads", type=_positive_int, help="CPU threads (default: one per core)")
    model.add_argument("--score-kind", choices=("auto", "logits", "probabilities", "softmax"), default="auto",
                       help="class output: logits (sigmoid), probabilities, or softmax logits "
                       "(default: the model's model.json, else read the model)")
    post = parser.add_argument_group("detections")
    post.add_argument("--score-threshold", type=_fraction, default=0.5, help="minimum score (default 0.5)")
    post.add_argument("--iou-threshold", type=_fraction, default=0.6, help="NMS IoU threshold (default 0.6)")
    post.add_argument("--max-detections", type=_positive_int, default=100, help="at most this many per image (default 100)")
    post.add_argument("--max-per-class", type=_positive_int, default=100, help="at most this many per class with --nms class")
    post.add_argument("--nms", choices=("class", "agnostic"), default="class",
                      help="class: per-class NMS (TF OD API default); agnostic: TFLite's fast NMS")
    post.add_argument("--classes", metavar="NAMES", help="comma-separated class names to keep, e.g. person,car")
    live = parser.add_argument_group("live video (instead of image paths)")
    live.add_argument("--source", metavar="SOURCE",
                      help="camera (the first capture device), /dev/videoN, a video file, rtsp://URL or testsrc")
    live.add_argument("--frames", type=_positive_int, metavar="N", help="stop after N processed frames")
    live.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="stop after SECONDS")
    live.add_argument("--realtime", action="store_true",
                      help="video files: keep the file's pace and drop late frames (default: every frame)")
    live.add_argument("--source-size", type=_size, metavar="WxH", help="cameras and testsrc: frame size to capture")
    live.add_argument("--source-fps", type=_positive_int, metavar="N", help="cameras and testsrc: frame rate to capture")
    live.add_argument("--connect-timeout", type=_positive_float, default=10.0, metavar="SECONDS",
                      help="give up on a camera or stream that sends no frame within SECONDS (default 10)")
    service = parser.add_argument_group(
        "service (with --source: keep running and serve the results; see README: service mode)")
    service.add_argument("--http", type=_http_address, metavar="[HOST:]PORT",
                         help="serve the live view and the HTTP API (default host 127.0.0.1)")
    service.add_argument("--mqtt", metavar="URL",
                         help="publish results to mqtt://[user:password@]host[:port]/prefix (mqtts:// for TLS)")
    service.add_argument("--config", metavar="FILE",
                         help="TOML file of settings named like these long options (the command line wins)")
    service.add_argument("--http-token-file", metavar="FILE",
                         help="clients must present the token in FILE (Bearer header, or log in at /login); "
                         "needed to listen beyond 127.0.0.1")
    service.add_argument("--http-unauthenticated", action="store_true",
                         help="listen beyond 127.0.0.1 without a token: anyone who can reach it sees the video")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object per image or frame (JSON Lines)")
    out.add_argument("--output", metavar="DIR|FILE",
                     help="images: write annotated copies into DIR; --source: write the annotated video "
                     "to FILE (.mkv or .avi: MJPEG, or H.264 on the i.MX 8M Plus; .mp4 and .mov need H.264)")
    out.add_argument("--benchmark", type=_positive_int, metavar="N",
                     help="time N end-to-end runs on the first image (after a warm-up run)")
    out.add_argument("--verbose", action="store_true",
                     help="say on stderr which model, description (model.json), anchors and scores are used")
    return parser


def iter_image_paths(paths: Sequence[str]) -> Iterator[str]:
    """Files as given; directories expanded to their images (sorted, not recursive)."""
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                candidate = os.path.join(path, name)
                if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(candidate):
                    yield candidate
        else:
            yield path  # missing files are reported by the loader, with the others still processed


def format_text(result) -> str:
    timing = result.timing_ms
    lines = [
        f"{result.image}: {len(result.detections)} object(s), {result.width}x{result.height}, "
        f"{result.backend}, preprocess {timing['preprocess']:.1f} ms, inference {timing['inference']:.1f} ms, "
        f"postprocess {timing['postprocess']:.1f} ms"
    ]
    for detection in result.detections:
        box = ", ".join(f"{v:.0f}" for v in detection.box.as_list())
        lines.append(f"  {detection.label:<16} {detection.score:5.1%}  [{box}]")
    return "\n".join(lines)


def format_benchmark(report: dict) -> str:
    lines = [
        f"{report['image']}: {report['runs']} runs on {report['backend']}, "
        f"warm-up {report['warm_up_ms']:.1f} ms (inference {report['warm_up_timing_ms']['inference']:.1f} ms)",
        f"  {'stage':<12} {'median':>9} {'p90':>9} {'min':>9}",
    ]
    for stage, stats in report["stages"].items():
        lines.append(f"  {stage:<12} {stats['median_ms']:>6.2f} ms {stats['p90_ms']:>6.2f} ms {stats['min_ms']:>6.2f} ms")
    lines.append(f"  {report['fps']:.1f} FPS end to end (median)")
    return "\n".join(lines)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _model_and_labels(args) -> Tuple[Optional[str], Optional[str]]:
    return args.model or os.environ.get("SSDLITE_MODEL") or None, args.labels


def run(args) -> int:
    # Heavy imports only now: see the module docstring.
    from .detector import Detector
    from .errors import ImageError
    from .labels import class_ids_for_names
    from .postprocess import PostprocessConfig

    model_path, labels = _model_and_labels(args)
    config = PostprocessConfig(
        score_threshold=args.score_threshold, iou_threshold=args.iou_threshold,
        max_detections=args.max_detections, max_per_class=args.max_per_class, nms=args.nms,
    )
    detector = Detector(
        model_path, labels=labels, config=config, device=args.device, delegate_path=args.delegate,
        threads=args.threads, score_kind=None if args.score_kind == "auto" else args.score_kind,
        on_fallback=_note,
    )
    if args.verbose:
        _describe_model(detector)
    if args.classes:
        names = [name for name in args.classes.split(",") if name.strip()]
        class_ids = class_ids_for_names(detector.labels, names)
        detector.config = dataclasses.replace(config, class_ids=class_ids)

    if args.source and (args.http or args.mqtt):
        try:
            from .service.command import run_service
        except ImportError as missing:
            from .errors import ServiceUnavailableError

            raise ServiceUnavailableError(
                f"the service mode needs aiohttp and paho-mqtt ({missing}): install python3-ssdlite-detect-service"
            ) from None
        return run_service(args, detector, args.source_spec, _note, _error)

    if args.source:
        from .live.command import run_live

        return run_live(args, detector, args.source_spec, _note, _error)

    image_paths = list(iter_image_paths(args.paths))
    if not image_paths:
        _error("no images found in " + ", ".join(args.paths))
        return 1

    if args.benchmark:
        from .benchmark import run_benchmark

        report = run_benchmark(detector, image_paths[0], args.benchmark)
        print(json.dumps(report) if args.json else format_benchmark(report), flush=True)
        return 0

    if args.output:
        os.makedirs(args.output, exist_ok=True)
    failures = 0
    for path in image_paths:
        try:
            result = detector.detect(path)
        except ImageError as error:
            _error(str(error))
            failures += 1
            continue
        print(json.dumps(result.to_dict()) if args.json else format_text(result), flush=True)
        if args.output:
            failures += not _write_annotated(args.output, path, result)
    return 1 if failures else 0


def _describe_model(detector) -> None:
    info = detector.model_info()
    if info["description"] is None:
        _note(f"no model description (model.json naming {os.path.basename(info['model'])}) beside the model: "
              "COCO defaults (SSDLite MobileNetV2 anchors, sigmoid scores, COCO labels)")
    for key, value in info.items():
        _note(f"  {key}: {value}")


def _write_annotated(output_dir: str, path: str, result) -> bool:
    from .draw import annotate, annotated_path
    from .errors import ImageError
    from .preprocess import load_image

    target = annotated_path(output_dir, path)
    try:
        # Full resolution: detection may have decoded a large JPEG at reduced scale.
        annotate(load_image(path), result.detections).save(target)
    except (ImageError, OSError) as error:
        _error(f"cannot write {target}: {error}")
        return False
    return True


def _check_mode(parser: argparse.ArgumentParser, args) -> None:
    """Images or --source, with the options that belong to each; a usage error otherwise."""
    live_only = [option for option, value in (
        ("--frames", args.frames), ("--duration", args.duration), ("--realtime", args.realtime),
        ("--source-size", args.source_size), ("--source-fps", args.source_fps),
    ) if value]
    service_only = [option for option, value in (
        ("--http", args.http), ("--mqtt", args.mqtt), ("--http-token-file", args.http_token_file),
        ("--http-unauthenticated", args.http_unauthenticated),
    ) if value]
    args.source_spec = None
    args.mqtt_target = None
    if args.source is None:
        if not args.paths:
            parser.error("give image paths, or --source for live video")
        if live_only or service_only:
            parser.error(f"{(live_only + service_only)[0]} needs --source")
        return
    if args.http or args.mqtt:
        _check_service(parser, args)
    if args.paths:
        parser.error("give either image paths or --source, not both")
    if args.benchmark:
        parser.error("--benchmark times still images; with --source the summary reports FPS and latency")
    from .live.pipeline import SourceSpecError, parse_source  # pure: no GStreamer import here

    try:
        args.source_spec = parse_source(args.source, args.source_size, args.source_fps, args.realtime)
    except SourceSpecError as error:
        parser.error(str(error))


def _check_service(parser: argparse.ArgumentParser, args) -> None:
    from .service.auth import AuthConfigError, required_token
    from .service.mqtt import MqttUrlError, parse_mqtt_url

    if args.json or args.output:
        parser.error(f"{'--json' if args.json else '--output'} is for the terminal; the service serves "
                     "results on its HTTP API and MQTT")
    if (args.http_token_file or args.http_unauthenticated) and not args.http:
        parser.error("--http-token-file and --http-unauthenticated need --http")
    if args.http:
        try:  # the token file itself is read when the service starts
            required_token(args.http[0], args.http_token_file, args.http_unauthenticated)
        except AuthConfigError as error:
            parser.error(str(error))
    if args.mqtt:
        try:
            args.mqtt_target = parse_mqtt_url(args.mqtt)
        except MqttUrlError as error:
            parser.error(str(error))


def _parse(parser: argparse.ArgumentParser, argv: Optional[List[str]]):
    """The arguments, over the settings of --config FILE when one is given."""
    args = parser.parse_intermixed_args(argv)
    if args.config:
        from .service.config import ConfigError, apply_config

        try:
            apply_config(parser, args.config)
        except ConfigError as error:
            parser.error(str(error))
        args = parser.parse_intermixed_args(argv)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    _check_mode(parser, args)
    try:
        return run(args)
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
