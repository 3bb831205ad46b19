import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ssdlite_detect.errors import DelegateError, ModelError
from ssdlite_detect.runtime import (
    create_interpreter,
    identify_ssd_tensors,
    import_runtime,
    is_vela_model,
    read_model,
    read_model_anchors,
)

DATA = Path(__file__).parent / "data"


def details(index, name, shape, dtype=np.uint8, quantization=(0.1, 0)):
    return {"index": index, "name": name, "shape": np.array(shape), "dtype": dtype, "quantization": quantization}


IMAGE = details(0, "input", [1, 300, 300, 3], np.int8, (0.0078, -1))


def test_read_model_rejects_missing_directories_and_non_tflite(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_model(str(tmp_path / "missing.tflite"))
    with pytest.raises(ModelError, match="directory"):
        read_model(str(tmp_path))
    (tmp_path / "photo.tflite").write_bytes(b"\xff\xd8\xff\xe0 not a model")
    with pytest.raises(ModelError, match="not a TensorFlow Lite model"):
        read_model(str(tmp_path / "photo.tflite"))
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(ModelError, match="not a TensorFlow Lite model"):
        read_model(str(tmp_path / "empty.tflite"))


def test_vela_models_are_recognised_by_their_custom_op(reference):
    plain = read_model(str(reference / "coco_ssd_mobilenet_v1_raw.tflite"))
    assert not is_vela_model(plain)
    assert is_vela_model(plain + b"ethos-u\x00")


@pytest.mark.parametrize("boxes_shape", [[1, 1917, 4], [1, 1917, 1, 4]])
def test_outputs_are_found_by_shape_whatever_their_order(boxes_shape):
    boxes = details(7, "concat", boxes_shape, np.int8)
    classes = details(9, "concat_1", [1, 1917, 91], np.int8)
    for outputs in ([boxes, classes], [classes, boxes]):
        signature = identify_ssd_tensors([IMAGE], outputs, "m.tflite")
        assert (signature.boxes.index, signature.classes.index) == (7, 9)
        assert (signature.num_anchors, signature.num_classes, signature.input_size) == (1917, 91, (300, 300))


def test_any_class_count_works_including_a_3_class_model():
    boxes = details(1, "raw_boxes", [1, 100, 4])
    classes = details(2, "class_scores", [1, 100, 4])
    signature = identify_ssd_tensors([IMAGE], [boxes, classes], "m")
    assert signature.classes.index == 2 and signature.num_classes == 4


@pytest.mark.parametrize("inputs, outputs, message", [
    ([], [], "expected 1 input"),
    ([details(0, "x", [1, 300, 300, 1], np.float32, (0, 0))], [], "image input"),
    ([details(0, "x", [1, 300, 300, 3], np.int8, (0.0, 0))], [], "no quantisation"),
    ([IMAGE], [details(1, "a", [1, 10, 4], np.float32, (0, 0)), details(2, "b", [1, 10], np.float32, (0, 0)),
               details(3, "c", [1, 10], np.float32, (0, 0)), details(4, "d", [1], np.float32, (0, 0))],
     "TFLite_Detection_PostProcess"),
    ([IMAGE], [details(1, "logits", [1, 1001])], "expected SSD outputs"),
    ([IMAGE], [details(1, "b", [1, 1917, 4]), details(2, "c", [1, 1000, 91])], "expected SSD outputs"),
    ([IMAGE], [details(1, "b", [1, 1917, 4], np.int8, (0.0, 0)), details(2, "c", [1, 1917, 91])], "without quantisation"),
])
def test_unexpected_inputs_and_outputs_are_model_errors(inputs, outputs, message):
    with pytest.raises(ModelError, match=message):
        identify_ssd_tensors(inputs, outputs, "m.tflite")


def test_model_anchors_are_read_and_dequantised(reference_ssd):
    anchors = read_model_anchors(reference_ssd.interpreter, 1917)
    np.testing.assert_array_equal(anchors, reference_ssd.anchors)
    assert read_model_anchors(reference_ssd.interpreter, 1000) is None


def test_a_library_that_is_not_a_delegate_fails_to_load_with_one_line(tmp_path, reference):
    not_a_library = tmp_path / "libnot_a_delegate.so"
    not_a_library.write_text("text")
    with pytest.raises(DelegateError, match="cannot load delegate") as error:
        create_interpreter(import_runtime(), str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), 1, str(not_a_library))
    assert "\n" not in str(error.value)


def build_library(source: Path, library: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test libraries")
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True)
    return library


@pytest.fixture(scope="module")
def noop_delegate(tmp_path_factory):
    return build_library(DATA / "noop_delegate.c", tmp_path_factory.mktemp("delegate") / "libnoop_delegate.so")


def test_a_library_without_the_delegate_entry_points_is_refused(tmp_path, reference):
    source = tmp_path / "plain.c"
    source.write_text("int answer(void) { return 42; }\n")
    library = build_library(source, tmp_path / "libplain.so")
    with pytest.raises(DelegateError, match="not a TFLite external delegate"):
        create_interpreter(import_runtime(), str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), 1, str(library))


def test_a_delegate_that_takes_no_node_is_detected(noop_delegate, reference):
    with pytest.raises(DelegateError, match="took no part"):
        create_interpreter(import_runtime(), str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), 1, str(noop_delegate))


def test_model_that_does_not_load_is_a_model_error(tmp_path):
    """In a child process: should TFLite crash after all, this test fails instead of the whole run."""
    # A well-formed FlatBuffer (root offset, identifier, an empty vtable, a Model table without
    # fields) that TFLite refuses: no version, no subgraph.
    empty_model = tmp_path / "empty_model.tflite"
    empty_model.write_bytes(b"\x0c\x00\x00\x00TFL3" + b"\x04\x00\x04\x00" + b"\x04\x00\x00\x00")
    # A FlatBuffer whose Model vtable is zeros: TFLite itself follows it and may crash.
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    code = ("import sys\nfrom ssdlite_detect.errors import ModelError\n"
            "from ssdlite_detect.runtime import create_interpreter, import_runtime\n"
            "try:\n    create_interpreter(import_runtime(), sys.argv[1])\n"
            "except ModelError as error:\n    print(error)\n    sys.exit(3)\n")
    for model, message in ((empty_model, r"cannot load .*schema version 0"),
                           (broken, r"truncated or corrupt: Model vtable at byte 28 has impossible sizes")):
        child = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
        assert child.returncode == 3, (model.name, child.returncode, child.stderr[-300:])
        assert re.search(message, child.stdout), child.stdout


def test_runtime_falls_back_to_tensorflow_lite_then_says_what_to_install(monkeypatch):
    import sys
    import types

    from ssdlite_detect.errors import RuntimeMissingError

    fake_lite = types.SimpleNamespace(
        Interpreter="tf-interpreter",
        experimental=types.SimpleNamespace(load_delegate="tf-load-delegate", OpResolverType=types.SimpleNamespace(
            BUILTIN_WITHOUT_DEFAULT_DELEGATES="no-defaults")),
    )
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)  # None makes the import fail
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(lite=fake_lite))
    runtime = import_runtime()
    assert (runtime.name, runtime.interpreter_class, runtime.load_delegate) == ("tensorflow", "tf-interpreter", "tf-load-delegate")
    assert runtime.op_resolver_without_default_delegates == "no-defaults"
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(RuntimeMissingError, match="tensorflow-lite package"):
        import_runtime()
