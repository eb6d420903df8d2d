"""Reports of eval run directories: `summary.json`, `report.md` and `pass_curve.png` of one run
(`write_outputs`), and a side-by-side comparison of several (`compare_runs`, `prover report`).
Reads the files `benchmarks.results` describes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.datasets import Problem
from benchmarks.results import OUTCOMES, RESULTS, EvalConfig, read_results
from prover.errors import UsageError


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n (0, 0 when n == 0)."""
    if n == 0:
        return (0.0, 0.0)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k} n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


BUDGET_KEYS = ("samples", "verifications", "tokens_in", "tokens_out", "lean_cpu_s", "wall_s")


def outcome_of(row: Mapping[str, Any]) -> str:
    """A results line's outcome (lines written before outcomes existed: from solved/error)."""
    out = row.get("outcome")
    if out:
        return str(out)
    return "proved" if row.get("solved") else "error" if row.get("error") else "not_proved"


def budget_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals of the budget columns; tokens are None when no line counted any (no tokenizer)."""
    out: dict[str, Any] = {}
    for key in BUDGET_KEYS:
        vals = [x.get(key) for x in rows]
        if key.startswith("tokens") and all(v is None for v in vals):
            out[key] = None
            continue
        total = sum(float(v or 0) for v in vals)
        out[key] = round(total, 3) if key.endswith("_s") else int(total)
    return out


def summarize(
    records: Sequence[Problem],
    results: dict[str, dict[str, Any]],
    config: EvalConfig,
    versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    rows = [results[r.id] for r in records if r.id in results]
    n, k = len(rows), sum(1 for x in rows if x.get("solved"))
    lo, hi = wilson_interval(k, n)
    by_split: dict[str, dict[str, int]] = {}
    for x in rows:
        s = by_split.setdefault(str(x.get("split", "")), {"problems": 0, "solved": 0})
        s["problems"] += 1
        s["solved"] += int(bool(x.get("solved")))
    return {
        "problems": n,
        "solved": k,
        "pass_rate": k / n if n else 0.0,
        "wilson95": [lo, hi],
        "missing": len(records) - n,
        "errors": sum(1 for x in rows if x.get("error")),
        "by_split": by_split,
        "samples_total": sum(int(x.get("samples", 0)) for x in rows),
        "wall_s_total": round(sum(float(x.get("wall_s", 0.0)) for x in rows), 3),
        "verifier_s_total": round(sum(float(x.get("verifier_s", 0.0)) for x in rows), 3),
        "outcomes": {o: sum(1 for x in rows if outcome_of(x) == o) for o in OUTCOMES},
        "answers": answer_counts(rows),
        "budget": budget_totals(rows),
        # polishing solved proofs: outside the budget above (equal-budget comparisons exclude it)
        "polish": {
            "verifications": sum(int(x.get("polish_verifications") or 0) for x in rows),
            "lean_cpu_s": round(sum(float(x.get("polish_lean_cpu_s") or 0) for x in rows), 3),
        },
        "limits": limit_counts(rows),
        "refusals": refusal_counts(rows),
        "versions": dict(versions or {}),
        "config": config.to_json(),
        "ids": [r.id for r in records if r.id in results],
    }


def limit_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Verifications stopped by each limit (heartbeats, rec_depth, wall_clock, memory)."""
    out: dict[str, int] = {}
    for x in rows:
        for k, v in (x.get("limits") or {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def refusal_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The checked requests of the rows (`checked`: Lean verifications + cache hits) and how many
    of them Lean refused, per refusal category (`by_category`, from each line's `refusal`)."""
    by: dict[str, int] = {}
    for x in rows:
        for k, v in (x.get("refusal") or {}).items():
            by[k] = by.get(k, 0) + int(v)
    checked = sum(int(x.get("verifications") or 0) + int(x.get("cache_hits") or 0) for x in rows)
    return {"checked": checked, "by_category": dict(sorted(by.items(), key=lambda kv: -kv[1]))}


def refusal_rates(refusals: Mapping[str, Any]) -> str:
    """`sorry 3 (1.2%), native_decide 1 (0.4%)` of a `refusal_counts`, or "none"."""
    checked = int(refusals.get("checked") or 0)
    by = refusals.get("by_category") or {}
    if not by:
        return "none"
    return ", ".join(
        f"{k} {v} ({100 * v / checked:.1f}%)" if checked else f"{k} {v}" for k, v in by.items()
    )


def answer_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Plain variant: proofs whose answers came from the run (a policy or --answers), and how
    many of those answers are the benchmark's own word for word (the rest need a reviewer: a
    different form may be right, or may restate the question)."""
    answered = [x for x in rows if x.get("solved") and x.get("answers")]
    return {
        "proved_with_answers": len(answered),
        "match_reference": sum(1 for x in answered if x.get("answers_match_reference") is True),
        "differ_from_reference": sum(
            1 for x in answered if x.get("answers_match_reference") is False
        ),
    }


def render_report(summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """Markdown report: totals, configuration, per-problem table, failures."""
    cfg = summary["config"]
    lo, hi = summary["wilson95"]
    b = summary.get("budget") or budget_totals(rows)
    oc = summary.get("outcomes") or {}
    lines = [
        f"# Evaluation: {cfg.get('benchmark') or 'custom'} {cfg.get('split') or ''}".rstrip(),
        "",
        "| problems | solved | pass rate | 95% Wilson CI | samples | verifications | tokens in "
        "| tokens out | Lean CPU s | wall s |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        f"| {summary['problems']} | {summary['solved']} | {100 * summary['pass_rate']:.1f}% | "
        f"{100 * lo:.1f}% – {100 * hi:.1f}% | {summary['samples_total']} | "
        f"{b.get('verifications', 0)} | {_tok(b.get('tokens_in'))} | {_tok(b.get('tokens_out'))} | "
        f"{float(b.get('lean_cpu_s') or 0):.1f} | {summary['wall_s_total']:.1f} |",
        "",
        "Outcomes: "
        + ", ".join(f"{o.replace('_', ' ')} {oc.get(o, 0)}" for o in OUTCOMES)
        + " (proved modulo: Lean proved it from a header declaration proved by `sorry`; "
        "statement error: the statement does not elaborate, counted apart from not proved).",
        "",
    ]
    pol = summary.get("polish") or {}
    if pol.get("verifications"):
        lines += [
            f"Polish (readable versions of the solved proofs; not in the search budget above): "
            f"{pol['verifications']} verifications, {float(pol.get('lean_cpu_s') or 0):.1f} "
            "Lean CPU s.",
            "",
        ]
    ref = summary.get("refusals") or refusal_counts(rows)
    if ref.get("by_category"):
        lines += [
            f"Refusals (of {ref['checked']} checked requests; category set by Lean, README "
            f'"Refusal categories"): {refusal_rates(ref)}.',
            "",
        ]
    lim = summary.get("limits") or {}
    if lim:
        lines += [
            "Limits that stopped verifications: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(lim.items()))
            + " (heartbeats: Lean's maxHeartbeats; wall clock / memory: the process was killed "
            "and replaced).",
            "",
        ]
    ans = summary.get("answers") or {}
    if ans.get("proved_with_answers"):
        lines += [
            f"Answers: {ans['proved_with_answers']} proofs use the run's own answers (plain "
            f"variant); {ans.get('match_reference', 0)} are the benchmark's answer word for word, "
            f"{ans.get('differ_from_reference', 0)} differ and need review (a trivial answer, "
            "e.g. one restating the question, makes the theorem easy; see Answers below).",
            "",
        ]
    lines += [
        "## Configuration",
        "",
    ]
    lines += [f"- {k}: `{v}`" for k, v in cfg.items() if v not in ("", {}, None)]
    for k, v in (summary.get("versions") or {}).items():
        lines.append(f"- checked with {k}: `{v}`")
    lines += [
        "",
        "## Problems",
        "",
        "| problem | split | solved | outcome | samples | found at | verifications | tokens in "
        "| tokens out | Lean CPU s | wall s |",
        "|---|---|:-:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in rows:
        fa = x.get("found_at")
        lines.append(
            f"| {x['name']} | {x.get('split', '')} | {'✓' if x.get('solved') else '✗'} | "
            f"{outcome_of(x)} | {x.get('samples', 0)} | {'' if fa is None else fa} | "
            f"{x.get('verifications', 0)} | {_tok(x.get('tokens_in'))} | "
            f"{_tok(x.get('tokens_out'))} | {float(x.get('lean_cpu_s') or 0):.2f} | "
            f"{x.get('wall_s', 0.0):.1f} |"
        )
    answered = [x for x in rows if x.get("solved") and x.get("answers")]
    if answered:
        lines += ["", "## Answers", ""]
        for x in answered:
            match = x.get("answers_match_reference")
            mark = (
                "no reference"
                if match is None
                else "the benchmark's answer"
                if match
                else ("differs: review")
            )
            given = "; ".join(f"`{n} := {t}`" for n, t in x["answers"].items())
            lines.append(f"- `{x['name']}` ({mark}): {given}")
    failures = [x for x in rows if not x.get("solved")]
    if failures:
        lines += ["", "## Failures", ""]
        for x in failures:
            why = " ".join(str(x.get("failure") or "no proof found").split())
            lines.append(f"- `{x['name']}`: {why[:300]}")
    return "\n".join(lines) + "\n"


def _tok(v: Any) -> str:
    return "-" if v is None else str(v)


def solved_at(
    rows: Sequence[Mapping[str, Any]], samples: float | None = None, cpu_s: float | None = None
) -> int:
    """Problems solved within a per-problem budget: a proof found at or before sample
    `samples`, and/or with at most `cpu_s` Lean CPU-seconds spent on the problem."""
    n = 0
    for x in rows:
        if not x.get("solved"):
            continue
        if samples is not None and int(x.get("found_at") or x.get("samples") or 0) > samples:
            continue
        if cpu_s is not None and float(x.get("lean_cpu_s") or 0.0) > cpu_s:
            continue
        n += 1
    return n


def plot_pass_curve(rows: Sequence[dict[str, Any]], budget_total: int, path: Path) -> None:
    """Two panels: problems solved against the per-problem sample budget (a proof found at
    sample <= k), and against the per-problem Lean CPU-seconds (a solved problem counts from
    the Lean CPU time its search and re-check took)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = sorted(int(x["found_at"]) for x in rows if x.get("solved") and x.get("found_at"))
    xs = list(range(0, max([budget_total, *found]) + 1))
    ys, j = [], 0
    for x in xs:
        while j < len(found) and found[j] <= x:
            j += 1
        ys.append(j)
    cpu = sorted(float(x.get("lean_cpu_s") or 0.0) for x in rows if x.get("solved"))
    cpu_max = max([float(x.get("lean_cpu_s") or 0.0) for x in rows] + [1e-3])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.step(xs, ys, where="post")
    ax.set_xlabel("samples per problem")
    ax.set_ylabel(f"problems solved (of {len(rows)})")
    ax.set_title("solved vs samples")
    ax.grid(alpha=0.3)
    cx = [0.0, *cpu, cpu_max]
    cy = [0, *range(1, len(cpu) + 1), len(cpu)]
    ax2.step(cx, cy, where="post", color="tab:orange")
    ax2.set_xlabel("Lean CPU-seconds per problem")
    ax2.set_ylabel(f"problems solved (of {len(rows)})")
    ax2.set_title("solved vs Lean CPU-seconds")
    ax2.set_ylim(ax.get_ylim())
    ax2.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    for a in (ax, ax2):
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(
    out: Path,
    records: Sequence[Problem],
    config: EvalConfig,
    versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """summary.json, report.md, pass_curve.png of `out`.  `versions` (backend, Lean, Mathlib
    the run checked with) is kept from the previous summary when not given (a resumed run that
    had nothing left to check)."""
    results = read_results(out)
    if versions is None:
        try:
            prev = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            versions = prev.get("versions") or None
        except (OSError, json.JSONDecodeError, AttributeError):
            versions = None
    summary = summarize(records, results, config, versions)
    rows = [results[r.id] for r in records if r.id in results]
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_report(summary, rows), encoding="utf-8")
    plot_pass_curve(rows, config.budget.total, out / "pass_curve.png")
    return summary


def run_rows(out_dir: Path | str) -> dict[str, dict[str, Any]]:
    """The rows `summary.json` of `out_dir` counts: the latest line of each of its problems
    (every problem of `results.jsonl` when there is no summary yet, e.g. after a kill)."""
    d = Path(out_dir)
    res = read_results(d)
    try:
        ids = json.loads((d / "summary.json").read_text(encoding="utf-8"))["ids"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return res
    return {i: res[i] for i in ids if i in res}


def compare_runs(dirs: Sequence[Path | str]) -> str:
    """Side-by-side pass rates of several eval directories and the problems they disagree on;
    each directory counts as its `summary.json` does (latest line per problem)."""
    runs = []
    for d in dirs:
        d = Path(d)
        res = run_rows(d)
        if not res:
            raise UsageError(f"{d} has no {RESULTS} with results")
        runs.append((str(d), res))
    # equal budget: the per-problem budget every run reached (its largest samples / Lean CPU-s
    # spent on one problem), and what each run solved within it
    k_eq = min(
        max((int(x.get("samples") or 0) for x in res.values()), default=0) for _, res in runs
    )
    c_eq = min(
        max((float(x.get("lean_cpu_s") or 0.0) for x in res.values()), default=0.0)
        for _, res in runs
    )
    head = [
        "run",
        "problems",
        "solved",
        "pass rate",
        "95% CI",
        f"solved@{k_eq} samples",
        f"solved@{c_eq:.1f} CPU-s",
        "samples",
        "verifications",
        "tokens in/out",
        "Lean CPU s",
        "wall s",
    ]
    table = []
    for d, res in runs:
        rows = list(res.values())
        n, k = len(res), sum(1 for x in rows if x.get("solved"))
        lo, hi = wilson_interval(k, n)
        pr = f"{100 * k / n:.1f}%" if n else "-"
        b = budget_totals(rows)
        table.append(
            [
                d,
                str(n),
                str(k),
                pr,
                f"{100 * lo:.1f}–{100 * hi:.1f}%",
                str(solved_at(rows, samples=k_eq)),
                str(solved_at(rows, cpu_s=c_eq)),
                str(b["samples"]),
                str(b["verifications"]),
                f"{_tok(b['tokens_in'])}/{_tok(b['tokens_out'])}",
                f"{b['lean_cpu_s']:.1f}",
                f"{b['wall_s']:.1f}",
            ]
        )
    out = [_fmt_table(head, table)]
    out.append(
        f"equal budget: solved within {k_eq} samples and within {c_eq:.1f} Lean CPU-seconds per "
        "problem (the largest per-problem spend every run reached)"
    )
    out += ["", _refusal_table(runs)]
    ids = sorted({i for _, res in runs for i in res})
    diffs = []
    for i in ids:
        marks = []
        for _, res in runs:
            x = res.get(i)
            marks.append("-" if x is None else ("✓" if x.get("solved") else "✗"))
        if len({m for m in marks if m != "-"}) > 1 or ("-" in marks and len(set(marks)) > 1):
            diffs.append([i, *marks])
    out.append("")
    if diffs:
        out.append(f"{len(diffs)} problems differ (✓ solved, ✗ failed, - not run):")
        out.append(_fmt_table(["problem", *[f"#{j + 1}" for j in range(len(runs))]], diffs))
    else:
        out.append("no per-problem differences")
    return "\n".join(out) + "\n"


def _refusal_table(runs: Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]]) -> str:
    """Refusal rates per category (Lean's, README "Refusal categories") of each run: refused
    requests of the category / checked requests (verifications + cache hits)."""
    counts = [(d, refusal_counts(list(res.values()))) for d, res in runs]
    cats = sorted({c for _, r in counts for c in r["by_category"]})
    if not cats:
        return "refusals: none in any run"
    table = []
    for d, r in counts:
        n = r["checked"]
        cells = []
        for c in cats:
            v = int(r["by_category"].get(c, 0))
            cells.append(f"{v} ({100 * v / n:.1f}%)" if n else str(v))
        table.append([d, str(n), *cells])
    return "refusals per category (of the checked requests):\n" + _fmt_table(
        ["run", "checked", *cats], table
    )


def _fmt_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*r) for r in rows]
    )
