"""`prover prove`: search for a proof of one statement (or of each theorem in a .lean file)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prover.commands.options import DEFAULT_BUDGET, DEFAULT_SEARCH, add_run_options, resolve_run
from prover.errors import UsageError
from prover.lean.syntax import LexError, declarations, mask_comments, tokenize

_SORRY_TAIL = re.compile(r"\s*\bsorry\s*$")


@dataclass(frozen=True)
class Goal:
    """One statement to prove: text up to and including `:= by` (or `:=`), plus a newline."""

    statement: str
    name: str

    def __post_init__(self) -> None:
        if not self.statement.rstrip().endswith(":=") and not re.search(
            r":=\s*by$", self.statement.rstrip()
        ):
            raise ValueError(f"statement {self.name!r} must end with ':= by' or ':='")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prove",
        help="search for a proof of a statement",
        description=(
            "The statement comes from --statement, a .lean file, or stdin and must end with "
            "':= by' (or ':='). A file may hold several theorems, each ending with ':= by' "
            "followed by nothing or 'sorry'; text before the first one (less its trailing "
            "comments, such as the first theorem's doc comment) is used as the header, and a "
            "preamble of only comments leaves the backend's default header. "
            "Exit 0: every theorem proved (verified proof printed); 1: some not proved (best "
            "partial proof and the reason printed); 2: bad input."
        ),
    )
    p.add_argument("file", nargs="?", type=Path, help=".lean file ('-' for stdin)")
    p.add_argument("--statement", help="the theorem statement, ending with ':= by'")
    p.add_argument("--header", help="Lean header (imports, opens); default: the backend's")
    p.add_argument("--policy", default="automation", help="policy spec (default: automation)")
    p.add_argument(
        "--search",
        choices=["rmaxts", "sample", "bfs", "decompose"],
        help=f"the search (default: {DEFAULT_SEARCH}, or the preset's)",
    )
    p.add_argument("--budget", help=f"RUNSxSAMPLES (default: {DEFAULT_BUDGET}, or the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    p.add_argument("--json", action="store_true", help="machine-readable output (one JSON object)")
    p.add_argument("--record", type=Path, help="record every verification (RL feedback) here")
    p.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="NAME=TERM",
        help="fill the header's answer slot `abbrev NAME : T := sorry` with the Lean term TERM "
        "(repeatable; Lean judges it like the proof).  Without it a policy may write the answers "
        "of `NAME_solution` slots itself",
    )
    add_run_options(p)
    from prover.commands.serve import add_checker_option

    add_checker_option(p, search=True)
    p.add_argument(
        "--no-polish",
        dest="polish",
        action="store_false",
        help="print solved proofs as found (polishing: the winning `first | ...` alternatives "
        "and no-op steps read from one elaboration, then one re-check)",
    )
    p.set_defaults(func=run)


def _header_of(preamble: str) -> str | None:
    """The header in the text before the first declaration: the text less its trailing comments
    (a doc comment there belongs to the declaration; left in the header it would be followed by
    the backend's `set_option ... in`), or None (the backend's default header) when only
    comments and whitespace are left."""
    try:
        toks = tokenize(preamble)
    except LexError:
        return preamble.strip() + "\n\n"  # Lean reports what is wrong with it
    if not toks:
        return None
    return preamble[: toks[-1].end].strip() + "\n\n"


def split_theorems(text: str, source: str) -> tuple[str | None, list[Goal]]:
    """(header, goals) of Lean text holding one or more unproved declarations; the header is
    None when the text before the first declaration holds nothing but comments."""
    decls = declarations(text)  # theorem/lemma/example starting a line, outside comments
    starts = [d.start for d in decls]
    names = [d.name for d in decls]
    if not starts:
        body = text.strip()
        if not body:
            raise UsageError(f"{source}: no statement given")
        starts, names, text = [0], [None], body
    header = _header_of(text[: starts[0]])
    goals: list[Goal] = []
    for k, s in enumerate(starts):
        chunk = text[s : starts[k + 1] if k + 1 < len(starts) else len(text)]
        chunk = chunk[: len(mask_comments(chunk).rstrip())]  # drop comments before the next one
        chunk = _SORRY_TAIL.sub("", chunk.rstrip()).rstrip()
        line = text.count("\n", 0, s) + 1
        name = names[k] or f"example@{line}"
        if not (chunk.endswith(":=") or re.search(r":=\s*by$", chunk)):
            raise UsageError(
                f"{source}:{line}: statement {name!r} must end with ':= by' (or ':=', optionally "
                "followed by 'sorry'); give only the statement, not a proof"
            )
        goals.append(Goal(chunk + "\n", name))
    return header, goals


def _read_input(args: argparse.Namespace) -> tuple[str, str]:
    if args.statement is not None and args.file is not None:
        raise UsageError("give either --statement or a FILE, not both")
    if args.statement is not None:
        return args.statement, "--statement"
    if args.file is None or str(args.file) == "-":
        if args.file is None and sys.stdin.isatty():
            raise UsageError("no statement: pass --statement, a .lean FILE, or pipe one on stdin")
        return sys.stdin.read(), "<stdin>"
    if not args.file.is_file():
        raise UsageError(f"file {args.file} does not exist")
    return args.file.read_text(encoding="utf-8"), str(args.file)


def parse_answers(specs: list[str]) -> tuple[tuple[str, str], ...]:
    """`--answer NAME=TERM` values as (name, term) pairs; UsageError for a malformed one."""
    out: dict[str, str] = {}
    for spec in specs:
        name, eq, term = spec.partition("=")
        name = name.strip()
        if not eq or not re.fullmatch(r"[^\s=:()]+", name) or not term.strip():
            raise UsageError(
                f"--answer {spec!r}: write NAME=TERM, e.g. --answer putnam_x_solution=18"
            )
        if name in out:
            raise UsageError(f"--answer: {name} is given twice")
        out[name] = term.strip()
    return tuple(out.items())


def run(args: argparse.Namespace) -> int:
    text, source = _read_input(args)
    answers = parse_answers(args.answer)
    # a malformed policy spec, budget or search/policy option is exit 2 before Lean starts
    opts = resolve_run(args)
    budget, search = opts.budget, opts.search.search
    file_header, goals = split_theorems(text, source)
    header = args.header if args.header is not None else file_header

    from benchmarks.datasets import answer_slots
    from prover.lean import Verdict
    from prover.lean.types import sorry_probe
    from prover.lean.wrappers import bare
    from prover.policy import ProofTask, load_policy

    # the header's open answers (`NAME_solution := sorry`): a policy may write them
    slots = tuple(n for n, _ in answer_slots(header or ""))
    tasks = [
        ProofTask(g.statement, header=header, name=g.name, answer_slots=slots, answers=answers)
        for g in goals
    ]

    t0 = time.monotonic()
    from prover.commands.serve import checker_options
    from prover.service import open_checker

    # the checker's processes start now, in the background, while the policy loads
    checker = open_checker(args.checker, args.backend, **checker_options(args, search=True))
    print(
        f"-- starting the {checker.name} Lean checker (a persistent process; the first start "
        "takes tens of seconds on the embedded backend) ...",
        file=sys.stderr,
        flush=True,
    )
    if args.record:
        from prover.lean.wrappers import RecordingChecker, RequestContext
        from prover.rl.records import FeedbackWriter

        checker = RecordingChecker(
            checker, FeedbackWriter(args.record), RequestContext(policy=args.policy, source="prove")
        )
    policy = None
    try:
        policy = load_policy(args.policy, lean_backend=checker.name, **opts.policy.options)
        pre = checker.check(
            [  # the search's root-goal probe: cached for it (header: the user's file or --header)
                t.request(sorry_probe(t.formal_statement), f"{t.name}:sorry", want_steps=True)
                for t in tasks
            ]
        )
        bad = [
            (g, r) for g, r in zip(goals, pre, strict=True) if r.verdict is not Verdict.INCOMPLETE
        ]
        if bad:
            lines = []
            for g, r in bad:
                err = r.first_error.text if r.first_error else (r.reason or r.verdict.value)
                lines.append(f"{source}: statement {g.name!r} does not elaborate: {err}")
            raise UsageError("\n".join(lines))
        print(
            f"-- checker ready, statements elaborate ({time.monotonic() - t0:.1f} s); "
            f"searching {len(goals)} theorem(s) with {args.search}, budget {args.budget}",
            file=sys.stderr,
            flush=True,
        )
        verifier = bare(checker)  # re-verify from scratch, past cache and recorder
        outputs: list[dict[str, Any]] = []
        for g, task in zip(goals, tasks, strict=True):
            print(f"-- proving {g.name} ...", file=sys.stderr, flush=True)
            res = search.run(
                task, policy, checker, budget, seed=args.seed, checkpoint_dir=args.tree_dir
            )
            solved, failure = res.solved, res.failure
            # the answers the proof stands with (a completion's own, else --answer's)
            task = replace(task, answers=res.answers or task.answers)
            if solved:
                v = verifier.check([task.request(res.proof, f"{g.name}:final")])[0]
                if not v.proved:
                    solved = False
                    err = v.first_error.text if v.first_error else (v.reason or "")
                    failure = f"re-verification failed ({v.verdict.value}): {err}"
            from search.polish import polish, verified_partial

            if solved:  # the readable version (re-verified; the original if anything fails)
                proof = res.proof
                polished = polish(checker, task, proof) if args.polish else proof
            else:  # a partial proof Lean accepts, and the real reason
                proof, why = verified_partial(checker, task, res.best_partial, res.samples_used)
                if not res.solved:  # a claimed proof that failed re-verification says so
                    failure = why
                if search.name == "decompose" and res.failure:  # which sketch/gaps failed
                    failure = f"{res.failure}\n{failure}"
                polished = proof
            outputs.append(
                {
                    "name": g.name,
                    "solved": solved,
                    "statement": g.statement,
                    "proof": proof,
                    # the statement keeps its newline; a proof starting on a new line gets
                    # no blank line between them
                    "text": g.statement + (proof[1:] if proof.startswith("\n") else proof),
                    "polished": polished,
                    "polished_text": g.statement
                    + (polished[1:] if polished.startswith("\n") else polished),
                    "answers": dict(task.answers) if solved else {},
                    "samples": res.samples_used,
                    "found_at": res.found_at if solved else None,
                    "failure": "" if solved else (failure or "budget exhausted"),
                    "wall_s": round(res.wall_s, 3),
                }
            )
    finally:
        search.close()  # decompose's sketch policy
        if policy is not None:
            policy.close()
        checker.close()
    _print(outputs, args.json)
    return 0 if all(o["solved"] for o in outputs) else 1


def _print(outputs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        obj: Any = outputs[0] if len(outputs) == 1 else outputs
        print(json.dumps(obj, ensure_ascii=False, indent=1))
        return
    for o in outputs:
        if o["solved"]:
            for name, term in o["answers"].items():
                print(f"-- with the answer {name} := {term}")
            print(o["polished_text"].rstrip("\n"))  # the readable proof, verified
            print(f"-- proved {o['name']} at sample {o['found_at']}", file=sys.stderr)
        else:
            print(f"-- NOT PROVED: {o['name']} ({o['samples']} samples): {o['failure']}")
            print("-- best verified partial proof:")
            print(o["text"].rstrip("\n"))
        print()
