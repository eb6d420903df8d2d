"""Statement audit (`prover audit`): is a benchmark statement what it claims to be?

For each statement, Lean answers:

- `elaborates`: the statement with `sorry` for its proof elaborates (verdict `incomplete`: only
  the `sorry` is left).  A statement that does not is reported with Lean's error and not audited
  further.
- flag `trivial`: one-shot automation proves it as stated (the `automation` policy's one round:
  its top whole proof, the combined `first | omega | decide | grind | ...` shot).
- flag `vacuous`: its hypotheses are contradictory: the search proves `False` from them.  The
  statement `vacuous_statement` builds keeps the theorem's binders and adds the premises the
  conclusion opens with (`∀ x : T, A → B → C` gives `(x : T) (h_vac_1 : A) (h_vac_2 : B)`), and
  its conclusion is `False`.
- flag `false_as_stated`: its negation is provable: the search proves
  `¬ (∀ binders, conclusion)` (`negated_statement`).

Every flag is justified by a proof that Lean proved and that was re-verified from scratch
(`search.base.reverify`: past every result cache, `uncached`); the proofs are stored with the
statement they prove.  The two searches use the run's policy, search and budget (`eval`'s
options); a derived statement that does not elaborate (e.g. a binder type Lean infers only from
the conclusion) is reported as a skipped check with Lean's error, not as "no flag".

The statements are split with the project's Lean lexer (`prover.lean.syntax.lex`): brackets,
comments and strings are read as Lean reads them.  The split is conservative: a premise is taken
out of the conclusion only when nothing before its `→` could bind over it (`∃`, `fun`, `↔`, a
big operator, ...: see `_BINDS_OVER`), and a `∀` only with typed or bracketed binders; what is
not split stays in the conclusion (for `vacuous`: dropped with it).

Files of the output directory: `config.json` (the run's `EvalConfig`; a directory holding an
audit of another configuration is refused), `audit.jsonl` (one `AuditLine` per statement,
appended through `prover.jsonl.JsonlStore`: a rerun skips the ids already there, except lines
with an `error`, which are tried again) and `report.md`.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from benchmarks.budget import Meter, checker_versions
from benchmarks.datasets import Problem
from benchmarks.results import EvalConfig, write_config
from prover.errors import UsageError
from prover.jsonl import JsonlStore
from prover.lean.syntax import Token, lex
from prover.lean.types import Checker, CheckResult, LeanInfraError, Verdict, sorry_probe
from prover.policy.base import Policy, SamplingParams
from search.base import Budget, Search, reverify
from search.polish import polish

AUDIT_FILE = "audit.jsonl"
REPORT_FILE = "report.md"
FLAGS = ("vacuous", "false_as_stated", "trivial")

_OPEN = {"(": ")", "[": "]", "{": "}", "⦃": "⦄", "⟨": "⟩", "@[": "]", "⟦": "⟧"}
_CLOSE = {")", "]", "}", "⦄", "⟩", "⟧"}
# tokens after which a `→` may belong to a body that reaches to the end (a binder notation): a
# premise is split off only when none of them comes before its `→`
_BINDS_OVER = frozenset(
    "∃ ∀ forall exists fun λ let have show suffices if then else match with do by "
    "∑ ∏ Σ Π ⋃ ⋂ ⨆ ⨅ ∫ · calc".split()
)
# operators that bind looser than `→` (`a → b ↔ c` is `(a → b) ↔ c`): no split when one is
# anywhere at the top level; multi-character ones are several symbol tokens (`_symbols`)
_LOOSER = ("↔", "<->", "$", "<|", "|>")


# ------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Signature:
    """A theorem statement split at its signature (`split_signature`): `head` is the text
    through the declaration's name (modifiers, attributes and universe parameters included),
    `binders` its binders as written (`(a b : ℕ)`, `{n}`, `[Foo α]`, `x`), `conclusion` the type
    after the signature's `:`, `tail` the rest (`:= by`, `:=`)."""

    head: str
    binders: tuple[str, ...]
    conclusion: str
    tail: str


