"""Benchmark data: miniF2F, ProofNet, PutnamBench, CombiBench and MathOlympiadBench in the
DeepSeek-Prover-V1.5 JSONL format.  `REGISTRY` holds each named benchmark's metadata (files per
variant, splits, upstream pin, problem count, Lean/Mathlib pin, license, caveats), printed by
`prover eval --list-benchmarks`.

Where the files come from, in order: an explicit `data_dir`, then `$PROVER_DATA_DIR` (read at
call time), then a download of the pinned public files into the user cache
(`$XDG_CACHE_HOME/prover/data`, default `~/.cache/prover/data`) with their sha256 checked.

Every record gets a stable `id`: `<benchmark>/<name>` where names are unique (miniF2F,
PutnamBench, CombiBench, MOBench) and `proofnet/<split>/<line index>` for ProofNet (names repeat,
so the 0-based line index is the key).

PutnamBench's header carries each `sorry` answer definition's answer as a comment on the next
line (`-- 18`); `Problem.policy_header` is the header without those comments (what a policy is
shown, `Problem.task()`), while `Problem.header` stays the original, which the eval harness
re-verifies every claimed proof against.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prover.errors import DataError, UsageError
from prover.lean.syntax import comment_line_text, declarations, is_comment_line, lex
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
    # converted by the data curators (../shared/data/README.md); not published upstream as JSONL
    "putnambench.jsonl": "1f306e792266ba5963524ea8767610f0ead7ee83d817b351bd6523bbd2a5b91c",
    "putnambench_with_solutions.jsonl": (
        "51c9c4a211483d0c731ce56177158ed5a8b82f6b92d108513dd0db13600f33fb"
    ),
    "combibench.jsonl": "cab4c492d90fc9889d164e838ed190e6ec550d34269d9ba6319d24915e6c9c6d",
    "combibench_with_solutions.jsonl": (
        "58033b9885e3d61595d217ed675d13f3619d43e3cd251c595ed7e214b32627ae"
    ),
    "MOBench.jsonl": "f286b8942a7b9517be103139d2240adaeabbc1e5f195eb2817aacf9109b1bb95",
}
MOBENCH_COMMIT = "2e9036e118464aa96a8bebaf9f5b9d091aa3585c"
MOBENCH_URL = (
    f"https://raw.githubusercontent.com/Goedel-LM/Goedel-Prover-V2/{MOBENCH_COMMIT}/dataset"
)
# where a data file is downloaded from when it is in no data directory: the DeepSeek-Prover-V1.5
# commit (`BASE_URL`), Goedel-Prover-V2's (`MOBENCH_URL`), or nowhere (None: converted files)
FILE_SOURCES: dict[str, str | None] = {
    "minif2f.jsonl": "deepseek",
    "proofnet.jsonl": "deepseek",
    "minif2f_valid_few_shot.jsonl": "deepseek",
    "putnambench.jsonl": None,
    "putnambench_with_solutions.jsonl": None,
    "combibench.jsonl": None,
    "combibench_with_solutions.jsonl": None,
    "MOBench.jsonl": "mobench",
}


def file_url(filename: str) -> str | None:
    """The pinned base URL `filename` is downloaded from (None: not downloadable)."""
    source = FILE_SOURCES.get(filename, "deepseek")
    return {"deepseek": BASE_URL, "mobench": MOBENCH_URL, None: None}[source]


@dataclass(frozen=True)
class BenchmarkInfo:
    """A named benchmark: its files (per variant), splits and what a result on it depends on."""

    name: str
    files: Mapping[str, str]  # variant -> data file name
    splits: tuple[str, ...]
    upstream: str  # repository @ commit (path) the statements come from
    upstream_count: int  # problems upstream (records may differ: see caveats)
    records: int  # records loaded over all splits (0: varies, e.g. a subset list)
    lean_pin: str  # Lean / Mathlib version the statements were written for
    license: str
    caveats: str = ""
    key: str = "name"  # record ids: by unique name, or by line index (`load_jsonl`)
    default_variant: str = "plain"
    answer_comments: bool = False  # the header marks answers as comments (stripped for policies)
    needs_mathlib: bool = True

    def __post_init__(self) -> None:
        if self.default_variant not in self.files:
            raise ValueError(f"{self.name}: default variant {self.default_variant!r} has no file")
        if not self.splits:
            raise ValueError(f"{self.name}: no splits")

    def file(self, variant: str | None) -> str:
        v = variant or self.default_variant
        if v not in self.files:
            raise UsageError(
                f"--variant {v!r}: {self.name} has variant(s) {', '.join(sorted(self.files))}"
            )
        return self.files[v]


REGISTRY: dict[str, BenchmarkInfo] = {
    b.name: b
    for b in (
        BenchmarkInfo(
            "minif2f",
            {"plain": "minif2f.jsonl"},
            ("valid", "test"),
            "deepseek-ai/DeepSeek-Prover-V1.5@2c4ba91 datasets/minif2f.jsonl (openai/miniF2F)",
            488,
            488,
            "Lean 4.9 / DeepSeek-Prover-V1.5's Mathlib",
            "Apache-2.0 (miniF2F Lean part); DeepSeek repo MIT",
            "needs Mathlib: native backend; statements written for Lean 4.9",
        ),
        BenchmarkInfo(
            "minif2f-core",
            {"plain": "minif2f.jsonl"},
            ("valid", "test"),
            "miniF2F (as minif2f) filtered by benchmarks/data/minif2f_core.json",
            488,
            0,
            "core Lean (no Mathlib); list built on the embedded Lean 4.28.0-pre",
            "as minif2f",
            "the subset whose statements elaborate in core Lean; runs on the embedded backend",
            needs_mathlib=False,
        ),
        BenchmarkInfo(
            "proofnet",
            {"plain": "proofnet.jsonl"},
            ("valid", "test"),
            "deepseek-ai/DeepSeek-Prover-V1.5@2c4ba91 datasets/proofnet.jsonl",
            371,
            371,
            "Lean 4.9 / DeepSeek-Prover-V1.5's Mathlib",
            "MIT",
            "names repeat: ids are proofnet/<split>/<line index>",
            key="line",
        ),
        BenchmarkInfo(
            "putnambench",
            {
                "plain": "putnambench.jsonl",
                "with-solutions": "putnambench_with_solutions.jsonl",
            },
            ("test",),
            "trishullab/PutnamBench@3c9b9268ebd1 lean4/src",
            672,
            672,
            "Lean/Mathlib v4.27.0",
            "Apache-2.0 (Lean 4 part)",
            "346 answer problems: default with-solutions (answer inlined), plain: the policy "
            "writes the answers (or --answers); maintainers ask that proofs not be published",
            default_variant="with-solutions",
            answer_comments=True,
        ),
        BenchmarkInfo(
            "combibench",
            {
                "plain": "combibench.jsonl",
                "with-solutions": "combibench_with_solutions.jsonl",
            },
            ("test",),
            "MoonshotAI/CombiBench@84063de0347b lean/CombiBench",
            100,
            101,
            "Lean/Mathlib v4.24.0",
            "MIT",
            "101 records for 100 problems (imo_2019_p5 is two theorems; part 2's header proves "
            "part 1 by sorry: proved-modulo); 46 answer problems: default with-solutions, plain: "
            "the policy writes the answers",
            default_variant="with-solutions",
        ),
        BenchmarkInfo(
            "mobench",
            {"plain": "MOBench.jsonl"},
            ("test",),
            f"Goedel-LM/Goedel-Prover-V2@{MOBENCH_COMMIT[:12]} dataset/MOBench.jsonl",
            360,
            360,
            "Lean 4.9 / DeepSeek-Prover-V1.5's Mathlib",
            "none upstream (no LICENSE file): not redistributed, downloaded from the pinned commit",
            "definitions before the theorem move into the (trusted) header",
        ),
    )
}
BENCHMARKS = tuple(REGISTRY)
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
    # the header a policy sees (answer comments stripped); None: `header`.  Lean reads both the
    # same (only comments differ); the harness re-verifies a claimed proof under `header`.
    policy_header: str | None = None
    has_answer_sorry: bool = False  # the header defines the answer by `sorry` (plain variant)
    variant: str = ""  # the benchmark variant the record was loaded from
    # plain variant: the header's answer slots (`abbrev NAME_solution : T := sorry`) the policy
    # answers, the benchmark's own answers (PutnamBench's `-- <answer>` comments; for review,
    # never shown to the policy) and answers fixed for the run (`prover eval --answers`)
    answer_slots: tuple[str, ...] = ()
    reference_answers: tuple[tuple[str, str], ...] = ()
    answers: tuple[tuple[str, str], ...] = ()

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
            header=self.header if self.policy_header is None else self.policy_header,
            informal_prefix=self.informal_prefix,
            name=self.id,
            run=run,
            answer_slots=self.answer_slots,
            answers=self.answers,
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
    base = base_url or file_url(filename)
    if base is None:
        raise DataError(
            f"{filename} is not published at a pinned URL (it was converted from upstream, see "
            "the data README); set PROVER_DATA_DIR or pass --data-dir to a folder holding it"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    url = f"{base.rstrip('/')}/{filename}"
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
    return download(filename, cache, base_url=base_url)


def read_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(0-based line index, object) of each non-blank line of a benchmark JSONL file; a file that
    is missing or not UTF-8, a line that is not JSON or not an object: DataError naming the file
    and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from None
    for index, raw in enumerate(text.split("\n")):  # "\n" only: JSON may hold U+2028 unescaped
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{index + 1}: invalid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{index + 1}: expected a JSON object")
        yield index, obj


def load_jsonl(path: Path | str, id_prefix: str | None = None, key: str = "name") -> list[Problem]:
    """Records of a DeepSeek-Prover-format JSONL file.  `key="name"` makes ids
    `<prefix>/<name>` (names must be unique); `key="line"` makes them `<prefix>/<split>/<index>`
    with the 0-based line index.  Malformed lines raise DataError naming file, line and field."""
    path = Path(path)
    if key not in ("name", "line"):
        raise ValueError(f"key must be 'name' or 'line', got {key!r}")
    prefix = id_prefix if id_prefix is not None else path.stem
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for index, obj in read_objects(path):
        lineno = index + 1
        for f in _REQUIRED:
            if f not in obj:
                raise DataError(f"{path}:{lineno}: missing field {f!r}")
        for f in _REQUIRED + _OPTIONAL:
            if f in obj and not isinstance(obj[f], str):
                raise DataError(f"{path}:{lineno}: field {f!r} must be a string")
        if not obj["name"] or not obj["formal_statement"].strip():
            bad = "name" if not obj["name"] else "formal_statement"
            raise DataError(f"{path}:{lineno}: field {bad!r} is empty")
        if not isinstance(obj.get("has_answer_sorry", False), bool):
            raise DataError(f"{path}:{lineno}: field 'has_answer_sorry' must be true or false")
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
                has_answer_sorry=obj.get("has_answer_sorry", False),
            )
        )
    return out


def load_benchmark(
    name: str,
    split: str | None = None,
    data_dir: Path | str | None = None,
    base_url: str | None = None,
    variant: str | None = None,
) -> list[Problem]:
    """Problems of a named benchmark (`REGISTRY`; one split, or all when None) in its `variant`
    (None: the benchmark's default, `with-solutions` for PutnamBench and CombiBench)."""
    info = REGISTRY.get(name)
    if info is None:
        raise UsageError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if split is not None and split not in info.splits:
        only = " (a single-split benchmark)" if len(info.splits) == 1 else ""
        raise UsageError(
            f"unknown split {split!r} for {name}; choose {' or '.join(info.splits)}{only}"
        )
    filename = info.file(variant)
    v = variant or info.default_variant
    path = resolve_data_file(filename, data_dir, base_url)
    if name == "mobench":
        records = load_mobench(path)
    else:
        prefix = "minif2f" if name == "minif2f-core" else name
        records = load_jsonl(path, prefix, key=info.key)
        if name == "minif2f-core":
            records = select_core(records)
    if info.answer_comments and v != "plain":
        # the answer definitions are gone: their comments are those of the plain file
        plain = load_jsonl(resolve_data_file(info.files["plain"], data_dir, base_url), name)
        answers = {r.name: answer_comment_lines(r.header or "") for r in plain}
        records = [
            replace(r, policy_header=strip_lines(r.header or "", answers.get(r.name, [])))
            for r in records
        ]
    # the plain variant's open answers, their comments hidden from the policy (`open_answers`)
    records = [open_answers(r, info.answer_comments) for r in records]
    if len(info.files) > 1:  # recorded where there is a choice
        records = [replace(r, variant=v) for r in records]
    return [r for r in records if split is None or r.split == split]


# PutnamBench: `abbrev putnam_..._solution : T := sorry` (or `noncomputable abbrev`/`def`), and on
# the lines right after it the answer as `-- <answer>` comments (upstream's layout).
_ANSWER_DEF = re.compile(r"^\s*(noncomputable\s+)?(abbrev|def)\s+(\S*_solution)\b.*:=\s*sorry\s*$")


def answer_slots(header: str) -> list[tuple[str, list[str]]]:
    """The answer slots of `header` (one-line `abbrev/def NAME_solution ... := sorry`, as in
    PutnamBench and CombiBench), each with the comment lines right after it (PutnamBench writes
    the answer there)."""
    lines = header.split("\n")
    out: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines):
        m = _ANSWER_DEF.match(lines[i])
        i += 1
        if m:
            comments: list[str] = []
            while i < len(lines) and is_comment_line(lines[i]):
                comments.append(lines[i])
                i += 1
            out.append((m.group(3), comments))
    return out


