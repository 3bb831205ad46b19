"""ssdlite-detect end to end on the reference SSD: output shape, agreement with TFLite's op,
every user error as one line and an exit code, and the same run on the BSP's TFLite 2.10."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from bsp_runtime_cli import cli_on_both_runtimes
from ssdlite_detect.cli import main
from ssdlite_detect.preprocess import prepare_input

OP_LIKE = ["--nms", "agnostic", "--max-detections", "10", "--iou-threshold", "0.6", "--score-threshold", "1e-8"]


@pytest.fixture(scope="module")
def model(reference):
    return str(reference / "coco_ssd_mobilenet_v1_raw.tflite")


@pytest.fixture(scope="module")
def photos(reference, tmp_path_factory):
    """300x300 inputs (no resize, so the CLI and the op see the same pixels) and the bus photo."""
    folder = tmp_path_factory.mktemp("photos")
    with Image.open(reference / "bus.jpg") as bus:
        bus = bus.convert("RGB")
    squares = {
        "bus300.png": bus.resize((300, 300), Image.BILINEAR),
        "mirror300.png": ImageOps.mirror(bus).resize((300, 300), Image.BILINEAR),
        "crop300.png": bus.crop((100, 50, 400, 350)),
    }
    for name, image in squares.items():
        image.save(folder / name)
    return folder


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssdlite-detect: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_json_lines_have_the_documented_shape(capsys, model, reference):
    code, out, err = run_cli(capsys, "--model", model, "--json", "--device", "cpu", reference / "bus.jpg")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) >= {"image", "width", "height", "backend", "detections", "timing_ms"}
    assert (result["width"], result["height"], result["backend"]) == (640, 428, "cpu")
    assert set(result["timing_ms"]) == {"preprocess", "inference", "postprocess"}
    best = result["detections"][0]
    assert set(best) == {"label", "class_id", "score", "box", "box_normalized"}
    assert (best["label"], best["class_id"]) == ("bus", 6) and best["score"] > 0.8
    xmin, ymin, xmax, ymax = best["box"]
    nymin, nxmin, nymax, nxmax = best["box_normalized"]
    assert (xmin, ymin, xmax, ymax) == pytest.approx((nxmin * 640, nymin * 428, nxmax * 640, nymax * 428), abs=0.01)
    assert all(d["score"] >= 0.5 for d in result["detections"])


@pytest.mark.parametrize("name", ["bus300.png", "mirror300.png", "crop300.png"])
def test_cli_json_reproduces_the_tflite_op(capsys, model, photos, reference_ssd, tflite_op, name):
    code, out, err = run_cli(capsys, "--model", model, "--json", *OP_LIKE, photos / name)
    assert code == 0, err
    detections = json.loads(out)["detections"]
    # The op gets the raw outputs of exactly the tensor the app feeds the model.
    with Image.open(photos / name) as image:
        tensor = prepare_input(image.convert("RGB"), 300, 300, np.uint8, reference_ssd.input["quantization"])
    op_boxes, op_classes, op_scores = tflite_op(*reference_ssd.raw_outputs_for_tensor(tensor))
    assert [d["class_id"] for d in detections] == op_classes.tolist()
    np.testing.assert_allclose([d["score"] for d in detections], op_scores, atol=1e-6)
    np.testing.assert_allclose([d["box_normalized"] for d in detections], np.clip(op_boxes, 0, 1), atol=1e-4)


def test_text_output_and_directories(capsys, model, photos):
    code, out, _ = run_cli(capsys, "--model", model, "--device", "cpu", photos)
    assert code == 0
    assert out.count("object(s)") == 3 and "bus" in out


def test_a_bad_input_is_reported_and_the_others_still_processed(capsys, model, reference, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes((reference / "bus.jpg").read_bytes()[:2000])
    code, out, err = run_cli(capsys, "--model", model, "--json", corrupt, tmp_path / "missing.jpg", reference / "bus.jpg")
    assert code == 1
    assert [json.loads(line)["image"] for line in out.splitlines()] == [str(reference / "bus.jpg")]
    assert "corrupt.jpg: truncated or corrupt" in err and "missing.jpg: no such file" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2


@pytest.mark.parametrize("make_model, code, fragments", [
    (lambda tmp, ref: tmp / "missing.tflite", 3, ["model file not found"]),
    (lambda tmp, ref: ref / "bus.jpg", 3, ["not a TensorFlow Lite model"]),
    (lambda tmp, ref: ref / "coco_ssd_mobilenet_v1_postprocess.tflite", 3, ["TFLite_Detection_PostProcess"]),
    (lambda tmp, ref: ref / "coco_ssd_postprocess_only.tflite", 3, ["expected 1 input (the image), found 2"]),
])
def test_model_errors(capsys, tmp_path, reference, make_model, code, fragments):
    result = run_cli(capsys, "--model", make_model(tmp_path, reference), reference / "bus.jpg")
    assert result[0] == code
    assert_one_line_error(result[2], *fragments)


def test_a_vela_model_on_this_host_names_what_it_needs(capsys, tmp_path, reference, model):
    vela_like = tmp_path / "m_vela.tflite"
    vela_like.write_bytes(Path(model).read_bytes() + b"ethos-u\0")
    code, _, err = run_cli(capsys, "--model", vela_like, reference / "bus.jpg")
    assert code == 3
    assert_one_line_error(err, "compiled by Vela", "libethosu_delegate.so", "int8")


def test_labels_errors(capsys, tmp_path, reference, model):
    short = tmp_path / "labels.txt"
    short.write_text("???\nperson\n")
    code, _, err = run_cli(capsys, "--model", model, "--labels", short, reference / "bus.jpg")
    assert code == 3
    assert_one_line_error(err, "2 labels", "91 classes")
    code, _, err = run_cli(capsys, "--model", model, "--labels", tmp_path / "none.txt", reference / "bus.jpg")
    assert code == 3
    assert_one_line_error(err, "labels file not found")


def test_delegate_and_device_errors(capsys, tmp_path, reference, model):
    code, _, err = run_cli(capsys, "--model", model, "--delegate", tmp_path / "libvx_delegate.so", "--device", "npu", reference / "bus.jpg")
    assert code == 4
    assert_one_line_error(err, "delegate not found")
    code, _, err = run_cli(capsys, "--model", model, "--device", "npu", reference / "bus.jpg")
    assert code == 4
    assert_one_line_error(err, "no supported NPU")


def test_auto_falls_back_to_the_cpu_and_says_so(capsys, tmp_path, reference, model):
    code, out, err = run_cli(capsys, "--model", model, "--json", "--delegate", tmp_path / "libvx_delegate.so", reference / "bus.jpg")
    assert code == 0
    assert json.loads(out)["backend"] == "cpu"
    assert "falling back to cpu" in err and "delegate not found" in err


def test_class_allow_list(capsys, reference, model):
    code, out, _ = run_cli(capsys, "--model", model, "--json", "--classes", "Car,traffic light", "--score-threshold", "0.3", reference / "bus.jpg")
    labels = {d["label"] for d in json.loads(out)["detections"]}
    assert code == 0 and labels == {"car", "traffic light"}
    code, _, err = run_cli(capsys, "--model", model, "--classes", "unicorn", reference / "bus.jpg")
    assert code == 3
    assert_one_line_error(err, "unknown class name", "unicorn")


def test_annotated_copies(capsys, tmp_path, reference, model):
    code, _, _ = run_cli(capsys, "--model", model, "--output", tmp_path / "out", reference / "bus.jpg")
    assert code == 0
    with Image.open(tmp_path / "out" / "bus.jpg") as annotated, Image.open(reference / "bus.jpg") as original:
        assert annotated.size == original.size
        difference = np.abs(np.asarray(annotated, np.int16) - np.asarray(original.convert("RGB"), np.int16))
        assert (difference.max(axis=2) > 60).mean() > 0.01  # boxes and tags were drawn


def test_benchmark_reports_stages_and_warm_up(capsys, reference, model):
    code, out, _ = run_cli(capsys, "--model", model, "--benchmark", "3", "--json", reference / "bus.jpg")
    report = json.loads(out)
    assert code == 0 and report["runs"] == 3 and report["backend"] == "cpu"
    assert set(report["stages"]) == {"preprocess", "inference", "postprocess", "total"}
    assert report["fps"] > 0 and report["warm_up_ms"] > 0
    code, out, _ = run_cli(capsys, "--model", model, "--benchmark", "2", reference / "bus.jpg")
    assert "FPS end to end" in out and "warm-up" in out


@pytest.mark.parametrize("argv", [["--score-threshold", "1.5", "x.jpg"], ["--no-such-option"], [],
                                  ["--source", "testsrc", "x.jpg"]])
def test_usage_errors_are_exactly_one_line_and_exit_2(capsys, argv):
    """No usage block before the line that says what is wrong (--help has the usage)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("ssdlite-detect: error: "), err