def _code(text: str) -> list[Token]:
    return [t for t in lex(text, strict=False) if t.kind != "comment"]


def _match(toks: Sequence[Token], k: int) -> int:
    """Index of the bracket closing the one opened at toks[k] (len(toks) when it does not)."""
    depth = 0
    for j in range(k, len(toks)):
        if toks[j].text in _OPEN:
            depth += 1
        elif toks[j].text in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return len(toks)


def _assign_at(toks: Sequence[Token], k: int) -> bool:
    """toks[k] starts `:=` (one token, or `:` and `=` side by side)."""
    t = toks[k]
    if t.text == ":=":
        return True
    return (
        t.text == ":"
        and k + 1 < len(toks)
        and toks[k + 1].text == "="
        and toks[k + 1].offset == t.end
    )


def split_signature(statement: str) -> Signature | None:
    """The signature of `theorem NAME binders : type := [by]` (also `lemma`, `example`), or None
    when the text is not one this reading is sure of."""
    toks = _code(statement)
    keywords = {"theorem", "lemma", "example"}
    first = next((i for i, t in enumerate(toks) if t.kind == "ident" and t.text in keywords), None)
    if first is None:
        return None
    k = first + 1
    if toks[first].text != "example":
        if k >= len(toks) or toks[k].kind != "ident":
            return None
        k += 1
        # universe parameters `NAME.{u v}`
        if k + 1 < len(toks) and toks[k].text == "." and toks[k].offset == toks[k - 1].end:
            if toks[k + 1].text != "{":
                return None
            k = _match(toks, k + 1) + 1
    if k > len(toks):
        return None
    head_end = toks[k - 1].end
    binders: list[str] = []
    while k < len(toks):
        t = toks[k]
        if t.text in _OPEN and t.text != "@[":
            j = _match(toks, k)
            if j >= len(toks):
                return None
            binders.append(statement[t.offset : toks[j].end])
            k = j + 1
        elif t.kind == "ident" and t.text not in {"by"}:
            binders.append(t.text)
            k += 1
        elif t.text == ":" and not _assign_at(toks, k):
            break
        else:
            return None
    if k >= len(toks):
        return None
    start = k + 1
    depth, assign = 0, None
    for j in range(start, len(toks)):
        if toks[j].text in _OPEN:
            depth += 1
        elif toks[j].text in _CLOSE:
            depth -= 1
        elif depth == 0 and _assign_at(toks, j):
            assign = j
    if assign is None or assign == start:
        return None
    after = [t.text for t in toks[assign + (1 if toks[assign].text == ":=" else 2) :]]
    if after not in ([], ["by"]):
        return None
    conclusion = statement[toks[start].offset : toks[assign].offset].strip()
    return Signature(
        statement[:head_end], tuple(binders), conclusion, statement[toks[assign].offset :]
    )


def _arrow(toks: Sequence[Token], k: int) -> int:
    """Tokens in the arrow at toks[k]: 1 for `→`, 2 for `->` (not inside `<->`), else 0."""
    t = toks[k].text
    if t == "→":
        return 1
    if t == "-" and k + 1 < len(toks) and toks[k + 1].text == ">":
        after = toks[k + 1].offset == toks[k].end
        before = k > 0 and toks[k - 1].text == "<" and toks[k - 1].end == toks[k].offset
        return 2 if after and not before else 0
    return 0


def _symbols(toks: Sequence[Token], k: int) -> str:
    """The run of symbol characters written side by side from toks[k] (`<->` is three tokens)."""
    j = k
    while j + 1 < len(toks) and toks[j + 1].kind == "symbol" and toks[j + 1].offset == toks[j].end:
        j += 1
    return "".join(t.text for t in toks[k : j + 1]) if toks[k].kind == "symbol" else ""


