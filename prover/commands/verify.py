"""`prover verify INPUT.jsonl`: check proofs, one JSON verdict per line, in input order."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from prover.errors import UsageError

_FIELDS = {"id": str, "formal_statement": str, "proof": str}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check proofs from a JSONL file",
        description=(
            "Each input line: {id, header (string or null), formal_statement, proof}. "
            "Each output line: {id, verdict, messages, first_error, verified_prefix, time_s}."
        ),
    )
    p.add_argument("input", type=Path, help="JSONL file ('-' for stdin)")
    p.add_argument("--out", type=Path, help="write results here (default: stdout); resumes")
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    p.add_argument("--timeout", type=float, default=60.0, help="per-proof wall-clock seconds")
    p.add_argument(
        "--allow-native-decide",
        action="store_true",
        help="accept proofs that use native_decide (Lean.ofReduceBool)",
    )
    p.add_argument("--steps", action="store_true", help="also output tactic steps with states")
    p.add_argument(
        "--chunk",
        type=int,
        default=64,
        help="proofs per checker call (results are written after each chunk)",
    )
    p.set_defaults(func=run)


def parse_input(text: str, source: str) -> list[dict[str, Any]]:
    """Validate every line; raise UsageError listing each bad line (file:line: problem)."""
    problems: list[str] = []
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{source}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{source}:{lineno}: expected a JSON object")
            continue
        bad = False
        for name, typ in _FIELDS.items():
            if name not in obj:
                problems.append(f"{source}:{lineno}: missing field {name!r}")
                bad = True
            elif not isinstance(obj[name], typ):
                problems.append(f"{source}:{lineno}: field {name!r} must be a string")
                bad = True
        if "header" in obj and obj["header"] is not None and not isinstance(obj["header"], str):
            problems.append(f"{source}:{lineno}: field 'header' must be a string or null")
            bad = True
        if bad:
            continue
        if obj["id"] in seen:
            problems.append(
                f"{source}:{lineno}: duplicate id {obj['id']!r} (first on line {seen[obj['id']]})"
            )
            continue
        seen[obj["id"]] = lineno
        items.append(obj)
    if problems:
        raise UsageError("malformed input:\n  " + "\n  ".join(problems))
    return items


def _done_ids(out: Path) -> set[str]:
    done: set[str] = set()
    if not out.exists():
        return done
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            done.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a torn last line from a crash is rewritten
    return done


def run(args: argparse.Namespace) -> int:
    if str(args.input) == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        if not args.input.is_file():
            raise UsageError(f"input file {args.input} does not exist")
        text, source = args.input.read_text(encoding="utf-8"), str(args.input)
    if args.chunk < 1:
        raise UsageError("--chunk must be >= 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive seconds")
    items = parse_input(text, source)

    from prover.lean import make_checker
    from prover.lean.types import CheckRequest

    done = _done_ids(args.out) if args.out else set()
    todo = [it for it in items if it["id"] not in done]
    if args.out:
        _truncate_torn_tail(args.out)
    sink = open(args.out, "a", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    counts: dict[str, int] = {}
    try:
        checker = make_checker(args.backend, timeout_s=args.timeout)
        try:
            for k in range(0, len(todo), args.chunk):
                chunk = todo[k : k + args.chunk]
                reqs = [
                    CheckRequest(
                        formal_statement=it["formal_statement"],
                        proof=it["proof"],
                        header=it.get("header"),
                        id=it["id"],
                        want_steps=args.steps,
                        allow_native_decide=args.allow_native_decide,
                        timeout_s=args.timeout,
                    )
                    for it in chunk
                ]
                for it, res in zip(chunk, checker.check(reqs), strict=True):
                    sink.write(json.dumps(res.to_json(id=it["id"]), ensure_ascii=False) + "\n")
                    counts[res.verdict.value] = counts.get(res.verdict.value, 0) + 1
                sink.flush()
        finally:
            checker.close()
    finally:
        if sink is not sys.stdout:
            sink.close()
    summary = ", ".join(f"{v}={n}" for v, n in sorted(counts.items())) or "nothing to do"
    print(f"verified {len(todo)} proofs ({len(done)} already done): {summary}", file=sys.stderr)
    return 0


def _truncate_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])
