"""Result cache keyed by (toolchain, backend, header, statement, proof, allow_native_decide):
repeated proofs are not re-checked, and a toolchain change never reuses the old verdicts.

In memory (bounded LRU) and optionally on disk (SQLite, safe across processes and crashes)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict

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


class CachedChecker:
    """Wraps a Checker; identical requests are answered from the cache.

    `version` names the toolchain and is part of every key (default: `toolchain_version(inner)`),
    so an on-disk cache written by another Lean is not reused."""

    def __init__(
        self,
        inner: Checker,
        max_items: int = 100_000,
        path: Path | None = None,
        version: str | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = toolchain_version(inner) if version is None else version
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
        fresh = self.inner.check([requests[i] for i in unique]) if unique else []
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
        self.inner.close()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> CachedChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
