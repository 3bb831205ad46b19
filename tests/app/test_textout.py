"""textout: lines on a stream as a well-behaved CLI writes them, and outside text made one line."""
import io
import os

import pytest

from ssdlite_detect.errors import OutputError
from ssdlite_detect.textout import one_line, silence, write_line
from ssdlite_detect.urls import redact_url


@pytest.mark.parametrize("text, expected", [
    ("plain text, ünïcode", "plain text, ünïcode"),
    ("a\nssdlite-detect: error: forged", "a\\nssdlite-detect: error: forged"),
    ("cr\rtab\tnul\x00esc\x1b[31m", "cr\\rtab\\tnul\\x00esc\\x1b[31m"),
    ("del\x7f c1\x85 ls\u2028ps\u2029", "del\\x7f c1\\x85 ls\\u2028ps\\u2029"),
])
def test_one_line_escapes_control_characters_only(text, expected):
    assert one_line(text) == expected


def test_redacted_urls_are_one_line():
    assert redact_url("rtsp://a:pw\n@cam/x\r\nforged") == "rtsp://a:***@cam/x\\r\\nforged"


def test_write_line_flushes_each_line():
    stream = io.StringIO()
    write_line(stream, "{}")
    assert stream.getvalue() == "{}\n"


def test_a_full_disk_is_an_output_error():
    with open("/dev/full", "w") as full:
        with pytest.raises(OutputError, match="cannot write to /dev/full: No space left on device"):
            write_line(full, "x")
        silence(full)  # the buffered "x" now goes to /dev/null: closing it raises nothing
    assert os.path.exists("/dev/full")


def test_a_broken_pipe_stays_a_broken_pipe():
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as stream:
        with pytest.raises(BrokenPipeError):
            write_line(stream, "x")
        silence(stream)