def _looser_after(toks: Sequence[Token], k: int) -> bool:
    """An operator looser than `→` at the top level from toks[k] on."""
    depth = 0
    for j in range(k, len(toks)):
        depth += toks[j].text in _OPEN
        depth -= toks[j].text in _CLOSE
        if depth == 0 and _symbols(toks, j).startswith(_LOOSER):
            return True
    return False


def _forall_binders(text: str, toks: Sequence[Token], k: int) -> tuple[list[str], int] | None:
    """The binders of the `∀` at toks[k] as signature binders, and the index of its body's first
    token; None unless every binder is bracketed or typed (`x y : T`)."""
    k += 1
    out: list[str] = []
    names: list[str] = []
    while k < len(toks):
        t = toks[k]
        if t.text in _OPEN and t.text != "@[" and not names:
            j = _match(toks, k)
            if j >= len(toks):
                return None
            out.append(text[t.offset : toks[j].end])
            k = j + 1
        elif t.kind == "ident":
            names.append(t.text)
            k += 1
        elif t.text == ":" and names:  # `x y : T,`: the type runs to the `,` at depth 0
            depth, j = 0, k + 1
            while j < len(toks) and not (depth == 0 and toks[j].text == ","):
                depth += toks[j].text in _OPEN
                depth -= toks[j].text in _CLOSE
                j += 1
            if j >= len(toks) or j == k + 1:
                return None
            out.append(f"({' '.join(names)} : {text[toks[k + 1].offset : toks[j - 1].end]})")
            return out, j + 1
        elif t.text == "," and out and not names:
            return out, k + 1
        else:
            return None  # an untyped name or a binder predicate (`∀ n ≥ 3,`)
    return None


def premises(conclusion: str) -> tuple[list[str], str]:
    """(the binders the conclusion opens with, what remains): leading `∀` binders (typed or
    bracketed) and the premises of `A → B → C` as `(h_vac_N : A)`; conservative (module
    docstring)."""
    toks = _code(conclusion)
    out: list[str] = []
    k = 0
    while k < len(toks):
        if toks[k].text in {"∀", "forall"}:
            got = _forall_binders(conclusion, toks, k)
            if got is None:
                break
            out += got[0]
            k = got[1]
            continue
        depth, j = 0, k
        split = None
        while j < len(toks):
            t = toks[j].text
            if t in _OPEN:
                depth += 1
            elif t in _CLOSE:
                depth -= 1
            elif depth == 0 and (t in _BINDS_OVER or _symbols(toks, j).startswith(_LOOSER)):
                break
            elif depth == 0 and _arrow(toks, j):
                split = j
                break
            j += 1
        if split is None or split == k or _looser_after(toks, split):
            break
        text = conclusion[toks[k].offset : toks[split - 1].end]
        out.append(f"(h_vac_{sum(1 for b in out if b.startswith('(h_vac_')) + 1} : {text})")
        k = split + _arrow(toks, split)
    rest = conclusion[toks[k].offset :] if k < len(toks) else ""
    return out, rest


def vacuous_statement(statement: str) -> str | None:
    """`theorem NAME binders premises : False := by`: the statement's hypotheses with `False`
    to prove; None when the statement cannot be split or has no hypothesis at all."""
    sig = split_signature(statement)
    if sig is None:
        return None
    more, _ = premises(sig.conclusion)
    binders = [*sig.binders, *more]
    if not binders:
        return None
    return f"{sig.head} {' '.join(binders)} : False {_tail(sig)}"


def negated_statement(statement: str) -> str | None:
    """`theorem NAME : ¬ (∀ binders, conclusion) := by`; None when the statement cannot be
    split."""
    sig = split_signature(statement)
    if sig is None:
        return None
    body = f"∀ {' '.join(sig.binders)}, {sig.conclusion}" if sig.binders else sig.conclusion
    return f"{sig.head} : ¬ ({body}) {_tail(sig)}"


