"""Result cache keyed by (backend, header, statement, proof): repeated proofs are not re-checked.

In memory (bounded LRU) and optionally on disk (SQLite, safe across processes and crashes)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict

# Verdicts that depend on the machine's load rather than the proof are never cached.
_UNCACHEABLE = {Verdict.TIMEOUT, Verdict.ERROR}


class CachedChecker:
    """Wraps a Checker; identical requests are answered from the cache."""

    def __init__(self, inner: Checker, max_items: int = 100_000, path: Path | None = None) -> None:
        self.inner = inner
        self.name = inner.name
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
        return req.cache_key(self.name) + (":steps" if req.want_steps else "")

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
                out[i] = res
                self.hits += 1
            else:
                todo.append(i)
        # duplicates inside one batch are checked once
        first: dict[str, int] = {}
        unique = []
        for i in todo:
            k = self._key(requests[i])
            if k not in first:
                first[k] = i
                unique.append(i)
        self.misses += len(unique)
        fresh = self.inner.check([requests[i] for i in unique]) if unique else []
        for i, res in zip(unique, fresh, strict=True):
            out[i] = res
            if res.verdict not in _UNCACHEABLE:
                payload = res.to_json()
                payload["backend"] = res.backend
                self._put(self._key(requests[i]), payload)
        for i in todo:
            if out[i] is None:
                out[i] = out[first[self._key(requests[i])]]
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
