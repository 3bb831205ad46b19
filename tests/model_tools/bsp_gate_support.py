"""Helpers and fixtures shared by the tests of `vela`, `check` and `evaluate` (imported by them).

Not a conftest: the stand-in fixtures live in conftest.py; these are the ones only the gate tests
need. Fixture functions imported into a test module are collected from there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _venv_dir() -> Path:
    return Path(os.environ.get("SSDLITE_VENV_DIR") or REPO_ROOT / ".venv")


def need(path: Path, what: str, require_variable: str) -> Path:
    """`path` if it exists; else skip, or fail when `require_variable`=1 (CI must not skip)."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if os.environ.get(require_variable) == "1":
        pytest.fail(f"{message} and {require_variable}=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def vela_executable() -> Path:
    """Vela 3.7.0 from .venv/vela (make env-vela)."""
    return need(_venv_dir() / "vela" / "bin" / "vela", "Vela env (make env-vela)", "SSDLITE_REQUIRE_VELA")


# Vela outputs compiled in this test session, by model path. A plain module-level cache rather than
# a session fixture: each test module imports these fixtures, and pytest would otherwise build a
# session fixture once per importing module (about 10 s per Vela run of the stand-in).
_VELA_OUTPUTS: dict = {}


def _compiled_once(model: Path, vela: Path, tmp_path_factory) -> Path:
    if model not in _VELA_OUTPUTS:
        output = tmp_path_factory.mktemp("vela-" + model.stem)
        compile_with_vela(model, output, vela)
        _VELA_OUTPUTS[model] = output
    return _VELA_OUTPUTS[model]


@pytest.fixture(scope="session")
def fallback_vela_dir(vela_executable, reference, tmp_path_factory) -> Path:
    """Vela output for a model whose TFLite_Detection_PostProcess op cannot go to the NPU."""
    return _compiled_once(reference / "coco_ssd_mobilenet_v1_postprocess.tflite", vela_executable, tmp_path_factory)


@pytest.fixture(scope="session")
def standin_vela_dir(vela_executable, standin_int8_tflite, tmp_path_factory) -> Path:
    """Vela output for the stand-in int8 model."""
    return _compiled_once(standin_int8_tflite, vela_executable, tmp_path_factory)


def one_operator_model(builtin_code: int, version: int, custom_code: str | None = None) -> bytes:
    """A .tflite holding one operator with no tensors: enough for an interpreter to look the
    operator up in its resolver (which happens when the model is loaded), nothing more."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = builtin_code
    # Old readers look only at the int8 field; codes above 127 store the placeholder 127 there.
    code.deprecatedBuiltinCode = min(builtin_code, 127)
    code.version = version
    code.customCode = custom_code
    model.operatorCodes = [code]
    operator = schema.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs, operator.outputs = [], []
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs = [], [], []
    subgraph.operators = [operator]
    model.subgraphs = [subgraph]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(256)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_cli(*argv: str) -> int:
    """`ssdlite-tools ARGV...` in-process, through the real entry point (errors -> exit codes)."""
    from ssdlite_tools.cli import main

    return main([str(a) for a in argv])


def one_error_line(capsys, command: str = "convert") -> str:
    """The one `ssdlite-tools COMMAND: error: ...` line a refused run printed on stderr."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ssdlite-tools")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"ssdlite-tools {command}: error: ")
    return lines[0]


def edit_pipeline_config(folder: Path, old: str, new: str) -> None:
    """Replace the first `old` in folder/pipeline.config (which must hold it) by `new`."""
    config = folder / "pipeline.config"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))


def compile_with_vela(model: Path, output_dir: Path, vela: Path):
    from ssdlite_tools import vela as vela_module

    return vela_module.compile_for_ethos_u(model, output_dir, executable=vela)


def tflite210_subprocess(python: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, timeout=600)
