"""`HTTPChecker`: the `Checker` of a running `prover serve` (`--checker http://HOST:PORT`).

It posts items to `/v1/verify` in chunks of the server's `max_items`; a 429/503 is retried after
the server's `Retry-After` (up to `patience_s`); any other status, a 504 included (the server
gave up on the request and cancelled its items), is a `LeanInfraError`.  Lean outcomes come back as `CheckResult`s;
a server that cannot be reached, a refused key or a server-side infrastructure failure is a
`LeanInfraError`.  `name`, `lean_version` and `identity()` are the server's, so cache keys and a
run's recorded backend are those of the Lean that decided."""

from __future__ import annotations

import datetime
import email.utils
import os
import time
from collections.abc import Sequence
from typing import Any

from prover.lean.types import CheckRequest, CheckResult, LeanInfraError


def retry_after_s(value: str | None, default: float = 1.0) -> float:
    """Seconds to wait before retrying, from a `Retry-After` header: delay seconds or an HTTP
    date (RFC 9110; a proxy in front of the server may send either), never negative; `default`
    when the header is absent or unreadable."""
    if not value or not value.strip():
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class HTTPChecker:
    # items worth sending per call when a search stops at its first proof (`parallelism`): the
    # server's Lean processes are not known here; 8 keeps a typical server busy
    parallelism = 8

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        item_timeout_s: float | None = None,
        patience_s: float = 600.0,
        http_timeout_s: float = 900.0,
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        key = api_key or os.environ.get("PROVER_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.item_timeout_s = item_timeout_s
        self.patience_s = patience_s
        self._client = httpx.Client(headers=headers, timeout=http_timeout_s)
        health = self._get("/health")
        self.name: str = health["backend"]
        self.lean_version: str = health.get("lean_version", "")
        self._toolchain: str = health.get("toolchain", "")
        self.max_items = int(health.get("max_items", 64))

    def identity(self) -> str:
        return self._toolchain

    def _get(self, path: str) -> dict[str, Any]:
        import httpx

        try:
            resp = self._client.get(self.url + path)
        except httpx.HTTPError as exc:
            raise LeanInfraError(f"prover serve at {self.url} cannot be reached: {exc}") from exc
        if resp.status_code != 200:
            raise LeanInfraError(
                f"prover serve at {self.url}{path}: HTTP {resp.status_code} {resp.text[:200]}"
            )
        return dict(resp.json())

    def _post(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import httpx

        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                resp = self._client.post(self.url + "/v1/verify", json={"items": items})
            except httpx.HTTPError as exc:
                raise LeanInfraError(f"prover serve at {self.url}: {exc}") from exc
            if resp.status_code in (429, 503) and time.monotonic() < deadline:
                time.sleep(retry_after_s(resp.headers.get("retry-after")))
                continue
            if resp.status_code != 200:
                raise LeanInfraError(
                    f"prover serve at {self.url}/v1/verify: HTTP {resp.status_code} {resp.text[:300]}"
                )
            return list(resp.json()["results"])

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out: list[CheckResult] = []
        for k in range(0, len(requests), self.max_items):
            chunk = requests[k : k + self.max_items]
            items = [
                {
                    "id": r.id,
                    "formal_statement": r.formal_statement,
                    "proof": r.proof,
                    "header": r.header,
                    "header_trusted": r.header_trusted,
                    "want_steps": r.want_steps,
                    "allow_native_decide": r.allow_native_decide,
                    "timeout_s": r.timeout_s or self.item_timeout_s,
                    **({"answers": dict(r.answers)} if r.answers else {}),
                }
                for r in chunk
            ]
            for row in self._post(items):
                res = CheckResult.from_json(row)
                res.backend, res.lean_version = self.name, self.lean_version
                out.append(res)
        return out

    def close(self) -> None:
        self._client.close()
