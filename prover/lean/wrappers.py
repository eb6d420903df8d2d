"""Every layer that wraps a `Checker`, and the one protocol they share.

A wrapper is a `CheckerWrapper`: it holds the checker below it in `inner`, has the same `name`,
answers `check(requests)` and, for a search that knows where its requests come from,
`check_with_context(requests, contexts)`.  The base class passes contexts down the chain, so a
`RecordingChecker` anywhere below a `CachedChecker` still receives them.  Chains are built by
the commands (`make_checker` adds the cache; `prove`/`eval`/`collect` add a recorder on top) and
taken apart only here:

    CachedChecker     answers identical requests from an in-memory LRU / SQLite cache
    RecordingChecker  hands every (request, result, context) to a `RecordSink` (RL feedback)
    uncached(c)       the chain without its cache layers (a claimed proof is re-checked by Lean)
    bare(c)           the checker under every wrapper

`RequestContext` is what a search attaches to a request (problem, prompt, completion, sampling,
sample index, kind); it lives here, with the checker types, so searches depend on the Lean layer
and not on RL.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, Self

from prover.lean.syntax import LexError, tokenize
from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict

# What a verification was for (the `kind` of a feedback record):
#   sample    a whole-proof completion (from the empty prefix, or from a verified prefix)
#   tactic    one best-first-search step (proof = prefix + step)
#   precheck  statement + `sorry` (does the statement elaborate)
#   final     a search's fresh re-check of a proof it found
#   correction  a self-correction round: the policy's answer to Lean's feedback on a failed
#             attempt (`round` >= 1, `turns` the chat history before the answer)
#   sketch    a decomposition sketch (gaps are `sorry`s; it must elaborate with only those)
KINDS = ("sample", "tactic", "precheck", "final", "correction", "sketch")


def _sorry_only(proof: str) -> bool:
    """The proof is `sorry` or `by sorry` (comments aside): a statement probe."""
    try:
        return [t.text for t in tokenize(proof)] in (["sorry"], ["by", "sorry"])
    except LexError:
        return False


def check_kind(owner: str, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"{owner}.kind must be one of {', '.join(KINDS)}, got {kind!r}")


@dataclass(frozen=True)
class RequestContext:
    """What the checker does not know about a request: where the proof came from."""

    problem_id: str = ""
    prompt: str = ""
    completion: str | None = None  # None: the proof itself
    prefix: str = ""
    policy: str = ""
    sampling: Any = None  # SamplingParams, a mapping, or None
    sample_index: int = -1
    source: str = ""
    kind: str = "sample"
    round: int = 0  # self-correction round (0: a first attempt)
    # the chat turns before `completion` ((role, content), oldest first) in a correction chain:
    # user prompt, assistant answer, user Lean feedback, ...
    turns: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_kind("RequestContext", self.kind)
        if self.sample_index < -1:
            raise ValueError(f"RequestContext.sample_index must be >= -1, got {self.sample_index}")


class CheckerWrapper:
    """Base of every wrapper: delegates to `inner`, passes contexts down, closes the chain."""

    def __init__(self, inner: Checker) -> None:
        self.inner = inner
        self.name = inner.name

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return self.inner.check(requests)

    def check_with_context(
        self, requests: Sequence[CheckRequest], contexts: Sequence[RequestContext | None]
    ) -> list[CheckResult]:
        """Like `check`; a layer that does not use the contexts hands them to the layer below
        unless it answers a request itself (a cache hit is not recorded again)."""
        return check_with_context(self.inner, requests, contexts)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_with_context(
    checker: Checker,
    requests: Sequence[CheckRequest],
    contexts: Sequence[RequestContext | None],
) -> list[CheckResult]:
    """`checker.check(requests)`, with the contexts for any recorder in the chain."""
    if len(contexts) != len(requests):
        raise ValueError(f"{len(requests)} requests but {len(contexts)} contexts")
    if isinstance(checker, CheckerWrapper):
        return checker.check_with_context(requests, contexts)
    return checker.check(requests)


def uncached(checker: Checker) -> Checker:
    """`checker` with every `CachedChecker` taken out of its chain, for re-verifying a claimed
    proof: the re-check must reach Lean, not the cache entry its first check just wrote.  The
    other layers (a recorder) are kept, so the re-check is still recorded: a wrapper above a
    cache is shallow-copied with the uncached chain as its `inner` (the original is unchanged)."""
    if isinstance(checker, CachedChecker):
        return uncached(checker.inner)
    if not isinstance(checker, CheckerWrapper):
        return checker
    below = uncached(checker.inner)
    if below is checker.inner:
        return checker
    clone = copy.copy(checker)
    clone.inner = below
    return clone


def bare(checker: Checker) -> Checker:
    """The checker under every wrapper layer (no cache, no recorder)."""
    while isinstance(checker, CheckerWrapper):
        checker = checker.inner
    return checker


def parallelism(checker: Checker) -> int:
    """How many items the checker under the wrappers checks at once: its Lean processes
    (`config.workers`), a remote checker's `parallelism`, else 1.  A search that stops at its
    first proof verifies a round in chunks of this size, so nothing after the proof is paid."""
    inner = bare(checker)
    workers = getattr(getattr(inner, "config", None), "workers", None)
    if isinstance(workers, int) and workers > 0:
        return workers
    value = getattr(inner, "parallelism", 1)
    return value if isinstance(value, int) and value > 0 else 1


# ----------------------------------------------------------------------------- result cache

# Verdicts that depend on the machine's load rather than the proof are never cached.
_UNCACHEABLE = {Verdict.TIMEOUT, Verdict.ERROR}


def toolchain_version(checker: object) -> str:
    """The Lean behind `checker`: its `lean_version` plus its `identity()` (the embedded install's
    stamp or the native project's `lean-toolchain` and manifest digest, and the checker
    program's hash), so a toolchain or checker change never reuses old verdicts."""
    parts = [str(getattr(checker, "lean_version", ""))]
    identity = getattr(checker, "identity", None)
    if callable(identity):
        parts.append(str(identity()))
    return " ".join(p for p in parts if p)


class CachedChecker(CheckerWrapper):
    """Identical requests are answered from the cache, keyed by (toolchain, backend, header,
    statement, proof, allow_native_decide, steps wanted).  In memory (bounded LRU) and optionally
    on disk (SQLite, safe across processes and crashes).

    `version` names the toolchain and is part of every key (default: `toolchain_version(inner)`),
    so an on-disk cache written by another Lean is not reused."""

    def __init__(
        self,
        inner: Checker,
        max_items: int = 100_000,
        path: Path | None = None,
        version: str | None = None,
    ) -> None:
        super().__init__(inner)
        self.version = toolchain_version(bare(inner)) if version is None else version
        self.max_items = max_items
        self._mem: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT)"
            )
            self._db.commit()
        self.hits = 0
        self.misses = 0

    def _key(self, req: CheckRequest) -> str:
        key = hashlib.sha256(f"{self.version}\0{req.cache_key(self.name)}".encode()).hexdigest()
        return key + (":steps" if req.want_steps else "")

    def _get(self, key: str) -> dict | None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                return self._mem[key]
            if self._db is not None:
                row = self._db.execute("SELECT value FROM results WHERE key=?", (key,)).fetchone()
                if row:
                    return json.loads(row[0])
        return None

    def _put(self, key: str, value: dict) -> None:
        with self._lock:
            self._mem[key] = value
            self._mem.move_to_end(key)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO results VALUES (?, ?)", (key, json.dumps(value))
                )
                self._db.commit()

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return self.check_with_context(requests, [None] * len(requests))

    def check_with_context(
        self, requests: Sequence[CheckRequest], contexts: Sequence[RequestContext | None]
    ) -> list[CheckResult]:
        out: list[CheckResult | None] = [None] * len(requests)
        todo: list[int] = []
        for i, req in enumerate(requests):
            hit = self._get(self._key(req))
            if hit is not None:
                res = CheckResult.from_json(hit)
                res.cached = True
                res.backend = hit.get("backend", self.name)
                res.lean_version = hit.get("lean_version", "")
                out[i] = res
                self.hits += 1
            else:
                todo.append(i)
        # duplicates inside one batch are checked once
        seen: set[str] = set()
        unique = []
        for i in todo:
            k = self._key(requests[i])
            if k not in seen:
                seen.add(k)
                unique.append(i)
        self.misses += len(unique)
        fresh = (
            check_with_context(
                self.inner, [requests[i] for i in unique], [contexts[i] for i in unique]
            )
            if unique
            else []
        )
        by_key: dict[str, CheckResult] = {}
        for i, res in zip(unique, fresh, strict=True):
            out[i] = by_key[self._key(requests[i])] = res
            if res.verdict not in _UNCACHEABLE:
                payload = res.to_json()
                payload["backend"] = res.backend
                payload["lean_version"] = res.lean_version
                self._put(self._key(requests[i]), payload)
        for i in todo:
            if out[i] is None:  # a duplicate of an earlier request in this batch
                out[i] = dataclasses.replace(by_key[self._key(requests[i])], cached=True)
                self.hits += 1
        return [r for r in out if r is not None]

    def close(self) -> None:
        super().close()
        if self._db is not None:
            self._db.close()
            self._db = None


