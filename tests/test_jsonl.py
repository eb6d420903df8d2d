"""The resumable JSONL store (prover.jsonl): torn and invalid tails are cut in place, reads skip
what is not whole JSON, appends are fsynced whole lines, and two processes appending at once never
interleave their lines (also when one of them is killed with SIGKILL mid-run)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import prover.jsonl
from prover.jsonl import JsonlStore

REPO = Path(__file__).resolve().parent.parent


def test_append_read_round_trip_and_line_separators(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "a.jsonl")
    assert list(store.read()) == [] and not store.path.exists()
    assert store.repair() == 0 and store.path.read_bytes() == b""  # created, ready to append
    rows = [{"id": "a", "text": "x\u2028y\u0085z\rw"}, [1, 2], "s", None]  # separators kept raw
    assert store.append(rows) == 4 and store.append([]) == 0
    assert list(store.read()) == rows
    assert store.path.read_bytes().count(b"\n") == 4


@pytest.mark.parametrize(
    ("tail", "cut"),
    [
        ("", 0),
        ('{"id": "b"', 10),  # killed mid-line
        ('{"id": "b"}', 11),  # killed before the newline: not a whole line yet
        ('{"id": \n', 8),  # the newline made it, the JSON did not
        ('{"id": \n{"id"', 13),  # both: the torn part and the invalid line before it
        ("\xff\n", 2),  # not UTF-8
    ],
)
def test_repair_cuts_in_place(tmp_path: Path, tail: str, cut: int) -> None:
    path = tmp_path / "r.jsonl"
    good = '{"id": "a"}\n'
    path.write_bytes(good.encode() + tail.encode("latin-1" if "\xff" in tail else "utf-8"))
    inode = path.stat().st_ino
    assert JsonlStore(path).repair() == cut
    assert path.read_text() == good and path.stat().st_ino == inode  # truncated, not rewritten
    assert JsonlStore(path).repair() == 0


def test_repair_of_a_lone_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id"')
    assert JsonlStore(path).repair() == 5 and path.read_bytes() == b""


def test_append_cuts_a_torn_tail_first(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "t.jsonl")
    store.append([{"id": "a"}])
    with store.path.open("a") as f:  # another writer died mid-line
        f.write('{"id": "b", "te')
    assert [x["id"] for x in store.read()] == ["a"]  # the torn tail is not read
    store.append([{"id": "c"}])
    assert store.path.read_text() == '{"id": "a"}\n{"id": "c"}\n'


def test_read_skips_invalid_lines_and_load_by_keeps_the_last(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(
        '{"id": "a", "v": 1}\nnot json\n{"id": "b", "v": 1}\n[1]\n{"id": 3}\n'
        '{"id": "a", "v": 2}\n{"id": "b", "v"'
    )
    store = JsonlStore(path)
    assert [x for x in store.read() if isinstance(x, dict)] == [
        {"id": "a", "v": 1},
        {"id": "b", "v": 1},
        {"id": 3},
        {"id": "a", "v": 2},
    ]
    assert store.load_by("id") == {"a": {"id": "a", "v": 2}, "b": {"id": "b", "v": 1}}


def test_locked_read_from_an_offset(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "o.jsonl")
    with store.locked() as lf:
        assert lf.read_from(0) == ([], 0)
        end = lf.write([{"n": 1}, {"n": 2}])
    store.append([{"n": 3}])
    with store.locked() as lf:
        assert lf.read_from(end) == ([{"n": 3}], store.path.stat().st_size)
        assert lf.read_from(10**9)[0] == [{"n": 1}, {"n": 2}, {"n": 3}]  # past the end: all


def test_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = JsonlStore(tmp_path / "f.jsonl")
    synced: list[bytes] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(store.path.read_bytes())  # what is on disk by then
        real(fd)

    monkeypatch.setattr(prover.jsonl.os, "fsync", fsync)
    store.append([{"id": "a"}, {"id": "b"}])
    assert synced == [b'{"id": "a"}\n{"id": "b"}\n']  # one fsync per append, after the write
    with store.path.open("a") as f:
        f.write("{")
    synced.clear()
    store.repair()
    assert synced == [b'{"id": "a"}\n{"id": "b"}\n']  # the cut is fsynced too


def _append_many(args: tuple[str, int]) -> None:
    path, worker = args
    store = JsonlStore(path)
    pad = str(worker) * 20_000  # lines far longer than one write(2) of a buffered file
    for i in range(40):
        store.append([{"w": worker, "i": i, "pad": pad}, {"w": worker, "i": i, "pad": ""}])


def test_two_processes_append_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_append_many, [(str(path), 0), (str(path), 1)])
    lines = path.read_bytes().split(b"\n")
    assert lines.pop() == b""
    rows = [json.loads(line) for line in lines]  # every line is whole JSON
    assert len(rows) == 160
    for w in (0, 1):
        mine = [r for r in rows if r["w"] == w]
        assert [r["i"] for r in mine] == [i // 2 for i in range(80)]  # in order, none lost
        assert all(r["pad"] in ("", str(w) * 20_000) for r in mine)
    for a, b in zip(rows[::2], rows[1::2], strict=True):  # one append's lines stay together
        assert (a["w"], a["i"]) == (b["w"], b["i"])


_LINE = 8 << 20  # bytes per line: one write takes milliseconds, so a kill can land inside it
_WRITER = f"""
import sys
from prover.jsonl import JsonlStore
store = JsonlStore(sys.argv[1])
i = 0
while True:
    store.append([{{"i": i % 10, "pad": "x" * ({_LINE} - 20)}}])
    i += 1
"""


def test_kill_9_mid_write_leaves_a_resumable_file(tmp_path: Path) -> None:
    path = tmp_path / "k.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], cwd=REPO)
    size = 0
    try:  # kill as soon as a line is half written
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and size < 40 * _LINE:
            size = path.stat().st_size if path.exists() else 0
            if size > _LINE and size % _LINE:  # a whole line, then a torn one
                break
            time.sleep(0.0005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    data = path.read_bytes()
    assert len(data) > _LINE and len(data) % _LINE, "the kill missed the middle of a line"
    assert not data.endswith(b"\n")
    whole = len(data) // _LINE
    store = JsonlStore(path)
    assert len(list(store.read())) == whole  # the torn line is not read
    store.append([{"i": -1}])  # resumes: the torn tail is cut, the new line is whole
    rows = [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]
    assert [r["i"] for r in rows] == [i % 10 for i in range(whole)] + [-1]
    assert path.stat().st_size == whole * _LINE + len(b'{"i": -1}\n')
