"""One resumable JSONL file: append-only, crash-safe, shared between threads and processes.

Every line is one JSON value followed by `\\n` (lines are split on `\\n` only: `json.dumps(...,
ensure_ascii=False)` keeps other line separators such as U+2028 unescaped inside strings).

- A writer killed in the middle of a write (kill -9, a crash) leaves a *torn tail*: bytes after
  the last newline.  `repair()` cuts it off in place (truncate + fsync; the good prefix is never
  rewritten, so a kill during the repair loses nothing), and so does every `append` before it
  writes.  A last line that ends with a newline but is not valid JSON is cut as well.
- `append(objs)` writes whole lines under an exclusive `fcntl.flock` (one writer at a time, across
  processes: lines never interleave), then flush + fsync.
- `read()` yields the valid values of the complete lines; torn and invalid lines are skipped.

Cutting happens only under the flock, when no live writer is between two bytes of a line; every
writer of the file must go through this class (or hold the same flock).

Base layer: imports only the standard library and `prover.errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

_BLOCK = 1 << 16


def _encode(objs: Iterable[Any]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode("utf-8")


def _parse(line: bytes) -> tuple[bool, Any]:
    """(True, value) for a line (without its newline) holding one JSON value, else (False, None)."""
    try:
        return True, json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False, None


def _good_size(f: BinaryIO) -> int:
    """Length of the good prefix of the open file `f`: up to its last newline, less the last line
    if that is not valid JSON."""
    size = f.seek(0, os.SEEK_END)
    end = _rfind_newline(f, size)  # offset just past the last newline (0: none)
    if end == 0:
        return 0
    start = _rfind_newline(f, end - 1)  # start of the last complete line
    f.seek(start)
    ok, _ = _parse(f.read(end - 1 - start))
    return end if ok else start


def _rfind_newline(f: BinaryIO, limit: int) -> int:
    """Offset just past the last `\\n` in bytes [0, limit) of `f`, or 0 when there is none."""
    pos = limit
    while pos > 0:
        lo = max(0, pos - _BLOCK)
        f.seek(lo)
        i = f.read(pos - lo).rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        pos = lo
    return 0


@contextlib.contextmanager
def _flocked(f: BinaryIO) -> Iterator[None]:
    """Hold an exclusive flock on `f` (one holder at a time, across processes)."""
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class LockedJsonl:
    """The file while its flock is held (from `JsonlStore.locked()`): the torn tail is already
    cut, so reads see whole lines and writes start on a line boundary."""

    def __init__(self, f: BinaryIO, size: int, cut: int) -> None:
        self._f = f
        self.size = size  # bytes in the file (a line boundary)
        self.cut = cut  # bytes of torn tail cut off when the lock was taken

    def read_from(self, offset: int) -> tuple[list[Any], int]:
        """(the valid values of the lines from byte `offset` on, the file size).  `offset` must
        be a line boundary, e.g. the size returned by an earlier call; past the end (the file
        was cut since) it reads from the start."""
        if offset > self.size:
            offset = 0
        self._f.seek(offset)
        data = self._f.read(self.size - offset)
        out = []
        for line in data.split(b"\n")[:-1]:
            ok, value = _parse(line)
            if ok:
                out.append(value)
        return out, self.size

    def write(self, objs: Iterable[Any]) -> int:
        """Append one line per value, flush + fsync; returns the new file size."""
        payload = _encode(objs)
        if payload:
            self._f.write(payload)  # O_APPEND: at the end
            self._f.flush()
            os.fsync(self._f.fileno())
            self.size += len(payload)
        return self.size


class JsonlStore:
    """An append-only JSONL file at `path` (see the module docstring).  Safe to share between
    threads and processes: an exclusive flock is held around each append and repair."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JsonlStore({str(self.path)!r})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[LockedJsonl]:
        """Hold the file's exclusive flock (the file is created if missing) with the torn tail
        cut, for reads and writes that must see no other writer in between."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        with self._lock, os.fdopen(fd, "rb+") as f, _flocked(f):
            size = f.seek(0, os.SEEK_END)
            good = _good_size(f)
            if good != size:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
            yield LockedJsonl(f, good, size - good)

    def repair(self) -> int:
        """Make the file ready to append to: create it if missing, cut a torn or invalid last
        line off in place (truncated, never rewritten; fsynced).  Returns the bytes cut."""
        with self.locked() as lf:
            return lf.cut

    def append(self, objs: Iterable[Any]) -> int:
        """Append one line per value (nothing for none) after cutting a torn tail another writer
        left; flush + fsync.  Returns the number of lines written."""
        items = list(objs)
        if items:
            with self.locked() as lf:
                lf.write(items)
        return len(items)

    def read(self) -> Iterator[Any]:
        """The valid JSON values of the complete lines, in file order.  Takes no lock: a line
        still being written (no newline yet) is not read."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return
        with f:
            for line in f:  # binary: split on b"\n" only
                if not line.endswith(b"\n"):
                    return  # torn tail
                ok, value = _parse(line[:-1])
                if ok:
                    yield value

    def load_by(self, key: str) -> dict[str, dict[str, Any]]:
        """`obj[key]` -> obj for the JSON objects whose `key` is a string; a later line wins."""
        out: dict[str, dict[str, Any]] = {}
        for obj in self.read():
            if isinstance(obj, dict) and isinstance(obj.get(key), str):
                out[obj[key]] = obj
        return out
