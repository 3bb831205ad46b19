"""`ssdlite-detect --source SOURCE --http [HOST:]PORT [--mqtt URL]`: the service mode
(ssdlite_detect.service.server), checked while the command line is parsed: the address, the
token rules and the MQTT URL are usage errors before any model loads."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from . import live
from .options import OptionRegistry, http_address

# The service's own options; the other modes refuse them.
OPTIONS = ("http", "mqtt", "http-token-file", "http-unauthenticated", "mqtt-discovery")


def add_arguments(registry: OptionRegistry) -> None:
    service = registry.group("service (with --source: keep running and serve the results; see README: service mode)")
    service.add("--http", type=http_address, metavar="[HOST:]PORT",
                help="serve the live view and the HTTP API (default host 127.0.0.1)")
    service.add("--mqtt", metavar="URL",
                help="publish results to mqtt://[user:password@]host[:port]/prefix (mqtts:// for TLS)")
    service.add("--mqtt-detections", choices=("on", "off"), default="on",
                help="each frame's detections to PREFIX/detections (default on; off: only the status, "
                "events, counts and snapshots)")
    service.add("--mqtt-discovery", metavar="PREFIX",
                help="announce sensors to Home Assistant under its MQTT discovery PREFIX (usually "
                "homeassistant): zone and line counts, a 'present' binary sensor per label")
    service.add("--http-token-file", metavar="FILE",
                help="clients must present the token in FILE (Bearer header, or log in at /login); "
                "needed to listen beyond 127.0.0.1")
    service.add("--http-unauthenticated", action="store_true",
                help="listen beyond 127.0.0.1 without a token: anyone who can reach it sees the video")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.source and (args.http or args.mqtt))


@dataclass(frozen=True)
class ServiceCommand:
    """The service's options before its token file is read (that happens when it starts)."""

    source: object                       # live.pipeline.SourceOptions
    http: Optional[Tuple[str, int]]
    http_token_file: Optional[str]
    http_unauthenticated: bool
    mqtt: object                         # service.mqtt.MqttTarget or None
    regions: object = None               # analytics.zones.Regions (tracking, zones, lines)
    regions_from: str = "zones"
    snapshots: object = None             # analytics.snapshots.SnapshotPolicy, or None (--snapshot-objects 0)
    snapshot_dir: object = None          # analytics.snapshot_dir.SnapshotDirectory, or None


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ServiceCommand:
    from ..service.auth import AuthConfigError, required_token
    from ..service.mqtt import MqttUrlError, check_discovery_prefix, parse_mqtt_url

    if args.json or args.output:
        parser.error(f"{'--json' if args.json else '--output'} is for the terminal; the service serves "
                     "results on its HTTP API and MQTT")
    if args.events:
        parser.error("--events prints to the terminal; the service serves them at /api/v1/objects/events")
    if (args.http_token_file or args.http_unauthenticated) and not args.http:
        parser.error("--http-token-file and --http-unauthenticated need --http")
    if args.http:
        try:  # the token file itself is read when the service starts
            required_token(args.http[0], args.http_token_file, args.http_unauthenticated)
        except AuthConfigError as error:
            parser.error(str(error))
    mqtt = None
    if (args.mqtt_discovery or args.mqtt_detections == "off") and not args.mqtt:
        parser.error("--mqtt-discovery and --mqtt-detections need --mqtt")
    if args.mqtt:
        try:
            mqtt = parse_mqtt_url(args.mqtt)
            if args.mqtt_discovery is not None:
                mqtt = dataclasses.replace(mqtt, discovery_prefix=check_discovery_prefix(args.mqtt_discovery))
        except MqttUrlError as error:
            parser.error(str(error))
        mqtt = dataclasses.replace(mqtt, detections=args.mqtt_detections == "on")
    from ..config import ConfigError

    try:
        regions, where = live.regions_options(args)
    except ConfigError as error:
        parser.error(str(error))
    source = live.source_options(parser, args)
    snapshots, snapshot_dir = live.snapshot_options(parser, args, in_memory=True)
    return ServiceCommand(source, args.http, args.http_token_file, args.http_unauthenticated, mqtt, regions, where,
                          snapshots, snapshot_dir)


def run(command: ServiceCommand, detector, note: Callable[[str], None], error: Callable[[str], None]) -> int:
    try:
        from ..service.auth import read_token_file
        from ..service.server import ServiceOptions, run_service
    except ImportError as missing:
        from ..errors import ServiceUnavailableError

        raise ServiceUnavailableError(
            f"the service mode needs aiohttp and paho-mqtt ({missing}): install python3-ssdlite-detect-service"
        ) from None
    token = read_token_file(command.http_token_file) if command.http_token_file else None
    options = ServiceOptions(command.source, http=command.http, http_token=token,
                             http_unauthenticated=command.http_unauthenticated, mqtt=command.mqtt,
                             regions=command.regions, regions_from=command.regions_from,
                             snapshots=command.snapshots, snapshot_dir=command.snapshot_dir)
    return run_service(options, detector, note, error)
