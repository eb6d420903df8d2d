"""Benchmark loading: counts, ids, data-dir precedence, sha256 check, malformed files, download."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import datasets
from benchmarks.datasets import load_benchmark, load_jsonl, resolve_data_file
from prover.errors import DataError, UsageError


def test_minif2f_counts(data_dir: Path) -> None:
    assert len(load_benchmark("minif2f", "valid", data_dir)) == 244
    assert len(load_benchmark("minif2f", "test", data_dir)) == 244
    recs = load_benchmark("minif2f", None, data_dir)
    assert len({r.id for r in recs}) == 488
    assert all(r.formal_statement.endswith(":= by\n") for r in recs)
    assert recs[0].id == f"minif2f/{recs[0].name}" and recs[0].header.startswith("import Mathlib")


def test_proofnet_counts_and_line_keys(data_dir: Path) -> None:
    valid = load_benchmark("proofnet", "valid", data_dir)
    test = load_benchmark("proofnet", "test", data_dir)
    assert (len(valid), len(test)) == (185, 186)
    recs = valid + test
    assert len({r.id for r in recs}) == 371  # unique although names repeat
    assert len({r.name for r in recs}) < 371
    lines = (data_dir / "proofnet.jsonl").read_text(encoding="utf-8").splitlines()
    for r in recs[:5] + recs[-5:]:
        idx = int(r.id.rsplit("/", 1)[1])
        assert r.id == f"proofnet/{r.split}/{idx}" and r.line == idx + 1
        assert json.loads(lines[idx])["formal_statement"] == r.formal_statement


def test_minif2f_core_subset(data_dir: Path) -> None:
    from benchmarks.datasets import CORE_HEADER, load_core_list

    data = load_core_list()
    core = load_benchmark("minif2f-core", None, data_dir)
    assert len(core) == len(data["valid"]) + len(data["test"]) > 0
    assert all(r.header == CORE_HEADER and "Mathlib" not in r.header for r in core)
    assert [r.name for r in core if r.split == "valid"] == data["valid"]


def test_env_var_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "minif2f.jsonl").write_text(_line("a", "valid") + _line("b", "test"), "utf-8")
    monkeypatch.setenv("PROVER_DATA_DIR", str(tmp_path))
    assert [r.name for r in load_benchmark("minif2f", "test")] == ["b"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "minif2f.jsonl").write_text(_line("c", "valid"), "utf-8")
    assert [r.name for r in load_benchmark("minif2f", None, other)] == ["c"]  # explicit wins
    monkeypatch.setenv("PROVER_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="PROVER_DATA_DIR"):
        load_benchmark("minif2f", "valid")


def test_unknown_benchmark_and_split(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown benchmark"):
        load_benchmark("putnam", "valid", tmp_path)
    with pytest.raises(UsageError, match="unknown split"):
        load_benchmark("minif2f", "train", tmp_path)


def _line(name: str, split: str, **over: object) -> str:
    obj = {
        "name": name,
        "split": split,
        "informal_prefix": "",
        "formal_statement": f"theorem {name} : True := by\n",
        "goal": "⊢ True",
        "header": "",
    }
    obj.update(over)
    return json.dumps(obj) + "\n"


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("{not json\n", r":3: invalid JSON"),
        ('["a list"]\n', r":3: expected a JSON object"),
        (
            json.dumps({"name": "x", "split": "valid"}) + "\n",
            r":3: missing field 'formal_statement'",
        ),
        (_line("x", "valid", header=3), r":3: field 'header' must be a string"),
        (_line("a", "valid"), r":3: field 'name' 'a' repeats line 1"),
    ],
)
def test_malformed_file_names_file_line_field(tmp_path: Path, bad: str, match: str) -> None:
    p = tmp_path / "variant.jsonl"
    p.write_text(_line("a", "valid") + "\n" + bad, encoding="utf-8")  # line 2 blank
    with pytest.raises(DataError, match=match) as ei:
        load_jsonl(p)
    assert str(p) in str(ei.value)


def test_load_jsonl_line_keys(tmp_path: Path) -> None:
    p = tmp_path / "v.jsonl"
    p.write_text(_line("a", "valid") + _line("a", "test"), encoding="utf-8")
    assert [r.id for r in load_jsonl(p, "pn", key="line")] == ["pn/valid/0", "pn/test/1"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/datasets", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_checks_sha256(
    tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    (root / "datasets").mkdir()
    body = (_line("a", "valid") + _line("b", "test")).encode()
    (root / "datasets" / "minif2f.jsonl").write_bytes(body)
    monkeypatch.delenv("PROVER_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "prover" / "data" / "minif2f.jsonl"
    # wrong content: clear error, nothing left behind
    with pytest.raises(DataError, match="sha256"):
        resolve_data_file("minif2f.jsonl", base_url=url)
    assert not cached.exists() and not list(cached.parent.iterdir())
    # right content (pinned hash patched to this file's): downloaded, then served from cache
    monkeypatch.setitem(datasets.SHA256, "minif2f.jsonl", hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(datasets, "BASE_URL", url)
    recs = load_benchmark("minif2f", "valid")
    assert [r.name for r in recs] == ["a"] and cached.read_bytes() == body
    (root / "datasets" / "minif2f.jsonl").unlink()
    assert resolve_data_file("minif2f.jsonl", base_url=url) == cached  # no second fetch


def test_download_failure_is_data_error(tmp_path: Path, server: tuple[str, Path]) -> None:
    url, _ = server
    with pytest.raises(DataError, match="could not download"):
        datasets.download("proofnet.jsonl", tmp_path, base_url=url)  # 404