@pytest.mark.parametrize("option, value, fragment", [
    ("--threads", "2147483648", "[1, 1024]"),  # was a traceback from TFLite's C++ binding
    ("--threads", "0", "[1, 1024]"),
    ("--max-detections", "1e3", "invalid"),
    ("--max-per-class", "100001", "[1, 100000]"),
    ("--benchmark", "-1", "[1, 1000000]"),
    ("--connect-timeout", "inf", "<= 3600"),
    ("--connect-timeout", "nan", "<= 3600"),
    ("--duration", "1e300", "<= 3.1536e+07"),
    ("--source-fps", "100000", "[1, 1000]"),
    ("--source-size", "99999x480", "1 to 16384"),
    ("--score-threshold", "nan", "[0, 1]"),
])
def test_every_numeric_option_is_checked_against_its_range(capsys, tmp_path, option, value, fragment):
    """On the command line and in --config alike: one error line and exit 2, nothing started."""
    with pytest.raises(SystemExit) as exit_info:
        main([option, value, "x.jpg"])  # argparse checks types while parsing, before any mode
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and option in errors[0] and fragment in errors[0], errors
    config = tmp_path / "ssdlite.toml"
    config.write_text(f"{option[2:]} = {value if option != '--source-size' else repr(value)}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "x.jpg"])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and option[2:] in errors[0] and fragment in errors[0], errors


def test_model_from_the_environment(capsys, monkeypatch, reference, model):
    monkeypatch.setenv("SSDLITE_MODEL", model)
    code, out, _ = run_cli(capsys, "--json", reference / "bus.jpg")
    assert code == 0 and json.loads(out)["detections"][0]["label"] == "bus"


def test_help_imports_no_heavy_module():
    # `--help` on the board must not pay for numpy, Pillow or the TFLite runtime.
    probe = (
        "import sys, contextlib, io\n"
        "from ssdlite_detect.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(sorted(m for m in ('numpy', 'PIL', 'tflite_runtime') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_console_script_and_module_give_the_same_answer(model, reference):
    script = Path(sys.executable).with_name("ssdlite-detect")
    args = ["--model", model, "--json", str(reference / "bus.jpg")]
    from_script = subprocess.run([str(script), *args], capture_output=True, text=True, check=True).stdout
    from_module = subprocess.run([sys.executable, "-m", "ssdlite_detect", *args], capture_output=True, text=True, check=True).stdout
    strip = lambda out: {k: v for k, v in json.loads(out).items() if k != "timing_ms"}  # noqa: E731
    assert strip(from_script) == strip(from_module)


def test_the_cli_gives_the_same_detections_on_the_bsp_tflite_2_10(tflite210_python, model, reference, photos):
    """The board runs TFLite 2.10.0 on Python; the app must run there unchanged."""
    args = ["--model", model, "--json", "--device", "cpu", *OP_LIKE, photos / "bus300.png", reference / "bus.jpg"]
    on_210, on_214 = cli_on_both_runtimes(tflite210_python, args)
    assert on_210 == on_214
    assert on_210[0]["detections"][0]["label"] == "bus"


def test_detector_on_a_fake_imx8mp_falls_back_when_the_npu_cannot_run(tmp_path, model):
    """The board's default path: no --model, SoC from the kernel, delegate missing -> CPU, said once."""
    from ssdlite_detect.detector import Detector
    from ssdlite_detect.device import IMX8MP, Platform

    models = tmp_path / "share"
    models.mkdir()
    (models / "ssdlite_mobilenetv2_coco_int8.tflite").write_bytes(Path(model).read_bytes())
    notes = []
    detector = Detector.open(model_dir=str(models), platform=Platform(IMX8MP, "i.MX8MP", False), on_fallback=notes.append)
    assert detector.backend == "cpu" and detector.model_path == str(models / "ssdlite_mobilenetv2_coco_int8.tflite")
    assert len(notes) == 1 and "vx unavailable" in notes[0] and "libvx_delegate.so" in notes[0]


def test_a_config_file_works_for_still_images_and_the_command_line_wins(capsys, tmp_path, reference, model):
    config = tmp_path / "stills.toml"
    config.write_text(f'model = "{model}"\njson = true\nscore-threshold = 0.8\nclasses = "bus,person"\n')
    code, out, err = run_cli(capsys, "--config", config, reference / "bus.jpg")
    strict = json.loads(out)["detections"]
    assert code == 0 and strict and all(d["score"] >= 0.8 and d["label"] in ("bus", "person") for d in strict), err
    code, out, _ = run_cli(capsys, "--config", config, "--score-threshold", "0.3", reference / "bus.jpg")
    assert code == 0 and len(json.loads(out)["detections"]) > len(strict)
