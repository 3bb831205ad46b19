"""Resolving a model: which file on which backend, and everything the app must know to run it.

    from ssdlite_detect.model import ModelOptions, open_model
    model = open_model(ModelOptions(device="auto"))     # the installed model, NPU where there is one
    print(model.spec.backend, model.spec.labels[1], model.spec.anchors.shape)
    detector = Detector(model, PostprocessConfig(score_threshold=0.4))

`open_model` decides, once:
- the backend: device.plan_backends lists the plans (NPU first with --device auto); the first
  whose delegate loads wins, a delegate failure moves on to the next plan and is reported through
  `on_fallback` (the CPU, with --device auto);
- the description: model.json beside the model when it names the file, else the COCO defaults;
- the labels: given names, a labels file, the description's, a labels file beside the model, the
  COCO labels for a 91-class model, else "class N" (in that order);
- the anchors: a constant tensor "anchors" in the model (TFLite-exported SSDs), else generated
  from the description's anchor generator;
- the score kind: given, else the description's converter, else read from the class output.

Everything it decided is a frozen ModelSpec; the interpreter it opened comes with it
(LoadedModel), since the backend is only known by opening it. Thresholds and class filters are
not part of it: `spec.postprocessor(config)` makes a post-processor for any PostprocessConfig.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import device as devices
from .anchors import AnchorConfig, generate_anchors
from .decode import BoxCoderScales
from .errors import DelegateError, ModelError
from .labels import COCO_LABELS, check_labels_match, read_labels
from .model_description import COCO_DEFAULTS, LABELS, ModelDescription, find_description
from .postprocess import PostprocessConfig, SSDPostprocessor
from .runtime import (
    SSDSignature,
    create_interpreter,
    identify_ssd_tensors,
    import_runtime,
    is_vela_model,
    read_model,
    read_model_anchors,
)
from .scores import SCORE_KINDS, ScoreDecoder, infer_score_kind


@dataclass(frozen=True)
class ModelOptions:
    """What the user asked for (the CLI's model and backend options; all optional).

    model_path: a .tflite (None: the installed one that fits this SoC, from model_dir);
    labels: a labels file or the names themselves; device: auto, cpu or npu; delegate_path: an
    external TFLite delegate; threads: CPU threads (None: one per core); score_kind: logits,
    probabilities or softmax (None: the model's); anchor_config / description: override what
    the model's description says; platform: the SoC (None: read from the kernel).
    """

    model_path: Optional[str] = None
    labels: Union[None, str, Tuple[str, ...]] = None
    device: str = "auto"
    delegate_path: Optional[str] = None
    threads: Optional[int] = None
    score_kind: Optional[str] = None
    anchor_config: Optional[AnchorConfig] = None
    description: Optional[ModelDescription] = None
    model_dir: str = devices.DEFAULT_MODEL_DIR
    platform: Optional[devices.Platform] = None

    def __post_init__(self):
        if self.device not in devices.DEVICES:
            raise ValueError(f"device must be one of {devices.DEVICES}")
        if self.score_kind is not None and self.score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind must be one of {SCORE_KINDS}")
        if self.labels is not None and not isinstance(self.labels, str):
            object.__setattr__(self, "labels", tuple(self.labels))


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model (see the module doc): frozen, so every stage that holds it sees the same."""

    model_path: str
    backend: str                         # "cpu", "vx", "ethos-u", or a custom delegate's file name
    plan: devices.BackendPlan
    runtime_name: str
    platform: devices.Platform
    signature: SSDSignature
    description: Optional[ModelDescription]
    labels: Tuple[str, ...]
    anchors: np.ndarray = field(compare=False, repr=False)  # [N, 4] ycenter, xcenter, h, w
    anchor_source: str = "generated"     # "model" (a constant in the .tflite) or "generated"
    score_kind: str = "logits"
    logit_scale: float = 1.0
    box_coder: BoxCoderScales = COCO_DEFAULTS.box_coder

    @property
    def input_size(self) -> Tuple[int, int]:
        """(height, width) of the model input."""
        return self.signature.input_size

    @property
    def model_name(self) -> str:
        return os.path.basename(self.model_path)

    @property
    def score_decoder(self) -> ScoreDecoder:
        classes = self.signature.classes
        return ScoreDecoder(self.score_kind, classes.quantization, classes.dtype, self.logit_scale)

    def postprocessor(self, config: PostprocessConfig = PostprocessConfig()) -> SSDPostprocessor:
        """A post-processor of this model's raw outputs with `config`'s thresholds and classes."""
        return SSDPostprocessor(self.anchors, config, self.score_decoder, self.signature.boxes.quantization,
                                self.box_coder)

    def info(self) -> Dict[str, object]:
        """What the model runs with and where each part came from (for --verbose)."""
        described = self.description or COCO_DEFAULTS
        height, width = self.input_size
        if self.anchor_source == "model":
            anchors_from = "from the model"
        else:
            anchors_from = "generated from " + ("the description" if self.description else "the COCO defaults")
        return {
            "model": self.model_path,
            "backend": self.backend,
            "description": self.description.path if self.description else None,
            "name": described.name,
            "input": f"{height}x{width}",
            "classes": self.signature.num_classes - 1,
            "anchors": f"{self.signature.num_anchors} ({anchors_from})",
            "score_kind": self.score_kind,
            "box_coder": list(dataclasses.astuple(self.box_coder)),
        }


@dataclass(frozen=True)
class LoadedModel:
    """A ModelSpec and the TFLite interpreter it was resolved on (allocated, delegate applied)."""

    spec: ModelSpec
    interpreter: Any = field(compare=False, repr=False)


def open_model(options: ModelOptions = ModelOptions(),
               on_fallback: Optional[Callable[[str], None]] = None) -> LoadedModel:
    """Resolve and open the model `options` ask for (see the module doc). Raises ModelError,
    LabelsError, DelegateError or RuntimeMissingError with a one-line reason."""
    runtime = import_runtime()
    platform = options.platform or devices.detect_platform()
    vela_by_path: Dict[str, bool] = {}  # each model file is read (and checked) once

    def is_vela(path: str) -> bool:
        if path not in vela_by_path:
            vela_by_path[path] = is_vela_model(read_model(path))
        return vela_by_path[path]

    model_path = options.model_path
    plans = devices.plan_backends(
        options.device, platform, model_path, options.model_dir, options.delegate_path,
        model_path is not None and is_vela(model_path),
    )
    plan, interpreter = _open_first_working_backend(
        plans, runtime, options.threads or os.cpu_count() or 1, platform, is_vela, on_fallback
    )
    signature = identify_ssd_tensors(interpreter.get_input_details(), interpreter.get_output_details(), plan.model_path)
    description = options.description if options.description is not None else find_description(plan.model_path)
    if description is not None:
        _check_description(description, signature, plan.model_path)
    described = description or COCO_DEFAULTS

    anchors = read_model_anchors(interpreter, signature.num_anchors)
    anchor_source = "model" if anchors is not None else "generated"
    if anchors is None:
        anchors = generate_anchors(options.anchor_config or described.anchors)
    if anchors.shape[0] != signature.num_anchors:
        raise ModelError(
            f"{plan.model_path} predicts {signature.num_anchors} boxes but the anchor "
            f"config gives {anchors.shape[0]}: the model is not an SSD of this anchor layout"
            + ("" if description else " (no model description beside it: COCO defaults assumed)")
        )
    classes = signature.classes
    score_kind = options.score_kind
    if score_kind is None and description is not None:
        score_kind = description.score_kind
    score_kind = score_kind or infer_score_kind(classes.name, classes.dtype, classes.quantization)
    spec = ModelSpec(
        model_path=plan.model_path, backend=plan.backend, plan=plan, runtime_name=runtime.name, platform=platform,
        signature=signature, description=description,
        labels=_resolve_labels(options.labels, description, plan.model_path, signature.num_classes),
        anchors=anchors, anchor_source=anchor_source, score_kind=score_kind,
        logit_scale=described.logit_scale, box_coder=described.box_coder,
    )
    return LoadedModel(spec, interpreter)


def _open_first_working_backend(plans, runtime, threads, platform, is_vela, on_fallback):
    """(plan, interpreter) of the first plan that works; a delegate failure moves on to the
    next plan (the CPU, with --device auto) and is reported through on_fallback."""
    for position, plan in enumerate(plans):
        try:
            if plan.delegate_path is None:
                if is_vela(plan.model_path):  # also fails clearly on a missing or non-TFLite file
                    raise ModelError(
                        f"{plan.model_path} is compiled by Vela: it needs the Ethos-U delegate "
                        f"({devices.ETHOSU_DELEGATE}) on an i.MX 93; use the int8 model on the CPU"
                    )
            else:
                devices.check_npu_prerequisites(plan, platform)
                try:
                    is_vela(plan.model_path)
                except ModelError as error:  # the NPU's model is missing: the next backend may work
                    raise DelegateError(str(error)) from None
            return plan, create_interpreter(runtime, plan.model_path, threads, plan.delegate_path, plan.delegate_options)
        except DelegateError as error:
            if position + 1 == len(plans):
                raise
            if on_fallback is not None:
                on_fallback(f"{plan.backend} unavailable ({error}); falling back to {plans[position + 1].backend}")
    raise AssertionError("plan_backends returned no plan")  # it raises instead


def _check_description(description: ModelDescription, signature: SSDSignature, model_path: str) -> None:
    """The description must be of this model: same input size and number of classes."""
    if tuple(description.input_size) != tuple(signature.input_size):
        height, width = signature.input_size
        raise ModelError(
            f"{description.path} describes a {description.input_size[0]}x{description.input_size[1]} input but "
            f"{model_path} takes {height}x{width}"
        )
    if description.num_classes + 1 != signature.num_classes:
        raise ModelError(
            f"{description.path} describes {description.num_classes} classes (+ background) but "
            f"{model_path} outputs {signature.num_classes} class columns"
        )


def _resolve_labels(labels: Union[None, str, Sequence[str]], description: Optional[ModelDescription],
                    model_path: str, num_classes: int) -> Tuple[str, ...]:
    """The labels, in the precedence of the module doc, checked against the class output."""
    if isinstance(labels, str):
        loaded = read_labels(labels)
        check_labels_match(loaded, num_classes, labels)
        return loaded
    if labels is not None:
        check_labels_match(labels, num_classes, "the labels given")
        return tuple(labels)
    candidates = [description.file_path(LABELS) if description else None,
                  os.path.join(os.path.dirname(os.path.abspath(model_path)), devices.LABELS_FILE)]
    for position, path in enumerate(candidates):
        # The description's labels file must exist; one beside the model is used if it does.
        if path and (position == 0 or os.path.exists(path)):
            loaded = read_labels(path)
            check_labels_match(loaded, num_classes, path)
            return loaded
    if num_classes == len(COCO_LABELS):
        return COCO_LABELS
    return tuple(f"class {i}" for i in range(num_classes))