def with_answers(records: Sequence[Problem], path: Path | str) -> list[Problem]:
    """`records` with the answers of an answers file (`prover eval --answers`): one JSON object
    per line, `{"id": PROBLEM_ID_OR_NAME, "answers": {SLOT: LEAN_TERM}}`, for problems whose
    header leaves those slots open (the plain variant).  Every request of such a problem carries
    the answers (a tree search needs them fixed before it starts).  DataError names the file and
    line of a bad one."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: answers file not found")
    by_key = {k: r for r in records for k in (r.id, r.name)}
    given: dict[str, tuple[tuple[str, str], ...]] = {}
    for index, obj in read_objects(p):
        where = f"{p}:{index + 1}"
        key, answers = obj.get("id"), obj.get("answers")
        if not isinstance(key, str) or key not in by_key:
            raise DataError(f"{where}: field 'id' must name a problem of this run, got {key!r}")
        if (
            not isinstance(answers, dict)
            or not answers
            or not all(
                isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in answers.items()
            )
        ):
            raise DataError(f"{where}: field 'answers' must map answer slots to Lean terms")
        rec = by_key[key]
        unknown = sorted(set(answers) - set(rec.answer_slots))
        if unknown:
            slots = ", ".join(rec.answer_slots) or "none: use --variant plain"
            raise DataError(
                f"{where}: {', '.join(unknown)} is not an open answer slot of {rec.id} "
                f"(its slots: {slots})"
            )
        given[rec.id] = tuple(answers.items())
    return [replace(r, answers=given[r.id]) if r.id in given else r for r in records]


def open_answers(r: Problem, comments: bool = True) -> Problem:
    """`r` with its header's answer slots (`Problem.answer_slots`) and, when `comments`, the
    answers PutnamBench-style comments give (`reference_answers`), hidden from the policy."""
    slots = answer_slots(r.header or "")
    if not slots:
        return r
    refs = tuple((n, reference_answer(c)) for n, c in slots if comments and c)
    shown = r.policy_header
    if comments and shown is None:
        shown = strip_lines(r.header or "", [line for _, c in slots for line in c])
    return replace(
        r, answer_slots=tuple(n for n, _ in slots), reference_answers=refs, policy_header=shown
    )


def answer_comment_lines(header: str) -> list[str]:
    """The comment lines that follow a `sorry` answer definition in `header` (PutnamBench marks
    its answers this way)."""
    return [line for _, comments in answer_slots(header) for line in comments]


def reference_answer(comments: Sequence[str]) -> str:
    """The answer text of PutnamBench's `-- <answer>` comment lines."""
    return " ".join(comment_line_text(c) for c in comments).strip()


