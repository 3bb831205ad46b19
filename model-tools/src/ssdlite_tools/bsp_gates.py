"""The BSP gates of `ssdlite-tools check`, each a function returning a GateResult.

(a) tflite210-ops: every (operator, version) of the int8 model is registered in TFLite 2.10.0;
    tflite210-run: the model loads, allocates and invokes in the TFLite 2.10.0 env;
(b) vela-npu: the Vela model runs entirely on the Ethos-U65 (every CPU fallback listed), with
    Vela's estimates of SRAM use, inference time and memory traffic;
(c) int8-agreement: the int8 model's raw outputs and decoded detections follow the float model's
    on images calibration never saw.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
from ssdlite_detect import preprocess
from ssdlite_detect.postprocess import PostprocessConfig

from . import agreement, bsp_runtime, tflite210_ops, vela
from .errors import ToolsError
from .tflite_ops import read_model

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class GateResult:
    name: str
    status: str
    summary: str  # one line for the table
    details: Dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, object]:
        return {"name": self.name, "status": self.status, "summary": self.summary, "details": self.details}


def skipped(name: str, reason: str) -> GateResult:
    return GateResult(name, SKIPPED, reason)


# --- (a) TFLite 2.10 -------------------------------------------------------------------------


def operator_gate(model: Path) -> GateResult:
    """Every (operator, version) of `model` is in TFLite 2.10.0's op resolver."""
    summary = read_model(model)
    verdicts = tflite210_ops.check_operators(summary.operator_counts().items())
    unsupported = [v for v in verdicts if not v.supported]
    details = {
        "operators": [
            {"name": v.name, "version": v.version, "count": v.count, "supported": v.supported, "reason": v.reason}
            for v in verdicts
        ],
        "table_source": "tensorflow/lite/kernels/register.cc @ v2.10.0 (see ssdlite_tools/tflite210_ops.py)",
    }
    listed = ", ".join(f"{v.name} v{v.version} x{v.count}" for v in verdicts)
    if unsupported:
        problems = "; ".join(f"{v.name} v{v.version}: {v.reason}" for v in unsupported)
        return GateResult("tflite210-ops", FAILED, f"not in TFLite 2.10: {problems}", details)
    return GateResult("tflite210-ops", PASSED, f"{len(verdicts)} operator kinds, all in TFLite 2.10: {listed}", details)


def _host_outputs(model: Path, input_tensor: np.ndarray) -> Dict[str, np.ndarray]:
    """Output tensors by name from the host's TFLite (TensorFlow's), on the same input."""
    from ssdlite_detect.runtime import import_runtime  # deferred: imports TensorFlow on the host

    interpreter = import_runtime().interpreter_class(model_path=str(model))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], input_tensor)
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


def _compare_with_host(model: Path, input_tensor: np.ndarray, outputs_npz: Path, outputs) -> List[Dict[str, object]]:
    """How far TFLite 2.10's raw outputs are from the host TFLite's: informational, not a gate.

    Different TFLite versions and kernels (XNNPACK vs reference) round int8 requantisation
    differently; a trained network keeps those 1-step differences small, a network with random
    weights (the stand-in) amplifies them, so no threshold is applied here.
    """
    host = _host_outputs(model, input_tensor)
    saved = np.load(outputs_npz)
    comparison = []
    for index, output in enumerate(outputs):
        ours = saved[str(index)]
        theirs = host[output["name"]]
        difference = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
        comparison.append(
            {
                "name": output["name"],
                # in quantisation steps for integer outputs, in output units for float ones
                "max_abs_difference": float(difference.max()),
                "share_of_elements_differing": float(np.mean(difference > 0)),
            }
        )
    return comparison