def _tail(sig: Signature) -> str:
    return sig.tail if sig.tail.endswith("\n") else sig.tail + "\n"


# ------------------------------------------------------------------------------- the audit


@dataclass(frozen=True)
class AuditLine:
    """One line of `audit.jsonl`.  `proofs`: flag -> {formal_statement, proof, polished?} (the
    statement Lean proved, under the benchmark's header, the proof, re-verified, and its readable
    version when that differs: `search.polish`, verified too); `skipped`: check ->
    why it was not made (no hypotheses, a derived statement that does not elaborate, ...);
    `error`: a check raised (retried by the next run)."""

    id: str
    name: str
    split: str
    elaborates: bool
    flags: list[str] = field(default_factory=list)
    proofs: dict[str, dict[str, str]] = field(default_factory=dict)
    statement_error: str = ""
    skipped: dict[str, str] = field(default_factory=dict)
    verifications: int = 0
    lean_cpu_s: float = 0.0
    wall_s: float = 0.0
    error: str = ""

    def __post_init__(self) -> None:
        bad = [f for f in self.flags if f not in FLAGS]
        if bad:
            raise ValueError(f"AuditLine.flags: unknown {bad}; flags are {', '.join(FLAGS)}")
        if set(self.proofs) != set(self.flags):
            raise ValueError("AuditLine: every flag needs its proof, and only flags have one")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["lean_cpu_s"] = round(self.lean_cpu_s, 3)
        d["wall_s"] = round(self.wall_s, 3)
        return d


def _lean_error(res: CheckResult) -> str:
    err = res.first_error.text if res.first_error else ""
    return " ".join(f"{res.reason or res.verdict.value}: {err}".split()).rstrip(": ")


def _audit_one(
    rec: Problem,
    search: Search,
    policy: Policy,
    automation: Policy,
    checker: Checker,
    budget: Budget,
    seed: int,
) -> AuditLine:
    t0 = time.monotonic()
    meter = Meter()
    checker = meter.checker(checker)
    task = replace(rec.task(), informal_prefix="")  # the informal text is the original's
    derived = {
        "vacuous": vacuous_statement(rec.formal_statement),
        "false_as_stated": negated_statement(rec.formal_statement),
    }
    unsplit = "the statement's signature could not be split (see benchmarks.audit)"
    skipped = {
        "vacuous": unsplit if derived["false_as_stated"] is None else "no hypotheses",
        "false_as_stated": unsplit,
    }
    tasks = {"trivial": task}
    for flag, stmt in derived.items():
        if stmt is not None:
            tasks[flag] = replace(task, formal_statement=stmt, name=f"{rec.id}#{flag}")
    # does each statement elaborate (one batch; a search's own probe of the same text is
    # answered by the result cache, when the checker has one)
    probes = [
        t.request(sorry_probe(t.formal_statement), f"{t.name}:sorry", want_steps=True)
        for t in tasks.values()
    ]
    results = dict(zip(tasks, checker.check(probes), strict=True))

    def line(**kw: Any) -> AuditLine:
        return AuditLine(
            rec.id,
            rec.name,
            rec.split,
            verifications=meter.verifications,
            lean_cpu_s=meter.lean_cpu_s,
            wall_s=time.monotonic() - t0,
            **kw,
        )

    probe = results["trivial"]
    if probe.verdict in (Verdict.TIMEOUT, Verdict.ERROR):  # says nothing of the statement
        return line(elaborates=False, error=f"the statement's probe: {_lean_error(probe)}")
    if probe.verdict is not Verdict.INCOMPLETE:
        return line(elaborates=False, statement_error=_lean_error(probe))
    for flag in derived:
        res = results.get(flag)
        if res is not None and res.verdict is Verdict.INCOMPLETE:
            skipped.pop(flag)
        elif res is not None:
            what = "its negation" if flag == "false_as_stated" else "False from its hypotheses"
            skipped[flag] = f"{what} does not elaborate: {_lean_error(res)}"
            tasks.pop(flag)
    flags: list[str] = []
    proofs: dict[str, dict[str, str]] = {}

    def justify(flag: str, proof: str) -> None:
        """Flag when the proof stands a from-scratch re-check (with its readable version)."""
        t = tasks[flag]
        (again,) = reverify(checker, [(t, proof, -1)])
        if again.verdict is Verdict.PROVED:
            flags.append(flag)
            readable = polish(checker, t, proof)
            proofs[flag] = {"formal_statement": t.formal_statement, "proof": proof}
            if readable != proof:
                proofs[flag]["polished"] = readable

    try:
        (shot,) = automation.generate([task], SamplingParams(n=1, temperature=0.0))
        proof = shot[0].text
        (res,) = checker.check([task.request(proof, f"{rec.id}:trivial")])
        if res.verdict is Verdict.PROVED:
            justify("trivial", proof)
        for flag in ("vacuous", "false_as_stated"):
            if flag in tasks:
                found = search.run(tasks[flag], policy, checker, budget, seed=seed)
                if found.solved:
                    justify(flag, found.proof)
    except LeanInfraError:
        raise
    except Exception as exc:  # a bug or a policy failure costs this statement, not the run
        err = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return line(elaborates=True, skipped=skipped, error=err)
    order = [f for f in FLAGS if f in flags]
    return line(elaborates=True, flags=order, proofs={f: proofs[f] for f in order}, skipped=skipped)


