"""miniF2F-core: the miniF2F problems whose statements elaborate in core Lean (no Mathlib).
The list, its header and the selection live in `benchmarks.datasets` (which loads the benchmark);
this module only rebuilds the list.

`python -m benchmarks.minif2f_core build [--data-dir D]` rebuilds `benchmarks/data/minif2f_core.json`
with one embedded-checker call: every statement followed by `  sorry` under `CORE_HEADER`; a
statement is kept when the verdict is `incomplete` (elaborated, only `sorry` left).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.datasets import CORE_HEADER, CORE_LIST, Problem, load_jsonl, resolve_data_file
from prover.errors import UsageError


def build(data_dir: Path | None, out: Path = CORE_LIST, backend: str = "embedded") -> dict:
    from prover.lean import CheckRequest, Verdict, make_checker
    from prover.lean.syntax import LexError, tokenize
    from prover.lean.types import sorry_probe

    records = load_jsonl(resolve_data_file("minif2f.jsonl", data_dir), "minif2f")
    # A statement the lexer refuses (the checker's screen would refuse it too) is left out.  (An
    # older lexer crashed on superscript digits such as `⁻¹`; the list was built then, and those
    # statements all need Mathlib types.  No statement of minif2f.jsonl is refused today.)
    screened: list[Problem] = []
    for r in records:
        try:
            tokenize(r.formal_statement)
        except LexError:
            continue
        screened.append(r)
    skipped = len(records) - len(screened)
    reqs = [
        CheckRequest(
            r.formal_statement,
            sorry_probe(r.formal_statement),
            header=CORE_HEADER,
            id=r.id,
            header_trusted=True,
        )
        for r in screened
    ]
    checker = make_checker(backend, cache=False)
    t0 = time.monotonic()
    try:
        results = checker.check(reqs)
    finally:
        checker.close()
    versions = {res.lean_version for res in results if res.lean_version}
    kept = [
        r for r, res in zip(screened, results, strict=True) if res.verdict is Verdict.INCOMPLETE
    ]
    counts: dict[str, int] = {"screen-crash": skipped} if skipped else {}
    for res in results:
        counts[res.verdict.value] = counts.get(res.verdict.value, 0) + 1
    data = {
        "lean_version": sorted(versions)[0] if versions else "",
        "header": CORE_HEADER,
        "built_with": backend,
        "valid": [r.name for r in kept if r.split == "valid"],
        "test": [r.name for r in kept if r.split == "test"],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"minif2f-core: {len(kept)} of {len(records)} statements elaborate in core Lean "
        f"(valid {len(data['valid'])}, test {len(data['test'])}); verdicts {counts}; "
        f"{time.monotonic() - t0:.0f} s; wrote {out}",
        file=sys.stderr,
    )
    return data


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.minif2f_core")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="rebuild benchmarks/data/minif2f_core.json with Lean")
    b.add_argument("--data-dir", type=Path)
    b.add_argument("--out", type=Path, default=CORE_LIST)
    b.add_argument("--backend", default="embedded", choices=["embedded", "native"])
    args = p.parse_args(argv)
    try:
        build(args.data_dir, args.out, args.backend)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
