"""`ssdlite-tools vela`: compile the int8 model for the i.MX 93's Ethos-U65-256 (NXP's defaults)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import vela
from ..workspace import INT8_MODEL_NAME, add_workdir_argument, convert_dir, vela_dir


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "vela",
        help="compile the int8 model for the i.MX 93 NPU (Ethos-U65) with Vela 3.7.0",
        description=(
            "Compile the int8 model with ethos-u-vela 3.7.0 (from .venv/vela) using NXP's i.MX 93 "
            "defaults written out in an explicit config file: ethos-u65-256, 384 KiB arena cache, "
            "1 GHz, SRAM on AXI0 and DRAM on AXI1, HillClimb allocator, Performance. Writes "
            f"{vela.VELA_MODEL_NAME}, {vela.SUMMARY_NAME}, {vela.CONFIG_NAME} and {vela.LOG_NAME}."
        ),
    )
    add_workdir_argument(parser)
    parser.add_argument(
        "--model", type=Path, default=None, help=f"int8 model (default: WORKDIR/convert/{INT8_MODEL_NAME})"
    )
    parser.add_argument("--output-dir", type=Path, default=None, help="where to write (default: WORKDIR/vela)")
    parser.add_argument(
        "--vela", type=Path, default=None, help="Vela executable (default: $SSDLITE_VELA, else .venv/vela/bin/vela)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workdir = args.workdir
    model = args.model or convert_dir(workdir) / INT8_MODEL_NAME
    output_dir = args.output_dir or vela_dir(workdir)
    outputs = vela.compile_for_ethos_u(model, output_dir, executable=args.vela)
    summary = vela.read_summary_csv(outputs.summary_csv)
    placement = vela.parse_operator_placement(outputs.log.read_text())
    print(f"wrote {outputs.model}")
    print(
        f"  operators on the NPU: {placement.npu_operators} of {placement.npu_operators + placement.cpu_operators} "
        f"({placement.npu_share:.1%}); on the CPU: {placement.cpu_operators}"
    )
    for name in placement.cpu_operator_names:
        print(f"    CPU: {name}")
    clock_mhz = summary.core_clock_hz / 1e6
    print(
        f"  estimated inference time: {summary.inference_time_ms:.2f} ms ({summary.accelerator}, {clock_mhz:.0f} MHz)"
    )
    sram_kib, cache_kib = summary.sram_used_bytes / 1024, summary.arena_cache_size_bytes / 1024
    print(f"  SRAM used: {sram_kib:.1f} KiB of {cache_kib:.0f} KiB arena cache")
    sram_mb, dram_mb = summary.sram_traffic_bytes / 1e6, summary.dram_traffic_bytes / 1e6
    print(f"  traffic per inference: SRAM {sram_mb:.2f} MB, DRAM {dram_mb:.2f} MB")
    print(f"  summary: {outputs.summary_csv}; config: {outputs.config}")
    return 0
