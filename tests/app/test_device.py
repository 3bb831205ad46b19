import os

import pytest

from ssdlite_detect import device as devices
from ssdlite_detect.device import IMX8MP, IMX93, Platform, check_npu_prerequisites, detect_platform, plan_backends
from ssdlite_detect.errors import DelegateError, ModelError


def fake_root(tmp_path, soc_id=None, compatible=None, ethosu=False):
    if soc_id is not None:
        (tmp_path / "sys/devices/soc0").mkdir(parents=True)
        (tmp_path / "sys/devices/soc0/soc_id").write_text(soc_id + "\n")
    if compatible is not None:
        (tmp_path / "proc/device-tree").mkdir(parents=True)
        (tmp_path / "proc/device-tree/compatible").write_bytes(b"\0".join(c.encode() for c in compatible) + b"\0")
    if ethosu:
        (tmp_path / "dev").mkdir()
        (tmp_path / "dev/ethosu0").write_text("")
    return str(tmp_path)


@pytest.mark.parametrize("soc_id, compatible, expected", [
    ("i.MX93", None, IMX93),
    ("i.MX8MP", None, IMX8MP),
    (None, ["fsl,imx93-11x11-evk", "fsl,imx93"], IMX93),
    (None, ["fsl,imx8mp-evk", "fsl,imx8mp"], IMX8MP),
    ("i.MX8MM", ["fsl,imx8mm-evk", "fsl,imx8mm"], None),   # 8M Mini: no NPU
    (None, None, None),                                    # an x86 host
])
def test_soc_comes_from_sysfs_or_the_device_tree(tmp_path, soc_id, compatible, expected):
    assert detect_platform(fake_root(tmp_path, soc_id, compatible)).soc == expected


def test_ethosu_device_node_is_detected(tmp_path):
    assert detect_platform(fake_root(tmp_path, "i.MX93", ethosu=True)).has_ethosu_device
    assert not detect_platform(fake_root(tmp_path / "x", "i.MX93")).has_ethosu_device


IMX93_BOARD = Platform(IMX93, "i.MX93", True)
IMX8MP_BOARD = Platform(IMX8MP, "i.MX8MP", False)
HOST = Platform(None, "unknown", False)
MODELS = devices.DEFAULT_MODEL_DIR


def test_auto_on_imx93_runs_the_vela_model_on_ethos_u_then_falls_back_to_the_int8_model_on_cpu():
    plans = plan_backends("auto", IMX93_BOARD)
    assert [(p.backend, os.path.basename(p.model_path), p.delegate_path) for p in plans] == [
        ("ethos-u", devices.VELA_MODEL, devices.ETHOSU_DELEGATE),
        ("cpu", devices.INT8_MODEL, None),
    ]


def test_auto_on_imx8mp_runs_the_int8_model_on_vx_with_a_graph_cache(tmp_path):
    plans = plan_backends("auto", IMX8MP_BOARD, vx_cache_dir=str(tmp_path))
    assert [(p.backend, os.path.basename(p.model_path)) for p in plans] == [("vx", devices.INT8_MODEL), ("cpu", devices.INT8_MODEL)]
    assert plans[0].delegate_options == {
        "allowed_cache_mode": "true",
        "cache_file_path": str(tmp_path / "ssdlite_mobilenetv2_coco_int8.nb"),
    }


def test_auto_elsewhere_is_the_cpu_and_npu_is_refused():
    assert [p.backend for p in plan_backends("auto", HOST)] == ["cpu"]
    with pytest.raises(DelegateError, match="no supported NPU"):
        plan_backends("npu", HOST)
    assert [p.backend for p in plan_backends("npu", IMX93_BOARD)] == ["ethos-u"]
    assert [p.backend for p in plan_backends("cpu", IMX93_BOARD)] == ["cpu"]


def test_explicit_int8_model_on_imx93_runs_on_the_cpu_not_the_ethos_u():
    plans = plan_backends("auto", IMX93_BOARD, model_path="/data/my.tflite")
    assert [(p.backend, p.model_path) for p in plans] == [("cpu", "/data/my.tflite")]


def test_a_vela_model_off_imx93_names_what_is_missing():
    with pytest.raises(ModelError, match="compiled by Vela.*i.MX 93.*libethosu_delegate.so.*int8"):
        plan_backends("auto", IMX8MP_BOARD, model_path="/data/m_vela.tflite", model_is_vela=True)
    plans = plan_backends("auto", IMX93_BOARD, model_path="/data/m_vela.tflite", model_is_vela=True)
    assert [p.backend for p in plans] == ["ethos-u"]  # no CPU fallback: the CPU cannot run it
    with pytest.raises(ModelError, match="the CPU cannot run it"):
        plan_backends("cpu", IMX93_BOARD, model_path="/data/m_vela.tflite", model_is_vela=True)


def test_explicit_delegate(tmp_path):
    plans = plan_backends("auto", HOST, model_path="/m.tflite", delegate_path="/opt/libmy_delegate.so")
    assert [(p.backend, p.delegate_path) for p in plans] == [("libmy_delegate.so", "/opt/libmy_delegate.so"), ("cpu", None)]
    assert len(plan_backends("npu", HOST, delegate_path="/usr/lib/libvx_delegate.so", vx_cache_dir=str(tmp_path))) == 1
    with pytest.raises(DelegateError, match="contradict"):
        plan_backends("cpu", HOST, delegate_path="/x.so")


def test_vx_cache_falls_back_to_the_home_cache_when_the_system_one_is_read_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    plans = plan_backends("auto", IMX8MP_BOARD, vx_cache_dir=str(tmp_path / "missing"))
    assert plans[0].delegate_options["cache_file_path"].startswith(str(tmp_path / ".cache" / "ssdlite-detect"))


def test_npu_prerequisites_name_the_missing_package_or_device(tmp_path):
    with pytest.raises(DelegateError, match="tensorflow-lite-ethosu-delegate"):
        check_npu_prerequisites(plan_backends("npu", IMX93_BOARD)[0], IMX93_BOARD)
    delegate = tmp_path / "libethosu_delegate.so"
    delegate.write_text("")
    plan = devices.BackendPlan("ethos-u", "/m_vela.tflite", str(delegate))
    with pytest.raises(DelegateError, match="/dev/ethosu0 is missing"):
        check_npu_prerequisites(plan, Platform(IMX93, "i.MX93", False))
    check_npu_prerequisites(plan, IMX93_BOARD)  # everything present: no error
