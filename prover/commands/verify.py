"""`prover verify INPUT.jsonl`: check proofs, one JSON verdict per line, in input order."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from prover.errors import UsageError
from prover.jsonl import JsonlStore

_FIELDS = {"id": str, "formal_statement": str, "proof": str}
DEFAULT_CHUNK = 16  # proofs per checker call; results are written after each


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check proofs from a JSONL file",
        description=(
            "Each input line: {id, header (string or null), formal_statement, proof}; a "
            "header is untrusted (imports, open, namespace, ... only) unless --trusted-header; "
            "optional 'answers' {slot name: Lean term} fill a trusted header's answer slots "
            "(`abbrev NAME : T := sorry`, PutnamBench's plain variant). "
            "Each output line: {id, verdict, messages, first_error, verified_prefix, time_s}, "
            "in input order, written after each chunk of proofs is checked. "
            "Exit status: 0 every input line has a result and all are 'proved' (results from "
            "an earlier run resumed with the same --out count); 1 some proof is not proved; "
            "2 bad input (each malformed line is reported as FILE:LINE: problem, and nothing "
            "is checked)."
        ),
    )
    p.add_argument("input", type=Path, help="JSONL file ('-' for stdin)")
    p.add_argument("--out", type=Path, help="write results here (default: stdout); resumes")
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    p.add_argument(
        "--allow-native-decide",
        action="store_true",
        help="accept proofs that use native_decide (Lean.ofReduceBool)",
    )
    p.add_argument("--steps", action="store_true", help="also output tactic steps with states")
    p.add_argument(
        "--screen",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the Python text screen before Lean (off by default: every proof goes to Lean, "
        "which decides alone and says why it refused, as a `refusal` category; the screen only "
        "refuses obvious attacks early, with reasons of its own and no category)",
    )
    from prover.commands.serve import add_checker_option

    add_checker_option(p)
    p.add_argument(
        "--chunk",
        type=int,
        help=(
            "proofs per checker call; results are appended after each chunk (default: "
            f"{DEFAULT_CHUNK}; the Lean checker process starts once and stays up between "
            "chunks, so small chunks cost no throughput)"
        ),
    )
    p.add_argument(
        "--trusted-header",
        action="store_true",
        help=(
            "trust the input's 'header' fields.  By default a header in the input is untrusted "
            "(it may come from a model): it may only hold import, open, namespace, section, "
            "end, universe and allowlisted set_option commands, and anything else (a def, an "
            "axiom, an instance, a macro) is rejected.  Pass this flag when the headers come "
            "from a benchmark file or yourself, e.g. ProofNet headers that declare "
            "definitions; the checker still audits every proof's axioms.  A null or missing "
            "header means the backend's default header, which is always trusted"
        ),
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
        answers = obj.get("answers", {})
        if not isinstance(answers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in answers.items()
        ):
            problems.append(
                f"{source}:{lineno}: field 'answers' must map answer-slot names to Lean terms "
                '(e.g. {"putnam_1988_b1_solution": "18"})'
            )
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


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{source}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def _done_verdicts(store: JsonlStore) -> dict[str, str]:
    """Verdict per id already in the --out file (an earlier, possibly killed, run); the file is
    repaired first (a torn last line is cut, so its id is checked again)."""
    data = store.path.read_bytes() if store.path.exists() else b""
    _decode(data[: data.rfind(b"\n") + 1], f"{store.path} (--out)")  # a torn tail may split a char
    store.repair()
    done: dict[str, str] = {}
    for obj in store.read():
        try:
            done[obj["id"]] = obj["verdict"]
        except (KeyError, TypeError):
            continue  # not a result line; its id (if any) is checked again
    return done


def run(args: argparse.Namespace) -> int:
    if str(args.input) == "-":
        text = _decode(sys.stdin.buffer.read(), "<stdin>")
        source = "<stdin>"
    else:
        if not args.input.is_file():
            raise UsageError(f"input file {args.input} does not exist")
        source = str(args.input)
        text = _decode(args.input.read_bytes(), source)
    if args.chunk is not None and args.chunk < 1:
        raise UsageError("--chunk must be >= 1")
    from prover.commands.serve import checker_options

    limits = checker_options(args)
    if args.out and not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: directory {args.out.parent} does not exist")
    items = parse_input(text, source)

    from prover.lean.types import CheckRequest, Verdict
    from prover.service import open_checker

    store = JsonlStore(args.out) if args.out else None
    previous = _done_verdicts(store) if store else {}
    done = {it["id"] for it in items if it["id"] in previous}
    todo = [it for it in items if it["id"] not in done]
    not_proved = sum(previous[i] != Verdict.PROVED.value for i in done)
    counts: dict[str, int] = {}
    if todo:  # everything resumed: no Lean process to start
        print(
            f"-- checking {len(todo)} proofs: starting the Lean checker (a persistent process; "
            "the first start takes tens of seconds on the embedded backend) ...",
            file=sys.stderr,
            flush=True,
        )
        options: dict[str, Any] = dict(limits)
        if args.screen is not None:
            if args.checker:
                raise UsageError(
                    "--screen/--no-screen is the server's setting: give it to `prover serve`"
                )
            options["screen"] = args.screen
        checker = open_checker(args.checker, args.backend, **options)
        size = args.chunk or DEFAULT_CHUNK
        try:
            for k in range(0, len(todo), size):
                chunk = todo[k : k + size]
                reqs = [
                    CheckRequest(
                        formal_statement=it["formal_statement"],
                        proof=it["proof"],
                        header=it.get("header"),
                        header_trusted=args.trusted_header,  # None: the default, trusted
                        answers=tuple(it.get("answers", {}).items()),
                        id=it["id"],
                        want_steps=args.steps,
                        allow_native_decide=args.allow_native_decide,
                        timeout_s=limits.get("timeout_s"),
                    )
                    for it in chunk
                ]
                rows = []
                for it, res in zip(chunk, checker.check(reqs), strict=True):
                    rows.append(res.to_json(id=it["id"]))
                    counts[res.verdict.value] = counts.get(res.verdict.value, 0) + 1
                    not_proved += res.verdict is not Verdict.PROVED
                if store is None:
                    for row in rows:
                        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
                    sys.stdout.flush()
                else:
                    store.append(rows)  # whole lines, fsynced: a kill loses at most this chunk
                    print(f"-- {k + len(chunk)}/{len(todo)} checked", file=sys.stderr, flush=True)
        finally:
            checker.close()
    summary = ", ".join(f"{v}={n}" for v, n in sorted(counts.items())) or "nothing to do"
    print(f"verified {len(todo)} proofs ({len(done)} already done): {summary}", file=sys.stderr)
    return 1 if not_proved else 0
