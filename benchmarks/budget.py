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
- the outcomes Lean gave that the search does not report: a proof that is `proved modulo header
  declaration(s) proved by sorry` (`modulo`), and a statement that does not elaborate
  (`statement_error`).
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
    """The running totals of one problem (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.verifications = 0
        self.cache_hits = 0
        self.lean_cpu_s = 0.0
        self.lean_wall_s = 0.0
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.modulo: tuple[str, str] | None = None  # (proof, Lean's reason)
        self.statement_error: str | None = None

    def add_results(self, requests: Sequence[CheckRequest], results: Sequence[CheckResult]) -> None:
        with self._lock:
            for req, res in zip(requests, results, strict=True):
                if res.cached:
                    self.cache_hits += 1
                else:
                    self.verifications += 1
                    self.lean_cpu_s += res.cpu_s
                    self.lean_wall_s += res.time_s
                reason = res.reason or ""
                if (
                    res.verdict is Verdict.REJECTED
                    and reason.startswith(MODULO_PREFIX)
                    and self.modulo is None
                ):
                    self.modulo = (req.proof, reason)
                if reason.startswith(STATEMENT_ERROR_PREFIX) and self.statement_error is None:
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
        }

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
