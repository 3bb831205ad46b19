"""`ssdlite-detect --source SOURCE`: the live mode on a camera, a video file, an RTSP stream or
the test pattern.

stdout gets one line (or one JSON object) per processed frame; stderr gets notes, errors and a
summary at the end. SIGINT and SIGTERM stop the run cleanly: every line printed is complete and
the annotated video, if any, is finished so that it plays. The outputs are subscribers of the
runner's hub (ssdlite_detect.live.outputs), each in its own thread.
"""
from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from .options import OptionRegistry, at_most, positive_float, positive_int, size

DEFAULT_MAX_OBJECTS = 50  # analytics.snapshots.DEFAULT_MAX_OBJECTS (not imported: it needs Pillow)
MAX_SNAPSHOT_OBJECTS = 10000

# The live mode's own options; the still-image mode refuses them ("needs --source").
OPTIONS = ("frames", "duration", "realtime", "source-size", "source-fps", "events", "zones", "snapshots",
           "snapshots-max-mb", "snapshot-objects")
DEFAULT_SNAPSHOTS_MAX_MB = 100.0


def add_arguments(registry: OptionRegistry) -> None:
    live = registry.group("live video (instead of image paths)")
    live.add("--source", metavar="SOURCE",
             help="camera (the first capture device), /dev/videoN, a video file, rtsp://URL or testsrc")
    live.add("--frames", type=positive_int, metavar="N", help="stop after N processed frames")
    live.add("--duration", type=positive_float, metavar="SECONDS", help="stop after SECONDS")
    live.add("--realtime", action="store_true",
             help="video files: keep the file's pace and drop late frames (default: every frame)")
    live.add("--source-size", type=size, metavar="WxH", help="cameras and testsrc: frame size to capture")
    live.add("--source-fps", type=at_most(positive_int, 1000), metavar="N", help="cameras and testsrc: frame rate to capture")
    live.add("--events", action="store_true",
             help="print the tracked objects' events (new, update, end, enter, leave, cross) instead of frames")
    live.add("--zones", metavar="FILE",
             help="TOML file of [[zones]], [[lines]] and [tracking] (also accepted inside --config)")
    live.add("--snapshots", metavar="DIR",
             help="write each tracked object's best snapshot (a JPEG with its box) into DIR")
    live.add("--snapshots-max-mb", type=at_most(positive_float, 1e6), metavar="MB",
             help=f"keep DIR under MB megabytes, deleting the oldest snapshots (default {DEFAULT_SNAPSHOTS_MAX_MB:g})")
    live.add("--snapshot-objects", type=snapshot_objects, metavar="N",
             help=f"keep the snapshots of the last N objects in memory (default {DEFAULT_MAX_OBJECTS}; "
             "0: no snapshots, the service then serves none)")
    live.add("--connect-timeout", type=at_most(positive_float, 3600.0), default=10.0, metavar="SECONDS",
             help="give up on a camera or stream that sends no frame within SECONDS (default 10)")


def snapshot_objects(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_SNAPSHOT_OBJECTS:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_SNAPSHOT_OBJECTS}], not {value}")
    return value


@dataclass(frozen=True)
class LiveOptions:
    source: object                 # live.pipeline.SourceOptions
    json_lines: bool = False
    output_path: Optional[str] = None
    regions: object = None         # analytics.zones.Regions: zones, lines, tracker parameters
    regions_from: str = "zones"    # the file they came from, for messages
    events: bool = False
    snapshots: object = None       # analytics.snapshots.SnapshotPolicy, or None: no snapshots
    snapshot_dir: object = None    # analytics.snapshot_dir.SnapshotDirectory, or None


def snapshot_options(parser: argparse.ArgumentParser, args: argparse.Namespace, in_memory: bool):
    """(SnapshotPolicy or None, SnapshotDirectory or None) of --snapshots, --snapshots-max-mb and
    --snapshot-objects; in_memory: snapshots are wanted without a directory (the service serves
    them). A directory that cannot be written is one error line and exit 2, before the model loads."""
    objects = DEFAULT_MAX_OBJECTS if args.snapshot_objects is None else args.snapshot_objects
    if args.snapshots_max_mb is not None and not args.snapshots:
        parser.error("--snapshots-max-mb needs --snapshots DIR")
    if objects == 0:
        if args.snapshots:
            parser.error("--snapshots DIR needs --snapshot-objects of at least 1")
        return None, None
    if not (args.snapshots or in_memory):
        return None, None
    from ..analytics.snapshot_dir import SnapshotDirectory, SnapshotDirError
    from ..analytics.snapshots import SnapshotPolicy
    from ..textout import one_line

    directory = None
    if args.snapshots:
        max_mb = DEFAULT_SNAPSHOTS_MAX_MB if args.snapshots_max_mb is None else args.snapshots_max_mb
        try:
            directory = SnapshotDirectory(args.snapshots, max(1, int(max_mb * 1024 * 1024)))
        except SnapshotDirError as error:
            parser.exit(error.exit_code, f"{parser.prog}: error: {one_line(str(error))}\n")
    return SnapshotPolicy(max_objects=objects), directory