def tflite210_run_gate(
    model: Path, input_tensor: Optional[np.ndarray] = None, python: Optional[Path] = None
) -> GateResult:
    """The model loads and invokes on tflite-runtime 2.10.0 (Python 3.9 env, by subprocess).

    With `input_tensor` (a preprocessed photo), the outputs are also compared with the host
    TFLite's for the report.
    """
    with tempfile.TemporaryDirectory(prefix="ssdlite-check-") as scratch:
        outputs_npz = Path(scratch) / "outputs.npz" if input_tensor is not None else None
        report = bsp_runtime.run_on_tflite210(model, input_tensor, outputs_npz, python=python, workdir=Path(scratch))
        details = report.as_dict()
        if report.ok and outputs_npz is not None:
            details["host_tflite_comparison"] = _compare_with_host(model, input_tensor, outputs_npz, report.outputs)
    if not report.ok:
        return GateResult(
            "tflite210-run",
            FAILED,
            f"tflite-runtime {report.tflite_runtime} failed at {report.stage}: {report.error}",
            details,
        )
    if not report.outputs_finite:
        return GateResult("tflite210-run", FAILED, "outputs contain NaN or Inf", details)
    shapes = ", ".join(f"{o['name']} {o['shape']} {o['dtype']}" for o in report.outputs)
    line = f"tflite-runtime {report.tflite_runtime} loaded and invoked it ({report.invoke_ms:.0f} ms): {shapes}"
    if "host_tflite_comparison" in details:
        worst = max(c["max_abs_difference"] for c in details["host_tflite_comparison"])
        line += f"; max |2.10 - host TFLite| {worst:g}"
    return GateResult("tflite210-run", PASSED, line, details)


# --- (b) Vela --------------------------------------------------------------------------------


def vela_gate(vela_dir: Path, allow_cpu_ops: bool = False) -> GateResult:
    """Read what `ssdlite-tools vela` left in `vela_dir`; fail on CPU fallbacks unless allowed."""
    vela_model = vela_dir / vela.VELA_MODEL_NAME
    log_path = vela_dir / vela.LOG_NAME
    for required in (vela_model, vela_dir / vela.SUMMARY_NAME, log_path):
        if not required.is_file():
            raise ToolsError(f"{required} is missing: run `ssdlite-tools vela` first")
    summary = vela.read_summary_csv(vela_dir / vela.SUMMARY_NAME)
    placement = vela.parse_operator_placement(log_path.read_text())
    fallbacks = vela.cpu_fallback_operators(vela_model)
    details = {
        "npu_operators": placement.npu_operators,
        "cpu_operators": placement.cpu_operators,
        "npu_share": placement.npu_share,
        "cpu_operator_names": list(placement.cpu_operator_names),
        "cpu_fallback_warnings": list(placement.warnings),
        "cpu_operators_in_vela_model": [{"operator": f.operator, "outputs": list(f.outputs)} for f in fallbacks],
        "summary": summary.as_dict(),
    }
    line = (
        f"NPU {placement.npu_operators}/{placement.npu_operators + placement.cpu_operators} ops "
        f"({placement.npu_share:.1%}); est. {summary.inference_time_ms:.2f} ms on {summary.accelerator}; "
        f"SRAM {summary.sram_used_bytes / 1024:.0f}/{summary.arena_cache_size_bytes / 1024:.0f} KiB; "
        f"traffic SRAM {summary.sram_traffic_bytes / 1e6:.1f} MB, DRAM {summary.dram_traffic_bytes / 1e6:.1f} MB"
    )
    if placement.cpu_operators or fallbacks:
        names = list(placement.cpu_operator_names) or [f.operator for f in fallbacks]
        line += f"; CPU fallbacks: {', '.join(names)}"
        if not allow_cpu_ops:
            return GateResult("vela-npu", FAILED, line + " (pass --allow-cpu-ops to accept)", details)
    return GateResult("vela-npu", PASSED, line, details)


# --- (c) int8 vs float -----------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementThresholds:
    # Raw outputs: below ~10 dB the int8 error is a third of the signal's magnitude.
    min_snr_db: float = 10.0
    # Decoded detections: share of the float model's detections that int8 reproduces (same class,
    # IoU >= 0.5); and the IoU used for that matching.
    min_detection_recall: float = 0.5
    match_iou: float = 0.5
    # Detections compared are those an application would show.
    score_threshold: float = 0.3


