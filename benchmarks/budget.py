"""Budget accounting of one problem of an eval run: what the search and the harness spent.

`Meter` sits on top of the checker chain (`MeteredChecker`, a `CheckerWrapper`, so `uncached()`
and recorders below keep working; a clone made by `uncached` shares the meter) and around the
policy (`MeteredPolicy`), and counts:

- `verifications`: requests answered by Lean (cache hits are counted apart, as `cache_hits`,
  and cost no Lean time);
- `lean_cpu_s`: CPU seconds of the Lean checker processes on those requests
  (`CheckResult.cpu_s`, measured by the checker driver from /proc), and `lean_wall_s`, Lean's own
  per-item wall clock (`CheckResult.time_s`);
- `tokens_in` / `tokens_out`: prompt tokens (once per task of a `generate` call, counted with the
  policy's tokenizer, `count_tokens`) and generated tokens (`Completion.num_tokens`); None when
  the policy has no tokenizer (the automation policy: it generates no tokens);
- `refusal`: checked requests (cache hits included) per refusal category (`CheckResult.refusal`,
  set by Lean: README "Refusal categories");
- the outcomes Lean gave that the search does not report: a proof that is `proved modulo header
  declaration(s) proved by sorry` (`modulo`), and a statement that does not elaborate
  (`statement_error`: only the benchmark's own statement, `Meter(statement)`; a lemma or an
  in-place statement that a decomposition checks is not the benchmark's).

A problem resumed from a search's checkpoint (RMaxTS `--tree-dir`) starts from the counts stored
with that checkpoint (`restore`): the work done after it, lost with the process, is counted
neither in the samples nor here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict
from prover.lean.wrappers import CheckerWrapper, RequestContext, check_with_context
from prover.policy.base import Completion, Policy, ProofTask, SamplingParams

MODULO_PREFIX = "proved modulo header declaration(s) proved by sorry"
STATEMENT_ERROR_PREFIX = "the statement does not elaborate"


class Meter:
    """The running totals of one problem (thread-safe).  `statement`: the problem's own
    statement, the only one whose "does not elaborate" sets `statement_error` (None: any)."""

    def __init__(self, statement: str | None = None) -> None:
        self.statement = statement
        self._lock = threading.Lock()
        self.verifications = 0
        self.cache_hits = 0
        self.lean_cpu_s = 0.0
        self.lean_wall_s = 0.0
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.modulo: tuple[str, str] | None = None  # (proof, Lean's reason)
        self.statement_error: str | None = None
        self.limits: dict[str, int] = {}  # CheckResult.limit -> items it stopped
        # CheckResult.refusal -> checked requests (cache hits included) refused with it
        self.refusals: dict[str, int] = {}

    def add_results(self, requests: Sequence[CheckRequest], results: Sequence[CheckResult]) -> None:
        with self._lock:
            for req, res in zip(requests, results, strict=True):
                if res.cached:
                    self.cache_hits += 1
                else:
                    self.verifications += 1
                    self.lean_cpu_s += res.cpu_s
                    self.lean_wall_s += res.time_s
                    if res.limit:
                        self.limits[res.limit] = self.limits.get(res.limit, 0) + 1
                if res.refusal:
                    self.refusals[res.refusal] = self.refusals.get(res.refusal, 0) + 1
                reason = res.reason or ""
                if (
                    res.verdict is Verdict.REJECTED
                    and reason.startswith(MODULO_PREFIX)
                    and self.modulo is None
                ):
                    self.modulo = (req.proof, reason)
                if (
                    reason.startswith(STATEMENT_ERROR_PREFIX)
                    and self.statement_error is None
                    and self.statement in (None, req.formal_statement)
                ):
                    err = res.first_error.text if res.first_error else ""
                    self.statement_error = " ".join(f"{reason}: {err}".split()).rstrip(": ")

    def add_tokens(self, tokens_in: int, tokens_out: int) -> None:
        with self._lock:
            self.tokens_in = (self.tokens_in or 0) + tokens_in
            self.tokens_out = (self.tokens_out or 0) + tokens_out

    def fields(self) -> dict[str, Any]:
        """The budget fields of a `ProblemResult`."""
        return {
            "verifications": self.verifications,
            "cache_hits": self.cache_hits,
            "lean_cpu_s": self.lean_cpu_s,
            "lean_wall_s": self.lean_wall_s,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "limits": dict(self.limits),
            "refusal": dict(self.refusals),
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Add the counts `fields()` gave earlier (stored with a search's checkpoint) to this
        meter: a problem resumed from the checkpoint goes on from them."""
        with self._lock:
            self.verifications += int(saved.get("verifications", 0))
            self.cache_hits += int(saved.get("cache_hits", 0))
            self.lean_cpu_s += float(saved.get("lean_cpu_s", 0.0))
            self.lean_wall_s += float(saved.get("lean_wall_s", 0.0))
            for name in ("tokens_in", "tokens_out"):
                if saved.get(name) is not None:
                    setattr(self, name, (getattr(self, name) or 0) + int(saved[name]))
            for mine, key in ((self.limits, "limits"), (self.refusals, "refusal")):
                for k, v in (saved.get(key) or {}).items():
                    mine[k] = mine.get(k, 0) + int(v)

    def checker(self, inner: Checker) -> MeteredChecker:
        return MeteredChecker(inner, self)

    def policy(self, inner: Policy) -> MeteredPolicy:
        return MeteredPolicy(inner, self)


