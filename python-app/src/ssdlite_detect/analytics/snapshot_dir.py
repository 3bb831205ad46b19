"""`--snapshots DIR`: every object's snapshot as a file, the directory kept under a size cap.

One file per object, `YYYYmmdd-HHMMSS-<track_id>-<label>.jpg` (the time its first snapshot was
taken, so that track ids, which start again at 1 with each run, never overwrite an earlier run's
files); a better snapshot replaces the object's file atomically (files.atomic_writer: a reader or
a power cut sees the previous JPEG or the new one, never half of one). When the files weigh more
than the cap, the oldest (by modification time) are deleted until they fit; only files with that
name pattern are counted or deleted, never anything else in the directory. Files of an earlier
run count towards the cap from the start.

A directory that cannot be created or written is a SnapshotDirError at start-up (exit 2); at run
time a write that fails (a full disk, the directory removed) is one line through `on_note` and the
run goes on; one more line once writing works again.
"""
from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from ..config import ConfigError
from ..files import atomic_writer

if TYPE_CHECKING:  # Pillow and numpy load with the snapshots, not when the directory is checked
    from .snapshots import Snapshot

NAME = re.compile(r"^\d{8}-\d{6}-\d+-[A-Za-z0-9_.-]*\.jpg$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_LABEL = 40


class SnapshotDirError(ConfigError):
    """--snapshots DIR cannot be created or written (exit 2, before anything starts)."""


def safe_label(label: str) -> str:
    """A label as part of a file name or an MQTT topic level: letters, digits, _ . - only."""
    return _UNSAFE.sub("_", label).strip(".")[:MAX_LABEL] or "object"


class SnapshotDirectory:
    """Writes snapshots into `path` under `max_bytes` (see the module doc)."""

    def __init__(self, path: str, max_bytes: int, on_note: Callable[[str], None] = lambda _message: None,
                 clock: Callable[[], float] = time.time):
        if max_bytes < 1:
            raise ValueError("the snapshot directory's cap must be at least one byte")
        self.path = path
        self.max_bytes = max_bytes
        self.on_note = on_note
        self.clock = clock
        self.written = 0
        self.deleted = 0
        self.failed = 0
        self._failing = False
        self._names: Dict[int, str] = {}  # track id -> its file's name, this run
        self._sizes: Dict[str, Tuple[float, int]] = {}  # name -> (mtime, bytes) of the files we count
        self._check()
        self._scan()

    @property
    def total_bytes(self) -> int:
        return sum(size for _mtime, size in self._sizes.values())

    def _check(self) -> None:
        where = f"--snapshots {self.path}"
        try:
            os.makedirs(self.path, exist_ok=True)
            probe = os.path.join(self.path, f".probe-{os.getpid()}-{os.urandom(4).hex()}")
            with open(probe, "wb"):
                pass
            os.unlink(probe)
        except OSError as error:
            raise SnapshotDirError(f"{where}: cannot write there: {error.strerror or error}") from None
        except ValueError:  # a NUL in the name
            raise SnapshotDirError(f"{where}: not a valid directory name") from None

    def _scan(self) -> None:
        with os.scandir(self.path) as entries:
            for entry in entries:
                if NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    self._sizes[entry.name] = (info.st_mtime, info.st_size)
        self._trim(keep=None)

    def name_for(self, snapshot: "Snapshot") -> str:
        name = self._names.get(snapshot.track_id)
        if name is None:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.clock()))
            name = self._names[snapshot.track_id] = f"{stamp}-{snapshot.track_id}-{safe_label(snapshot.label)}.jpg"
        return name

    def write(self, snapshot: "Snapshot") -> Optional[str]:
        """The file written (its path), or None when writing failed (reported once, see above)."""
        name = self.name_for(snapshot)
        target = os.path.join(self.path, name)
        try:
            with atomic_writer(target) as file:
                file.write(snapshot.jpeg)
        except OSError as error:
            self.failed += 1
            if not self._failing:
                self._failing = True
                self.on_note(f"--snapshots {self.path}: cannot write {name}: {error.strerror or error}; "
                             "snapshots go on in memory")
            return None
        if self._failing:
            self._failing = False
            self.on_note(f"--snapshots {self.path}: writing again")
        self.written += 1
        self._sizes[name] = (self.clock(), len(snapshot.jpeg))
        self._trim(keep=name)
        return target

    def forget(self, track_id: int) -> None:
        """The object ended: its file stays, its name is no longer needed."""
        self._names.pop(track_id, None)

    def _trim(self, keep: Optional[str]) -> None:
        """Deletes the oldest counted files until the total fits the cap (never `keep`, the file
        just written: a single snapshot over the cap is kept rather than lost)."""
        total = self.total_bytes
        if total <= self.max_bytes:
            return
        for name in sorted(self._sizes, key=lambda n: self._sizes[n][0]):
            if total <= self.max_bytes:
                break
            if name == keep:
                continue
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass  # someone else removed it: it no longer counts either way
            except OSError:
                continue  # cannot delete it now: it still counts, the next write tries again
            total -= self._sizes.pop(name)[1]
            self.deleted += 1
