"""Property-based fuzzing (hypothesis) of every parser fed by a user's file or a URL: model.json,
the TOML config (settings, zones, lines, tracking), the HTTP token file and the presented token,
the MQTT and RTSP URLs. The property: every input gives either a valid result or exactly one
DetectError whose message is one line (and for URLs never holds the password), never another
exception. The CLI fuzzers run the real `ssdlite-detect` on generated files: a valid run or one
`ssdlite-detect: error:` line and a non-zero exit, never a traceback, never a signal death.

SSDLITE_FUZZ_EXAMPLES (default 400) sets the examples per parser fuzzer, a 40th of it (at least
10) per CLI fuzzer. Runs are derandomized (the same inputs every run, as CI must be reproducible);
SSDLITE_FUZZ_RANDOM=1 explores new ones.
"""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssdlite_detect.cli import build_registry
from ssdlite_detect.config import load_settings
from ssdlite_detect.errors import DetectError
from ssdlite_detect.live.pipeline import SourceSpecError, parse_source
from ssdlite_detect.model_description import ModelDescription, description_from_dict, read_description
from ssdlite_detect.analytics.zones import regions_from_table
from ssdlite_detect.service.auth import read_token_file, token_matches
from ssdlite_detect.service.mqtt import parse_mqtt_url

from test_model_description import CUSTOM

EXAMPLES = int(os.environ.get("SSDLITE_FUZZ_EXAMPLES", "400"))
CLI_EXAMPLES = max(10, EXAMPLES // 40)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=os.environ.get("SSDLITE_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])
CLI_FUZZ = settings(FUZZ, max_examples=CLI_EXAMPLES)
PASSWORD = "S3cretPW"
LABELS = ("person", "car", "bus")


def assert_one_line(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message, repr(message)


def outcome(parse, *args, errors=(DetectError,)):
    """parse(*args), or the error it raised, one of `errors` (checked to be one line); any other
    exception fails the property."""
    try:
        return parse(*args)
    except errors as error:
        assert_one_line(error)
        return error


# ---- model.json ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


@st.composite
def mutated_descriptions(draw):
    """The valid CUSTOM description with 1 to 4 of its values replaced, removed or numerically
    nudged (0, negative, huge, NaN, a list one longer...)."""
    record = copy.deepcopy(CUSTOM.to_dict())
    for _ in range(draw(st.integers(1, 4))):
        paths = [path for path in _paths(record) if path]
        path = draw(st.sampled_from(paths))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]]
        action = draw(st.sampled_from(["replace", "remove", "number", "grow"]))
        if action == "remove":
            del parent[path[-1]]
        elif action == "number" and isinstance(old, (int, float)) and not isinstance(old, bool):
            parent[path[-1]] = draw(st.sampled_from([0, -1, -old, old * 1e9, 2**63, float("nan"), float("inf"),
                                                     old + 1, old - 1, 1e-300, str(old)]))
        elif action == "grow" and isinstance(old, list):
            parent[path[-1]] = old + old[:1] if old else [draw(json_values)]
        else:
            parent[path[-1]] = draw(json_values)
    return record


def _check_description(result) -> None:
    if isinstance(result, ModelDescription):
        # A description accepted is one the app can use: JSON again (no NaN), sane numbers.
        json.dumps(result.to_dict(), allow_nan=False)
        coder = result.box_coder
        assert all(math.isfinite(v) and v > 0 for v in (coder.y, coder.x, coder.h, coder.w)), coder
        assert result.num_classes >= 1 and min(result.input_size) >= 1


@FUZZ
@given(record=mutated_descriptions())
def test_model_descriptions_mutated_from_a_valid_one(tmp_path_factory, record):
    path = tmp_path_factory.mktemp("desc") / "model.json"
    path.write_text(json.dumps(record))  # NaN and Infinity as Python writes them: not JSON
    _check_description(outcome(read_description, str(path)))
    _check_description(outcome(description_from_dict, record, "model.json"))