def strip_lines(header: str, lines: Sequence[str]) -> str:
    """`header` without the whole lines in `lines` (answer comments: Lean reads the rest the
    same, a line comment being whitespace to it)."""
    drop = set(lines)
    if not drop:
        return header
    return "\n".join(x for x in header.split("\n") if x not in drop)


def load_mobench(path: Path | str) -> list[Problem]:
    """MathOlympiadBench (Goedel-Prover-V2's `dataset/MOBench.jsonl`): records with `name`,
    `header` and a `formal_statement` that may hold definitions before the theorem and may end in
    `sorry`.  The definitions move to the end of the (trusted) header, the statement becomes
    `theorem ... := by` + newline, the split is `test`; ids are `mobench/<name>`."""
    path = Path(path)
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for index, obj in read_objects(path):
        lineno = index + 1
        for f in ("name", "formal_statement"):
            if not isinstance(obj.get(f), str) or not obj[f].strip():
                raise DataError(f"{path}:{lineno}: field {f!r} missing, empty or not a string")
        for f in ("header", "informal_prefix", "split"):
            if f in obj and not isinstance(obj[f], str):
                raise DataError(f"{path}:{lineno}: field {f!r} must be a string")
        name = obj["name"]
        if name in seen:
            raise DataError(f"{path}:{lineno}: field 'name' {name!r} repeats line {seen[name]}")
        seen[name] = lineno
        stmt = obj["formal_statement"]
        decls = declarations(stmt)
        if not decls:
            raise DataError(f"{path}:{lineno}: field 'formal_statement' has no theorem")
        prelude, theorem = stmt[: decls[0].start].strip(), stmt[decls[0].start :].strip()
        code = [t for t in lex(theorem, strict=False) if t.kind != "comment"]
        if code and code[-1].text == "sorry":  # `:= sorry` / `:= by sorry`: the proof to write
            theorem = theorem[: code[-1].offset].rstrip()
        if theorem.endswith(":="):
            theorem += " by"
        elif not theorem.endswith("by"):
            raise DataError(f"{path}:{lineno}: field 'formal_statement' does not end in `:=`")
        header = obj.get("header")
        if prelude:
            header = (header or "").rstrip("\n") + "\n\n" + prelude + "\n\n"
        out.append(
            Problem(
                id=f"mobench/{name}",
                name=name,
                split=obj.get("split") or "test",
                formal_statement=theorem + "\n",
                header=header,
                informal_prefix=obj.get("informal_prefix", ""),
                source=str(path),
                line=lineno,
            )
        )
    return out


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


