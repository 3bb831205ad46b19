"""`ssdlite-tools bundle`: write model-bundle/ (models, labels, manifest.json) for the layer.

Takes the int8 model, labels and model description from `convert`, the Vela model and config
from `vela`, names them after the model, adds the licence the model's owner declares (the zoo's
COCO model: Apache-2.0) and records the provenance in manifest.json. Refuses models converted from
the stand-in (test data) unless --allow-stand-in, and then says so in the manifest.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import build_bundle
from ..workspace import MANIFEST_NAME, add_workdir_argument, convert_dir, default_bundle_dir, vela_dir


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bundle",
        help="write model-bundle/ (int8 and Vela models, labels, manifest.json) for the layer",
        description=__doc__.split("\n\n")[1],
    )
    add_workdir_argument(parser)
    parser.add_argument("--convert-dir", type=Path, help="output of `convert` (default: <workdir>/convert)")
    parser.add_argument("--vela-dir", type=Path, help="output of `vela` (default: <workdir>/vela)")
    parser.add_argument(
        "--output", type=Path, default=default_bundle_dir(), help="bundle folder the layer reads (default: %(default)s)"
    )
    parser.add_argument(
        "--license",
        metavar="SPDX",
        help="the model's licence, an SPDX id or expression, or CLOSED (default for the zoo's COCO model: "
        "Apache-2.0; required for a retrained model)",
    )
    parser.add_argument(
        "--license-file",
        type=Path,
        metavar="FILE",
        help="the licence text, shipped in the bundle and checksummed by the layer",
    )
    parser.add_argument(
        "--allow-stand-in",
        action="store_true",
        help="tests only: bundle models made from the stand-in checkpoint (recorded as stand_in: true)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manifest = build_bundle(
        args.convert_dir or convert_dir(args.workdir),
        args.vela_dir or vela_dir(args.workdir),
        args.output,
        allow_stand_in=args.allow_stand_in,
        license_name=args.license,
        license_file=args.license_file,
    )
    source = manifest["source_checkpoint"]
    if not manifest["stand_in"] and not source["verified"]:
        # Allowed (e.g. a checkpoint folder copied by hand) but the provenance is then weaker.
        print(
            "ssdlite-tools bundle: warning: the models were converted from a checkpoint folder, not the "
            f"sha256-checked zoo archive; manifest.json records only its graph's sha256 "
            f"{source.get('saved_model_pb_sha256') or source.get('frozen_graph_pb_sha256')}",
            file=sys.stderr,
        )
    for name, entry in manifest["files"].items():
        print(f"{args.output / name}  {entry['size']} bytes  sha256 {entry['sha256']}")
    print(f"{args.output / MANIFEST_NAME}" + ("  [STAND-IN: test data, not for the board]" if manifest["stand_in"] else ""))
    return 0