@FUZZ
@given(record=json_values)
def test_model_descriptions_of_any_json(record):
    _check_description(outcome(description_from_dict, record, "model.json"))


@FUZZ
@given(data=st.binary(max_size=2000), cut=st.integers(0, 2000))
def test_model_description_files_of_any_bytes_or_truncated(tmp_path_factory, data, cut):
    folder = tmp_path_factory.mktemp("bytes")
    valid = json.dumps(CUSTOM.to_dict(), indent=2).encode()
    for name, content in (("random.json", data), ("truncated.json", valid[:cut] + data[:8])):
        (folder / name).write_bytes(content)
        _check_description(outcome(read_description, str(folder / name)))


# ---- TOML config ----------------------------------------------------------------------------------

def toml_value(value) -> str:
    """A TOML literal of a Python value (the test's own writer: tomllib only reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's basic string escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


scalars = (st.booleans() | st.integers(-2**65, 2**65) | st.floats() | st.text(max_size=30)
           | st.sampled_from(["0", "1", "-1", "auto", "cpu", "npu", "8080", "0.0.0.0:99999", "mqtt://b/x",
                              "rtsp://u:p@h/x", "testsrc", "/dev/null", "640x480", "99999x1"]))
toml_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                           max_leaves=8)
points = st.lists(st.lists(st.floats(-1e6, 1e6) | st.integers(-5, 5000), min_size=0, max_size=3), max_size=6)
region_tables = st.fixed_dictionaries({"name": st.text(max_size=10) | st.integers(), "points": points | toml_values},
                                      optional={"labels": st.lists(st.sampled_from(LABELS + ("unicorn", "")), max_size=3)
                                                | toml_values,
                                                "in": st.lists(st.floats(-1e4, 1e4), max_size=3) | toml_values,
                                                "min_score": st.floats() | toml_values,
                                                "normalized": st.booleans() | toml_values,
                                                "inertia": st.floats() | st.integers(-3, 100) | toml_values})


@st.composite
def config_texts(draw, excluded=()):
    long_options = sorted(set(build_registry().long_options) - set(excluded))
    settings_table = draw(st.dictionaries(st.sampled_from(long_options + ["unknown-option", "port"]), toml_values,
                                          max_size=5))
    lines = [f"{json.dumps(key)} = {toml_value(value)}" for key, value in settings_table.items()]
    for key in ("zones", "lines"):
        for table in draw(st.lists(region_tables, max_size=2)):
            lines.append(f"[[{key}]]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    if draw(st.booleans()):
        lines.append("[tracking]")
        tracking = draw(st.dictionaries(st.sampled_from(["max_age_s", "min_hits", "high_score", "low_score",
                                                         "match_iou", "other"]), scalars, max_size=3))
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in tracking.items()]
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:  # now and then, not TOML at all
        text = text[: draw(st.integers(0, len(text)))] + draw(st.text(max_size=10))
    return text


def _load_config(registry, path):
    settings_found, regions = load_settings(registry.long_options, path)
    return settings_found, regions_from_table(regions, path, LABELS)


@FUZZ
@given(text=config_texts())
def test_config_files(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("config") / "ssdlite.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = outcome(_load_config, build_registry(), str(path))
    if not isinstance(result, DetectError):
        settings_found, regions = result
        for zone in regions.zones:
            assert len(zone.points) >= 3 and all(math.isfinite(c) for point in zone.points for c in point)


# ---- the token file, the presented token -------------------------------------------------------------

@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
       presented=st.none() | st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_token_files_and_presented_tokens(tmp_path_factory, data, presented):
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_bytes(data)
    token = outcome(read_token_file, str(path))
    if isinstance(token, str):
        assert len(token) >= 16 and token.isascii() and token.strip() == token
        assert token_matches(token, token) and token_matches(token, presented) == (presented == token)
    else:
        assert isinstance(token_matches("a" * 32, presented), bool)


# ---- MQTT and RTSP URLs ---------------------------------------------------------------------------------

url_text = st.lists(st.sampled_from(list("ab01:/@?#%[]. -_=&;\n\t\x00é") + ["%40", "%2F", "%FF", "::1"]),
                    max_size=10).map("".join)


@st.composite
def urls_with_a_password(draw, schemes):
    scheme = draw(st.sampled_from(schemes))
    user = draw(url_text)
    host = draw(st.sampled_from(["127.0.0.1", "broker", "[::1]", "h", ""]) | url_text)
    port = draw(st.sampled_from(["", ":1883", ":0", ":99999", ":x"]) | url_text)
    rest = draw(st.sampled_from(["/cam", "/a/b", ""]) | url_text)
    password = draw(st.sampled_from([PASSWORD, PASSWORD[:3] + "/" + PASSWORD[3:], PASSWORD[:3] + "@" + PASSWORD[3:],
                                     PASSWORD[:3] + "?" + PASSWORD[3:], PASSWORD[:4] + "\n" + PASSWORD[4:]]))
    if draw(st.booleans()):
        return f"{scheme}://{user}:{password}@{host}{port}{rest}"
    return f"{scheme}://{host}{port}{rest}?user={user}&password={password}"


def _secret_parts(url: str):
    return [part for part in ("S3c", "etPW") if part in url]


@FUZZ
@given(url=urls_with_a_password(["mqtt", "mqtts", "http", ""]))
def test_mqtt_urls(url):
    result = outcome(parse_mqtt_url, url)
    if isinstance(result, DetectError):
        assert not any(part in str(result) for part in _secret_parts(url)), str(result)
    else:
        for shown in (result.prefix, result.host, result.describe(), result.status_topic):
            assert PASSWORD[:3] not in shown and "etPW" not in shown, (url, result)
        assert 1 <= result.port <= 65535


@FUZZ
@given(url=urls_with_a_password(["rtsp", "rtsps", "rtspt"]))
def test_rtsp_urls(url):
    result = outcome(parse_source, url, errors=(SourceSpecError,))  # the CLI's usage error, exit 2
    if isinstance(result, SourceSpecError):
        assert not any(part in str(result) for part in _secret_parts(url)), str(result)
    else:
        assert "S3c" not in result.name and "etPW" not in result.name and "\n" not in result.name, (url, result)


# ---- the CLI on generated files ---------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ssdlite_detect", *map(str, args)], capture_output=True,
                          text=True, errors="replace", timeout=120)


def assert_valid_run_or_one_error(result):
    assert result.returncode >= 0, f"killed by signal {-result.returncode}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ssdlite-detect: error: ")]
        assert len(errors) == 1, result.stderr[-3000:]


@pytest.fixture(scope="module")
def bus(reference):
    return reference / "bus.jpg"


@pytest.fixture(scope="module")
def model(reference):
    return reference / "coco_ssd_mobilenet_v1_raw.tflite"


@CLI_FUZZ
@given(text=config_texts(excluded=("source", "benchmark")))
def test_the_cli_on_generated_config_files(tmp_path_factory, model, bus, text):
    """Without `source` (a live run would not end) nor `benchmark` (up to a million runs): the
    live and service options then meet "needs --source", the others a run on the bus photo."""
    path = tmp_path_factory.mktemp("cliconfig") / "ssdlite.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_valid_run_or_one_error(run_cli("--config", path, "--model", model, "--device", "cpu", bus))


@CLI_FUZZ
@given(record=mutated_descriptions())
def test_the_cli_on_generated_model_descriptions(tmp_path_factory, model, bus, record):
    folder = tmp_path_factory.mktemp("climodel")
    os.symlink(model, folder / "parts_int8.tflite")
    (folder / "model.json").write_text(json.dumps(record))
    assert_valid_run_or_one_error(run_cli("--model", folder / "parts_int8.tflite", "--json", bus))
