"""Benchmark data: miniF2F and ProofNet in the DeepSeek-Prover-V1.5 JSONL format.

Where the files come from, in order: an explicit `data_dir`, then `$PROVER_DATA_DIR` (read at
call time), then a download of the pinned public files into the user cache
(`$XDG_CACHE_HOME/prover/data`, default `~/.cache/prover/data`) with their sha256 checked.

Every record gets a stable `id`: `minif2f/<name>` for miniF2F (names are unique there) and
`proofnet/<split>/<line index>` for ProofNet (names repeat, so the 0-based line index is the key).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prover.errors import DataError, UsageError
from prover.policy.base import ProofTask

PINNED_COMMIT = "2c4ba9119eef74d0d611f494261b2c5bae98c69a"
BASE_URL = (
    f"https://raw.githubusercontent.com/deepseek-ai/DeepSeek-Prover-V1.5/{PINNED_COMMIT}/datasets"
)
SHA256 = {
    "minif2f.jsonl": "d6654c88476ff14db19d57dea25bd955a240525fb52171e460f89d98f83d7dd5",
    "proofnet.jsonl": "4a4d4fd69f45d6180830f12a73adb8a7e04915f651f3fa44a2877082fe252132",
    "minif2f_valid_few_shot.jsonl": (
        "f66abb94408b27352403b3a0cd9bf4c0b8a87e8d1827af191f613e44383633b1"
    ),
}
BENCHMARKS = ("minif2f", "minif2f-core", "proofnet")
SPLITS = ("valid", "test")
_REQUIRED = ("name", "split", "formal_statement")
_OPTIONAL = ("informal_prefix", "goal", "header")


@dataclass(frozen=True)
class Problem:
    """One benchmark record.  `formal_statement` ends with `:= by` (miniF2F) or `:=` (ProofNet);
    the proof is the text that follows it."""

    id: str
    name: str
    split: str
    formal_statement: str
    header: str | None = None  # None: the backend's default header
    informal_prefix: str = ""
    goal: str = ""
    source: str = ""  # file the record came from
    line: int = 0  # 1-based line in that file

    def __post_init__(self) -> None:
        if not self.id or not self.name:
            raise ValueError("Problem.id and Problem.name must be non-empty")
        if not self.formal_statement.strip():
            raise ValueError(f"Problem {self.id}: empty formal_statement")

    def task(self, run: int | None = None) -> ProofTask:
        """The policy task of this problem (`run`: see ProofTask.run).  It is named by the
        unique `id` (ProofNet repeats names): searches key checkpoints and recorded feedback by
        the task's name."""
        return ProofTask(
            formal_statement=self.formal_statement,
            header=self.header,
            informal_prefix=self.informal_prefix,
            name=self.id,
            run=run,
        )


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prover" / "data"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(
    filename: str, dest_dir: Path, base_url: str | None = None, timeout_s: float = 60.0
) -> Path:
    """Fetch `base_url/filename` into `dest_dir`, check its sha256, return the path.
    A mismatch removes the file and raises DataError."""
    if filename not in SHA256:
        raise DataError(f"no pinned sha256 for {filename!r}; cannot download it")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    url = f"{(base_url or BASE_URL).rstrip('/')}/{filename}"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
            while chunk := resp.read(1 << 16):
                out.write(chunk)
        got = sha256_file(tmp)
        if got != SHA256[filename]:
            raise DataError(
                f"downloaded {url} has sha256 {got}, expected {SHA256[filename]}; "
                "the file was removed (set PROVER_DATA_DIR or pass --data-dir to use local copies)"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(
            f"could not download {url}: {exc}; set PROVER_DATA_DIR or pass --data-dir to a folder "
            f"holding {filename}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def resolve_data_file(
    filename: str, data_dir: Path | str | None = None, base_url: str | None = None
) -> Path:
    """Path of a data file: `data_dir`, else `$PROVER_DATA_DIR`, else the verified user cache
    (downloading the pinned file when absent or corrupt)."""
    for where, d in (
        ("--data-dir", data_dir),
        ("$PROVER_DATA_DIR", os.environ.get("PROVER_DATA_DIR")),
    ):
        if d:
            path = Path(d) / filename
            if not Path(d).is_dir():
                raise DataError(f"data directory {d} ({where}) does not exist")
            if not path.is_file():
                raise DataError(f"{filename} not found in {d} ({where})")
            return path
    cache = user_cache_dir()
    path = cache / filename
    if path.is_file() and filename in SHA256 and sha256_file(path) == SHA256[filename]:
        return path
    return download(filename, cache, base_url=base_url or BASE_URL)


def load_jsonl(path: Path | str, id_prefix: str | None = None, key: str = "name") -> list[Problem]:
    """Records of a DeepSeek-Prover-format JSONL file.  `key="name"` makes ids
    `<prefix>/<name>` (names must be unique); `key="line"` makes them `<prefix>/<split>/<index>`
    with the 0-based line index.  Malformed lines raise DataError naming file, line and field."""
    path = Path(path)
    if key not in ("name", "line"):
        raise ValueError(f"key must be 'name' or 'line', got {key!r}")
    prefix = id_prefix if id_prefix is not None else path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from None
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(text.split("\n")):
        lineno = index + 1
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object")
        for f in _REQUIRED:
            if f not in obj:
                raise DataError(f"{path}:{lineno}: missing field {f!r}")
        for f in _REQUIRED + _OPTIONAL:
            if f in obj and not isinstance(obj[f], str):
                raise DataError(f"{path}:{lineno}: field {f!r} must be a string")
        if not obj["name"] or not obj["formal_statement"].strip():
            bad = "name" if not obj["name"] else "formal_statement"
            raise DataError(f"{path}:{lineno}: field {bad!r} is empty")
        if key == "name":
            if obj["name"] in seen:
                raise DataError(
                    f"{path}:{lineno}: field 'name' {obj['name']!r} repeats line "
                    f"{seen[obj['name']]} (load with key='line')"
                )
            seen[obj["name"]] = lineno
            pid = f"{prefix}/{obj['name']}"
        else:
            pid = f"{prefix}/{obj['split']}/{index}"
        out.append(
            Problem(
                id=pid,
                name=obj["name"],
                split=obj["split"],
                formal_statement=obj["formal_statement"],
                header=obj.get("header"),
                informal_prefix=obj.get("informal_prefix", ""),
                goal=obj.get("goal", ""),
                source=str(path),
                line=lineno,
            )
        )
    return out


def load_benchmark(
    name: str,
    split: str | None = None,
    data_dir: Path | str | None = None,
    base_url: str | None = None,
) -> list[Problem]:
    """Problems of `minif2f`, `minif2f-core` or `proofnet` (one split, or all when None)."""
    if name not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose valid or test")
    if name == "proofnet":
        records = load_jsonl(
            resolve_data_file("proofnet.jsonl", data_dir, base_url), "proofnet", key="line"
        )
    else:
        records = load_jsonl(resolve_data_file("minif2f.jsonl", data_dir, base_url), "minif2f")
        if name == "minif2f-core":
            records = select_core(records)
    return [r for r in records if split is None or r.split == split]


# miniF2F-core: the miniF2F problems whose statements elaborate in core Lean (no Mathlib); the
# list is built by `python -m benchmarks.minif2f_core build`.

# `autoImplicit false`: otherwise an unknown type such as `ℝ` would be bound as a variable and
# Mathlib statements would "elaborate" with a meaningless type.
CORE_HEADER = (
    "set_option autoImplicit false\n\n"
    'notation "ℕ" => Nat\n'
    'notation "ℤ" => Int\n'
    'notation "ℚ" => Rat\n\n'
    "open Nat\n\n"
)
CORE_LIST = Path(__file__).resolve().parent / "data" / "minif2f_core.json"


def load_core_list(path: Path = CORE_LIST) -> dict[str, Any]:
    """The miniF2F-core list: {valid: [names], test: [names], header, ...}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{path} is missing; run `python -m benchmarks.minif2f_core build`"
        ) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    for f in ("valid", "test", "header"):
        if f not in data:
            raise DataError(f"{path}: missing field {f!r}")
    return dict(data)


def select_core(records: Sequence[Problem], path: Path = CORE_LIST) -> list[Problem]:
    """The core subset of miniF2F `records` (file order), header replaced by `CORE_HEADER`."""
    data = load_core_list(path)
    keep = {("valid", n) for n in data["valid"]} | {("test", n) for n in data["test"]}
    return [replace(r, header=CORE_HEADER) for r in records if (r.split, r.name) in keep]
