"""Text the app writes to its streams, the way a well-behaved CLI writes it.

- write_line: one line, flushed. A reader that went away (`ssdlite-detect ... --json | head -1`)
  stays a BrokenPipeError, which the modes take as "stop quietly"; any other failure to write (a
  full disk, ENOSPC; an I/O error) becomes an OutputError: one error line and a non-zero exit,
  never a traceback and never an exit 0 over lost results.
- silence: after either, points the stream's file descriptor at /dev/null, so that Python's own
  flush at exit does not report the same failure again ("Exception ignored in ... stdout").
- one_line: text from outside (a URL, a file name, a peer's bytes) made safe to put inside a
  one-line message: control characters and line breaks escaped, so nobody can forge a second log
  line or a second "error:" line by putting a newline in a URL or a file name.

Standard library only: cli.py imports it before anything heavy.
"""
from __future__ import annotations

import os
import re

from .errors import OutputError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with each control character (newlines and tabs included, and Unicode's line and
    paragraph separators) replaced by its escape, e.g. "\\n"; everything else unchanged."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def stream_name(stream) -> str:
    name = getattr(stream, "name", None)
    return name.strip("<>") if isinstance(name, str) else "the output"


def write_line(stream, text: str) -> None:
    """`text` and a newline on `stream`, flushed. Raises BrokenPipeError when the reader went
    away, OutputError when the stream cannot take it (ENOSPC, EIO...)."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(f"cannot write to {stream_name(stream)}: {reason}") from None


def silence(stream) -> None:
    """Point `stream`'s file descriptor at /dev/null (after a broken pipe or a full disk), and drop
    what its buffer still holds, so that nothing reports the failure again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        return  # not a file descriptor (a test's stream): nothing will flush it at exit
    try:
        stream.flush()  # the buffered rest now goes to /dev/null
    except (OSError, ValueError):
        pass
