"""Which SoC this is, and which model + delegate to run on it.

The SoC comes from the kernel (/sys/devices/soc0/soc_id, else the device tree's compatible
list), never from the hostname. On i.MX 93 the Ethos-U65 runs the Vela-compiled model through
/usr/lib/libethosu_delegate.so (it needs /dev/ethosu0 and the M33 firmware); on i.MX 8M Plus the
VeriSilicon NPU runs the int8 model through /usr/lib/libvx_delegate.so; elsewhere the CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .errors import DelegateError, ModelError
from .model_description import installed_model_names

IMX93 = "imx93"
IMX8MP = "imx8mp"

DEFAULT_MODEL_DIR = "/usr/share/ssdlite-mobilenetv2"  # where the meta-ssdlite layer installs models
INT8_MODEL = "ssdlite_mobilenetv2_coco_int8.tflite"
VELA_MODEL = "ssdlite_mobilenetv2_coco_int8_vela.tflite"
LABELS_FILE = "coco_labels.txt"

ETHOSU_DELEGATE = "/usr/lib/libethosu_delegate.so"
VX_DELEGATE = "/usr/lib/libvx_delegate.so"
ETHOSU_DEVICE = "/dev/ethosu0"
# The VX delegate compiles the graph for the NPU on the first inference (seconds); with a cache
# file it does so once per model and loads the compiled graph afterwards.
VX_CACHE_DIR = "/var/cache/ssdlite-detect"

DEVICES = ("auto", "cpu", "npu")


@dataclass(frozen=True)
class Platform:
    soc: Optional[str]  # IMX93, IMX8MP or None
    soc_id: str         # what the kernel calls it, for messages ("i.MX93", "unknown")
    has_ethosu_device: bool


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("ascii", "replace")
    except OSError:
        return None


def detect_platform(root: str = "/") -> Platform:
    """Read the SoC from sysfs/device tree under `root` (tests pass a fake root)."""
    soc_id = (_read_text(os.path.join(root, "sys/devices/soc0/soc_id")) or "").strip()
    compatible = (_read_text(os.path.join(root, "proc/device-tree/compatible")) or "").split("\0")
    key = soc_id.lower().replace(".", "").replace("-", "")  # "i.MX93" -> "imx93", "i.MX8MP" -> "imx8mp"
    soc = None
    if key.startswith("imx93") or "fsl,imx93" in compatible:
        soc = IMX93
    elif key.startswith("imx8mp") or "fsl,imx8mp" in compatible:
        soc = IMX8MP
    ethosu = os.path.exists(os.path.join(root, ETHOSU_DEVICE.lstrip("/")))
    return Platform(soc, soc_id or (soc or "unknown"), ethosu)


@dataclass(frozen=True)
class BackendPlan:
    """One way to run: a model file, optionally with an external delegate."""

    backend: str  # "cpu", "vx", "ethos-u", or the custom delegate's file name
    model_path: str
    delegate_path: Optional[str] = None
    delegate_options: Dict[str, str] = field(default_factory=dict)


def _vx_options(cache_dir: str, model_path: str) -> Dict[str, str]:
    if not os.access(cache_dir, os.W_OK):
        cache_dir = os.path.join(os.path.expanduser("~"), ".cache", "ssdlite-detect")
        try:
            os.makedirs(cache_dir, exist_ok=True)
        except OSError:
            return {}  # no writable cache: still works, just compiles the graph every start
    name = os.path.splitext(os.path.basename(model_path))[0]
    return {"allowed_cache_mode": "true", "cache_file_path": os.path.join(cache_dir, f"{name}.nb")}


def plan_backends(
    device: str,
    platform: Platform,
    model_path: Optional[str] = None,
    model_dir: str = DEFAULT_MODEL_DIR,
    delegate_path: Optional[str] = None,
    model_is_vela: bool = False,
    vx_cache_dir: str = VX_CACHE_DIR,
) -> List[BackendPlan]:
    """Backends to try, in order. `auto` ends with the CPU as the fallback.

    model_path: an explicit model (--model / SSDLITE_MODEL); None = the installed one that fits
    (names from model_dir's model.json when the bundle has one).
    model_is_vela: whether the explicit model was compiled by Vela (only the Ethos-U runs it).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}")
    if delegate_path is not None and device == "cpu":
        raise DelegateError("--delegate and --device cpu contradict each other")
    if model_path is None:
        # The installed bundle names its models in model.json; the COCO bundle's names otherwise.
        int8_name, vela_name = installed_model_names(model_dir, INT8_MODEL, VELA_MODEL)
    int8_model = model_path or os.path.join(model_dir, int8_name)
    vela_model = model_path or os.path.join(model_dir, vela_name)
    cpu_plan = None if model_is_vela else BackendPlan("cpu", int8_model)

    if delegate_path is not None:
        name = os.path.basename(delegate_path)
        if "ethosu" in name:
            npu_plan = BackendPlan("ethos-u", vela_model, delegate_path)
        elif "vx_delegate" in name:
            npu_plan = BackendPlan("vx", int8_model, delegate_path, _vx_options(vx_cache_dir, int8_model))
        else:
            npu_plan = BackendPlan(name, int8_model, delegate_path)
    elif platform.soc == IMX93 and (model_path is None or model_is_vela):
        npu_plan = BackendPlan("ethos-u", vela_model, ETHOSU_DELEGATE)
    elif platform.soc == IMX8MP and not model_is_vela:
        npu_plan = BackendPlan("vx", int8_model, VX_DELEGATE, _vx_options(vx_cache_dir, int8_model))
    else:
        npu_plan = None

    if model_is_vela and npu_plan is None:
        raise ModelError(
            f"{model_path} is compiled by Vela for the Ethos-U NPU and runs only on i.MX 93 with "
            f"{ETHOSU_DELEGATE} (package tensorflow-lite-ethosu-delegate) and {ETHOSU_DEVICE}; "
            f"this is {platform.soc_id}: use the int8 model ({INT8_MODEL}) instead"
        )
    if device == "cpu" and cpu_plan is None:
        raise ModelError(f"{model_path} is compiled by Vela: the CPU cannot run it; use the int8 model ({INT8_MODEL})")
    if device == "npu" and npu_plan is None:
        raise DelegateError(f"no supported NPU on this SoC ({platform.soc_id}); use --device cpu or auto")
    plans = {
        "npu": [npu_plan],
        "cpu": [cpu_plan],
        "auto": [npu_plan, cpu_plan],
    }[device]
    return [plan for plan in plans if plan is not None]


def check_npu_prerequisites(plan: BackendPlan, platform: Platform) -> None:
    """Fail early, naming what is missing, before the runtime gives a vaguer error."""
    if plan.delegate_path is not None and not os.path.exists(plan.delegate_path):
        package = {
            ETHOSU_DELEGATE: " (package tensorflow-lite-ethosu-delegate)",
            VX_DELEGATE: " (package tensorflow-lite-vx-delegate)",
        }.get(plan.delegate_path, "")
        raise DelegateError(f"delegate not found: {plan.delegate_path}{package}")
    if plan.backend == "ethos-u" and not platform.has_ethosu_device:
        raise DelegateError(
            f"{ETHOSU_DEVICE} is missing: the Ethos-U kernel driver is not loaded or the M33 "
            "firmware (package ethos-u-firmware) did not start"
        )