def regions_options(args: argparse.Namespace):
    """(Regions, where) from --zones FILE, else --config's [[zones]]/[[lines]]/[tracking] tables
    (read with the config, cli.parse_arguments), else none: tracking with its defaults.
    ConfigError (exit 2) for a bad table."""
    from ..analytics.zones import regions_from_table
    from ..config import REGION_TABLES, ConfigError, read_toml

    if args.zones:
        table = read_toml(args.zones, "--zones")
        unknown = sorted(set(table) - set(REGION_TABLES))
        if unknown:
            raise ConfigError(f"{args.zones}: unknown table {unknown[0]!r} (a --zones file has zones, lines and tracking)")
        return regions_from_table(table, args.zones), args.zones
    where = args.config or "zones"
    return regions_from_table(getattr(args, "config_regions", {}), where), where


def source_options(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The SourceOptions of --source and its options (the live mode's and the service's); a
    usage error for what cannot work. Pure: GStreamer is not imported here."""
    from ..live.pipeline import SourceOptions, SourceSpecError, parse_source

    if args.paths:
        parser.error("give either image paths or --source, not both")
    if args.benchmark:
        parser.error("--benchmark times still images; with --source the summary reports FPS and latency")
    try:
        spec = parse_source(args.source, args.source_size, args.source_fps, args.realtime)
    except SourceSpecError as error:
        parser.error(str(error))
    return SourceOptions(spec, connect_timeout=args.connect_timeout, max_frames=args.frames, duration=args.duration)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> LiveOptions:
    if args.http_token_file or args.http_unauthenticated:
        parser.error("--http-token-file and --http-unauthenticated need --http")
    if args.mqtt_discovery or args.mqtt_detections == "off":
        parser.error("--mqtt-discovery and --mqtt-detections need --mqtt")
    from ..config import ConfigError

    try:
        regions, where = regions_options(args)
    except ConfigError as error:
        parser.error(str(error))
    source = source_options(parser, args)
    snapshots, snapshot_dir = snapshot_options(parser, args, in_memory=False)
    return LiveOptions(source, json_lines=args.json, output_path=args.output,
                       regions=regions, regions_from=where, events=args.events,
                       snapshots=snapshots, snapshot_dir=snapshot_dir)


def run(options: LiveOptions, detector, note: Callable[[str], None], error: Callable[[str], None]) -> int:
    """Run the source through the detector into the outputs until it ends, a limit, a signal
    or an error; returns the exit status."""
    from ..errors import DetectError
    from ..formatting import format_live_summary
    from ..live.elements import encoder_note
    from ..live.outputs import EventOutput, LineOutput, RecorderOutput, policy_for
    from ..analytics.stage import objects_stage
    from ..live.runner import StreamRunner

    stage, detector = objects_stage(options.regions, detector, options.regions_from)
    runner = StreamRunner.on_source(detector, options.source,
                                    display=bool(options.output_path or options.snapshots), on_note=note, stage=stage)
    streams = runner.streams
    policy = policy_for(options.source.spec)

    def output_ended(_output) -> None:
        runner.stop()

    if options.events:
        outputs = [EventOutput(sys.stdout, options.json_lines, policy, on_end=output_ended)]
        topics = [runner.hub.events]
    else:
        outputs = [LineOutput(sys.stdout, options.json_lines, policy, on_end=output_ended)]
        topics = [runner.hub.results]
    if options.output_path:
        from ..live.recorder import VideoRecorder

        recorder = VideoRecorder(options.output_path, streams.chain)
        missing_encoder = encoder_note(detector.spec.platform.soc, streams.chain)
        if missing_encoder:
            note(missing_encoder)
        outputs.append(RecorderOutput(recorder, streams.frame_rate, policy, on_end=output_ended))
        topics.append(runner.hub.results)
        streams.want_display(outputs[-1])  # every frame, for the whole run

    if options.snapshots is not None:
        from ..live.snapshotter import SnapshotOutput

        if options.snapshot_dir is not None:
            options.snapshot_dir.on_note = note
        snapshots = SnapshotOutput(runner.hub, options.snapshots, options.snapshot_dir, policy, on_end=output_ended)
        outputs.append(snapshots)
        topics.append(runner.hub.results)
        streams.want_display(snapshots)

    def stop(_signum, _frame) -> None:
        runner.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    failure: Optional[DetectError] = None
    try:
        for output, topic in zip(outputs, topics):
            output.start(topic)
        try:
            runner.run()
        except DetectError as raised:
            failure = raised
    finally:
        runner.stop()
        for output in outputs:
            output.join()  # each finishes what it holds (the runner closed the results)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for output in outputs:
        if output.error is not None and not isinstance(output.error, DetectError):
            raise output.error  # a bug: the traceback is worth having
    if failure is not None:
        error(str(failure))
        status = failure.exit_code
    for output in outputs:
        if output.error is not None:
            error(str(output.error))
            status = status or output.error.exit_code
    summary = runner.hub.stats.summary()
    if summary["frames"] or status == 0:  # a source that failed before any frame: its error says it all
        note(format_live_summary(streams.name, summary, detector.backend, streams.chain.name))
    return status