def benchmarks_text() -> str:
    """`prover eval --list-benchmarks`: every named benchmark with its metadata."""
    out = []
    for b in REGISTRY.values():
        variants = ", ".join(
            f"{v}{' (default)' if v == b.default_variant else ''}: {f}" for v, f in b.files.items()
        )
        records = f"{b.records} records" if b.records else "records: a subset list"
        out += [
            f"{b.name}",
            f"  upstream:  {b.upstream} ({b.upstream_count} problems upstream; {records})",
            f"  pin:       {b.lean_pin}",
            f"  license:   {b.license}",
            f"  splits:    {', '.join(b.splits)}",
            f"  variants:  {variants}",
        ]
        if b.caveats:
            out.append(f"  caveats:   {b.caveats}")
    return "\n".join(out)


def pinned_version(info: BenchmarkInfo) -> str | None:
    """The `x.y.z` Lean version a benchmark pins (`Lean/Mathlib v4.27.0` -> `4.27.0`); None when
    it pins none (core Lean)."""
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", info.lean_pin)
    return m.group(1) if m and info.needs_mathlib else None


def version_warning(name: str, backend: str, backend_lean: str) -> str | None:
    """A warning when the benchmark's upstream pin differs from the backend's Lean version, or
    when it needs Mathlib and the backend has none; None when they agree."""
    info = REGISTRY.get(name)
    if info is None:
        return None
    if info.needs_mathlib and backend == "embedded":
        return (
            f"warning: {name} needs Mathlib (pinned {info.lean_pin}); the embedded backend has core "
            "Lean only, so its statements will not elaborate (statement_error): use --backend native"
        )
    pin = pinned_version(info)
    got = backend_lean.lstrip("v")
    if pin and got and not (got == pin or got.startswith(pin + ".") or got.startswith(pin + "-")):
        return (
            f"warning: {name} is pinned to {info.lean_pin} upstream but the {backend} backend runs "
            f"Lean {got}; statements may elaborate differently (results are not comparable with "
            "runs on the pinned version)"
        )
    return None