# ----------------------------------------------------------------------------- recorder


class RecordSink(Protocol):
    """Where a `RecordingChecker` sends what it saw (`prover.rl.records.FeedbackWriter`)."""

    def record(
        self, checked: Sequence[tuple[CheckRequest, CheckResult, RequestContext]], backend: str
    ) -> None: ...


class RecordingChecker(CheckerWrapper):
    """Hands every verification, with its context, to `sink`.

    Contexts come from `check_with_context` (searches); `policy` and `source` left empty in a
    context are taken from the default `context`.  Contexts can also be registered ahead with
    `set_context(request, ctx)` (consumed by the next check of an equal request).  A request
    checked with no context gets the default context, as kind `precheck` when its proof is just
    `sorry` (a statement check, e.g. `prove` checking that its statements elaborate)."""

    def __init__(
        self, inner: Checker, sink: RecordSink, context: RequestContext | None = None
    ) -> None:
        super().__init__(inner)
        self.sink = sink
        self.context = context or RequestContext()
        self._side: dict[CheckRequest, list[RequestContext]] = {}
        self._lock = threading.Lock()

    def set_context(self, request: CheckRequest, context: RequestContext) -> None:
        with self._lock:
            self._side.setdefault(request, []).append(context)

    def _pop(self, request: CheckRequest) -> RequestContext | None:
        queue = self._side.get(request)
        if not queue:
            return None
        ctx = queue.pop(0)
        if not queue:
            del self._side[request]
        return ctx

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        with self._lock:
            contexts = [self._pop(r) for r in requests]
        return self.check_with_context(requests, contexts)

    def _context(self, request: CheckRequest, ctx: RequestContext | None) -> RequestContext:
        if ctx is None:
            if _sorry_only(request.proof):
                return replace(self.context, kind="precheck")
            return self.context
        return replace(
            ctx,
            policy=ctx.policy or self.context.policy,
            source=ctx.source or self.context.source,
        )

    def check_with_context(
        self, requests: Sequence[CheckRequest], contexts: Sequence[RequestContext | None]
    ) -> list[CheckResult]:
        if len(contexts) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(contexts)} contexts")
        results = check_with_context(self.inner, requests, contexts)
        self.sink.record(
            [
                (req, res, self._context(req, ctx))
                for req, res, ctx in zip(requests, results, contexts, strict=True)
            ],
            self.name,
        )
        return results
