"""Reading the small files a user points the app at (model.json, labels, the TOML config, the
HTTP token): regular files only, of a bounded size, so that no file can hang or exhaust the app.

A FIFO would block `open()` until a writer comes (forever, under systemd); /dev/zero or
/dev/urandom would be read until memory runs out. Opening with O_NONBLOCK returns at once for a
FIFO, and fstat on the open descriptor (not on the name, which could be swapped meanwhile) tells
what it is before anything is read.
"""
from __future__ import annotations

import contextlib
import os
import stat
from typing import BinaryIO, Iterator, Optional

# What a small file may weigh; a labels file of 100,000 classes is about 2 MB.
SMALL_FILE_LIMIT = 4 * 1024 * 1024


class UserFileError(ValueError):
    """A file the app cannot read as asked; the message says why, without the path (the caller
    names the file and what it is for). `errno` is the OS error's, when there was one."""

    def __init__(self, message: str, errno: Optional[int] = None):
        super().__init__(message)
        self.errno = errno


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def read_small_file(path: str, limit: int = SMALL_FILE_LIMIT) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; UserFileError otherwise."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise UserFileError(error.strerror or str(error), error.errno) from None
    except ValueError:  # a NUL in the name
        raise UserFileError("not a valid file name") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise UserFileError(f"is {_kind(mode)}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise UserFileError(error.strerror or str(error), error.errno) from None
    finally:
        os.close(descriptor)
    if size > limit:
        raise UserFileError(f"larger than {limit // 1024} KB; this is not the file it should be")
    return b"".join(chunks)


def read_small_text(path: str, limit: int = SMALL_FILE_LIMIT, encoding: str = "utf-8") -> str:
    """read_small_file decoded; UserFileError naming the first byte that is not `encoding`."""
    data = read_small_file(path, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UserFileError(f"not {error.encoding.upper()} text (byte 0x{data[error.start]:02x} at offset "
                            f"{error.start})") from None


@contextlib.contextmanager
def atomic_writer(target: str) -> Iterator[BinaryIO]:
    """A binary file that becomes `target` complete or not at all: written to a temporary file
    beside it, flushed to the disk, then renamed over it (os.replace). A full disk leaves the
    previous file (or none), never a truncated one; the OSError goes to the caller."""
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
    # 0o666 under the umask, as a plain open() would create it (mkstemp's 0600 would hide the copy).
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