def audit_store(out_dir: Path | str) -> JsonlStore:
    return JsonlStore(Path(out_dir) / AUDIT_FILE)


def run_audit(
    records: Sequence[Problem],
    config: EvalConfig,
    out_dir: Path | str,
    *,
    checker: Checker | None = None,
    search: Search | None = None,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Audit `records` as `config` says (its policy, search, budget and seed drive the `vacuous`
    and `false_as_stated` searches; `workers` statements at a time); returns the summary that
    `report.md` shows.  `checker`/`search` may be given (then not closed); otherwise built from
    `config.backend` / `config.search` and closed at the end."""
    stream = stream if stream is not None else sys.stderr
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise UsageError("duplicate statement ids in the records")
    if checker is not None:
        config = replace(config, backend=checker.name)
    write_config(out, config)
    store = audit_store(out)
    store.repair()
    done = {i: x for i, x in store.load_by("id").items() if not x.get("error")}
    todo = [r for r in records if r.id not in done]
    own: list[Any] = []
    versions: dict[str, str] | None = None
    try:
        if todo:
            from prover.lean import resolve_backend
            from prover.policy import load_policy

            if search is None:
                from search import get_search

                try:
                    search = get_search(config.search, **config.search_options)
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
                own.append(search)
            if checker is None:
                from prover.lean import make_checker

                checker = make_checker(config.backend, **config.checker_options)
                own.append(checker)
            # the automation policy adds Mathlib tactics on native Lean
            names = ("embedded", "native")
            lean = checker.name if checker.name in names else resolve_backend(config.backend)
            policy = load_policy(config.policy, lean_backend=lean, **config.policy_options)
            own.append(policy)
            automation = load_policy("automation", lean_backend=lean)
            own.append(automation)
            lock = threading.Lock()
            count = [len(records) - len(todo)]

            def one(rec: Problem) -> None:
                assert checker is not None and search is not None
                a = _audit_one(rec, search, policy, automation, checker, config.budget, config.seed)
                with lock:
                    store.append([a.to_json()])
                    count[0] += 1
                    what = ", ".join(a.flags) or ("no flag" if a.elaborates else "")
                    if not a.elaborates:
                        what = "does not elaborate"
                    if a.error:
                        what = f"error: {a.error}"
                    print(
                        f"[{count[0]}/{len(records)}] {a.name}: {what} "
                        f"({a.verifications} verifications, {a.wall_s:.1f} s)",
                        file=stream,
                        flush=True,
                    )

            if config.workers <= 1:
                for rec in todo:
                    one(rec)
            else:
                with ThreadPoolExecutor(max_workers=config.workers) as pool:
                    for fut in as_completed([pool.submit(one, rec) for rec in todo]):
                        fut.result()
            versions = checker_versions(checker)
    finally:
        for obj in own:
            obj.close()
    lines = store.load_by("id")
    rows = [lines[r.id] for r in records if r.id in lines]
    summary = summarize(rows, config, versions)
    (out / REPORT_FILE).write_text(render_report(summary, rows), encoding="utf-8")
    return summary


def summarize(
    rows: Sequence[dict[str, Any]], config: EvalConfig, versions: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "statements": len(rows),
        "elaborate": sum(1 for x in rows if x.get("elaborates")),
        "flagged": {
            f: sorted(x["name"] for x in rows if f in (x.get("flags") or [])) for f in FLAGS
        },
        "errors": sum(1 for x in rows if x.get("error")),
        "verifications": sum(int(x.get("verifications") or 0) for x in rows),
        "lean_cpu_s": round(sum(float(x.get("lean_cpu_s") or 0.0) for x in rows), 3),
        "wall_s": round(sum(float(x.get("wall_s") or 0.0) for x in rows), 3),
        "config": config.to_json(),
        "versions": dict(versions or {}),
    }


def render_report(summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """`report.md`: counts, configuration, the flagged statements with their proofs, the
    statements that do not elaborate and the checks not made."""
    cfg = summary["config"]
    fl = summary["flagged"]
    lines = [
        f"# Statement audit: {cfg.get('benchmark') or 'custom'} {cfg.get('split') or ''}".rstrip(),
        "",
        "| statements | elaborate | vacuous | false as stated | trivial | verifications "
        "| Lean CPU s | wall s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['statements']} | {summary['elaborate']} | {len(fl['vacuous'])} | "
        f"{len(fl['false_as_stated'])} | {len(fl['trivial'])} | {summary['verifications']} | "
        f"{summary['lean_cpu_s']:.1f} | {summary['wall_s']:.1f} |",
        "",
        "vacuous: the search proved `False` from the hypotheses; false as stated: it proved the "
        "negation; trivial: the automation policy's one shot proves the statement.  Every flag's "
        "proof was re-verified from scratch (it is in `audit.jsonl`).",
        "",
        "## Configuration",
        "",
    ]
    lines += [f"- {k}: `{v}`" for k, v in cfg.items() if v not in ("", {}, None)]
    for k, v in (summary.get("versions") or {}).items():
        lines.append(f"- checked with {k}: `{v}`")
    flagged = [x for x in rows if x.get("flags")]
    if flagged:
        lines += ["", "## Flagged statements", ""]
        for x in flagged:
            lines.append(f"### `{x['name']}`: {', '.join(x['flags'])}")
            for f in x["flags"]:
                p = x["proofs"][f]
                proof = str(p.get("polished") or p["proof"]).strip("\n").rstrip()
                lines += ["", f"{f}:", "", "```lean", p["formal_statement"].rstrip(), proof, "```"]
            lines.append("")
    bad = [x for x in rows if not x.get("elaborates") and not x.get("error")]
    if bad:
        lines += ["", "## Statements that do not elaborate", ""]
        lines += [f"- `{x['name']}`: {x.get('statement_error', '')[:300]}" for x in bad]
    skipped = [x for x in rows if x.get("skipped") or x.get("error")]
    if skipped:
        lines += ["", "## Checks not made", ""]
        for x in skipped:
            why = [f"{k}: {v}" for k, v in (x.get("skipped") or {}).items()]
            if x.get("error"):
                why.append(f"error (retried by the next run): {x['error']}")
            lines.append(f"- `{x['name']}`: " + "; ".join(w[:300] for w in why))
    return "\n".join(lines) + "\n"