class MeteredChecker(CheckerWrapper):
    """Counts what passes through into a `Meter`; closing it does not close the chain (the
    harness owns the checker)."""

    def __init__(self, inner: Checker, meter: Meter) -> None:
        super().__init__(inner)
        self.meter = meter

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        results = self.inner.check(requests)
        self.meter.add_results(requests, results)
        return results

    def check_with_context(
        self, requests: Sequence[CheckRequest], contexts: Sequence[RequestContext | None]
    ) -> list[CheckResult]:
        results = check_with_context(self.inner, requests, contexts)
        self.meter.add_results(requests, results)
        return results

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:  # lean_version, identity(), ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class MeteredPolicy:
    """A policy that counts its tokens into a `Meter`; every other attribute is the policy's."""

    def __init__(self, inner: Policy, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter
        self.spec = inner.spec

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out = self.inner.generate(tasks, params)
        count = getattr(self.inner, "count_tokens", None)
        if callable(count):
            tin = sum(count(comps[0].prompt) for comps in out if comps and comps[0].prompt)
            tout = sum(c.num_tokens or count(c.text) for comps in out for c in comps)
            self.meter.add_tokens(tin, tout)
        return out

    def close(self) -> None:
        pass  # the harness owns the policy

    def __getattr__(self, name: str) -> Any:  # count_tokens, tokenizer, config, ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def checker_versions(checker: Checker) -> dict[str, str]:
    """What a run checked with: backend, Lean version, Mathlib version ("none" on the embedded
    backend, which has core Lean only; the native project's pinned `require mathlib` tag)."""
    import re

    from prover.lean.wrappers import bare

    inner = bare(checker)
    backend = str(getattr(inner, "name", ""))
    lean = str(getattr(inner, "lean_version", "") or "")
    mathlib = "none (core Lean only)" if backend == "embedded" else ""
    if backend == "native":
        tc = getattr(getattr(inner, "launcher", None), "toolchain", None)
        if tc is None:
            from prover.lean.toolchain import native_toolchain

            tc = native_toolchain()
        try:
            text = (tc.project / "lakefile.lean").read_text(encoding="utf-8")
        except OSError:
            text = ""
        m = re.search(r'require\s+mathlib\s+from\s+git\s+"[^"]*"\s*@\s*"([^"]+)"', text)
        mathlib = m.group(1).lstrip("v") if m else "unknown"
    return {"backend": backend, "lean": lean, "mathlib": mathlib}