DEFAULT_AGREEMENT_THRESHOLDS = AgreementThresholds()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calibration_digests(sources: Iterable[Path]) -> set:
    """sha256 of every calibration image recorded in the given JSON files (lock, conversion record).

    Any "sha256" value found anywhere in them counts: both files name images by their digest.
    """
    digests = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "sha256" and isinstance(value, str):
                    digests.add(value.lower())
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for source in sources:
        if source.is_file():
            try:
                walk(json.loads(source.read_text()))
            except json.JSONDecodeError as error:
                raise ToolsError(f"{source} is not JSON ({error})") from error
    return digests


def held_out_images(images: Sequence[Path], calibration: set) -> List[Path]:
    """The images whose bytes are not among the calibration images'."""
    return [image for image in images if sha256_of(image) not in calibration]


def agreement_gate(
    int8_model: Path,
    float_model: Path,
    images: Sequence[Path],
    thresholds: AgreementThresholds = DEFAULT_AGREEMENT_THRESHOLDS,
) -> GateResult:
    from .host_inference import HostDetector  # deferred: imports TensorFlow

    if not images:
        raise ToolsError(
            "no held-out images for the int8-vs-float comparison: pass --images with photos not used for calibration"
        )
    int8 = HostDetector(int8_model)
    reference = HostDetector(float_model)
    config = PostprocessConfig(score_threshold=thresholds.score_threshold, iou_threshold=0.6, max_detections=100)
    box_outputs, class_outputs, matchings, per_image = [], [], [], []
    for path in images:
        image = preprocess.load_image(str(path))
        raw_int8, raw_float = int8.raw_outputs(image), reference.raw_outputs(image)
        if raw_int8.score_kind != raw_float.score_kind:
            raise ToolsError(f"{int8_model} outputs {raw_int8.score_kind}, {float_model} {raw_float.score_kind}")
        box_outputs.append((raw_float.box_encodings, raw_int8.box_encodings))
        class_outputs.append((raw_float.class_values, raw_int8.class_values))
        matching = agreement.match_detections(
            reference.detect(image, config), int8.detect(image, config), thresholds.match_iou
        )
        matchings.append(matching)
        per_image.append({"image": path.name, **matching.as_dict()})
    boxes = agreement.raw_agreement(np.stack([f for f, _ in box_outputs]), np.stack([q for _, q in box_outputs]))
    classes = agreement.raw_agreement(np.stack([f for f, _ in class_outputs]), np.stack([q for _, q in class_outputs]))
    pooled = agreement.combine(matchings)
    details = {
        "images": [p.name for p in images],
        "thresholds": dict(thresholds.__dict__),
        "box_encodings": boxes.as_dict(),
        "class_scores": classes.as_dict(),
        "detections": pooled.as_dict(),
        "per_image": per_image,
    }
    line = (
        f"{len(images)} images; raw SNR boxes {boxes.snr_db:.1f} dB (r={boxes.pearson:.3f}), "
        f"classes {classes.snr_db:.1f} dB (r={classes.pearson:.3f}); detections >= {thresholds.score_threshold}: "
        f"{pooled.matched}/{pooled.reference_count} float matched by int8 (IoU>={thresholds.match_iou}), "
        f"mean IoU {pooled.mean_iou:.3f}, mean |dscore| {pooled.mean_abs_score_diff:.3f}, int8 extra "
        f"{pooled.test_count - pooled.matched}"
    )
    failures = []
    for label, raw in (("box encodings", boxes), ("class scores", classes)):
        if not raw.snr_db >= thresholds.min_snr_db:
            failures.append(f"{label} SNR {raw.snr_db:.1f} dB < {thresholds.min_snr_db}")
    if pooled.recall < thresholds.min_detection_recall:
        failures.append(f"detection recall {pooled.recall:.2f} < {thresholds.min_detection_recall}")
    if failures:
        return GateResult("int8-agreement", FAILED, line + "; " + "; ".join(failures), details)
    return GateResult("int8-agreement", PASSED, line, details)


def json_safe(value):
    """JSON has no NaN/Infinity: write them as null / strings so the report stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
