"""The FastAPI application of `prover serve`.

Admission: at most `workers + max_queue` items are in the server at once (running in Lean or
waiting for a free process); a request whose items do not fit gets 429 with `Retry-After` at
once, so the backlog is bounded.  Items run one per Lean process on a thread pool of `workers`
threads.  While a request waits, the server polls its connection: a client that disconnects has
its items that have not started cancelled (their slots are free at once; the one already in
Lean finishes within the item timeout).  On shutdown (`draining`) new requests get 503, items
not started are returned as verdict `error` (reason "server shutting down ..."), running ones
are answered.  A Lean crash costs only its item (the checker replaces the process)."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prover.lean.types import Checker, CheckRequest, CheckResult, LeanInfraError, Verdict
from prover.lean.wrappers import bare, toolchain_version
from prover.service.config import ServeConfig
from prover.service.kimina import SnippetError, error_response, snippet_items, snippet_response

if TYPE_CHECKING:
    from fastapi import FastAPI

SHUTDOWN_REASON = "server shutting down before this item started; resubmit it"
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Rejected(Exception):
    """A request the server answers with an HTTP error (status, detail, extra headers)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.verdicts: Counter[str] = Counter()
        self.latency_sum = 0.0
        self.latency_count = 0
        self.buckets = [0] * len(_BUCKETS)
        self.disconnects = 0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(endpoint, status)] += 1
            self.latency_sum += seconds
            self.latency_count += 1
            for i, b in enumerate(_BUCKETS):
                if seconds <= b:
                    self.buckets[i] += 1


class Dispatcher:
    """Bounded admission and one-item-at-a-time execution on the checker."""

    def __init__(self, checker: Checker, workers: int, max_queue: int) -> None:
        self.checker = checker
        self.capacity = workers + max_queue
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="serve-item")
        self.lock = threading.Lock()
        self.admitted = 0  # items running or waiting
        self.running = 0

    def admit(self, n: int) -> bool:
        with self.lock:
            if self.admitted + n > self.capacity:
                return False
            self.admitted += n
            return True

    def _release(self, _: Future[CheckResult]) -> None:
        with self.lock:
            self.admitted -= 1

    def _run(self, req: CheckRequest) -> CheckResult:
        with self.lock:
            self.running += 1
        try:
            return self.checker.check([req])[0]
        finally:
            with self.lock:
                self.running -= 1

    def submit(self, req: CheckRequest) -> Future[CheckResult]:
        fut = self.pool.submit(self._run, req)
        fut.add_done_callback(self._release)
        return fut

    @property
    def queued(self) -> int:
        with self.lock:
            return self.admitted - self.running

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def create_app(checker: Checker, config: ServeConfig) -> FastAPI:
    """The app over `checker` (owned by the caller, who closes it after the server stops)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from pydantic import ValidationError

    from prover.service import schema

    app = FastAPI(title="prover serve", version="1")
    dispatcher = Dispatcher(checker, config.workers, config.max_queue)
    metrics = Metrics()
    state = {"draining": False}
    app.state.dispatcher = dispatcher
    app.state.metrics = metrics
    app.state.drain = lambda: state.__setitem__("draining", True)
    retry = {"Retry-After": str(config.retry_after_s)}

    def authorized(request: Request) -> bool:
        if not config.api_key:
            return True
        auth = request.headers.get("authorization", "")
        given = (
            auth[7:] if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        )
        return hmac.compare_digest(given.encode(), config.api_key.encode())

    async def body_of(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > config.max_body_bytes:
            raise Rejected(
                413, f"request body of {length} bytes is over the limit of {config.max_body_bytes}"
            )
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > config.max_body_bytes:
                raise Rejected(
                    413, f"request body is over the limit of {config.max_body_bytes} bytes"
                )
        return body

    async def run_items(request: Request, reqs: Sequence[CheckRequest]) -> list[CheckResult]:
        if len(reqs) > config.max_items:
            raise Rejected(
                413, f"{len(reqs)} items in one request; the limit is {config.max_items}"
            )
        if state["draining"]:
            raise Rejected(503, "server shutting down", retry)
        if not dispatcher.admit(len(reqs)):
            raise Rejected(
                429,
                f"queue full ({dispatcher.capacity} items admitted at most); retry later",
                retry,
            )
        futs = [dispatcher.submit(r) for r in reqs]
        deadline = time.monotonic() + config.request_timeout_s
        try:
            while not all(f.done() for f in futs):
                await asyncio.sleep(0.05)
                if state["draining"]:
                    for f in futs:
                        f.cancel()  # not started: returned below; running: answered
                elif await request.is_disconnected():
                    metrics.disconnects += 1
                    raise Rejected(499, "client disconnected")
                elif time.monotonic() > deadline:
                    raise Rejected(
                        504, f"request not done in {config.request_timeout_s} s; items cancelled"
                    )
        finally:
            for f in futs:
                f.cancel()
        out = []
        for f in futs:
            if f.cancelled():
                out.append(CheckResult(Verdict.ERROR, reason=SHUTDOWN_REASON, backend=checker.name))
                continue
            exc = f.exception()
            if isinstance(exc, LeanInfraError):
                raise Rejected(503, f"Lean infrastructure failure: {exc}", retry)
            if exc is not None:
                raise exc
            out.append(f.result())
        with metrics.lock:
            metrics.verdicts.update(r.verdict.value for r in out)
        return out

    def endpoint(name: str, handler: Callable[[Request, bytes], Any]) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            t0 = time.monotonic()
            status = 200
            try:
                if not authorized(request):
                    raise Rejected(401, "missing or wrong API key", {"WWW-Authenticate": "Bearer"})
                body = await body_of(request)
                return JSONResponse(await handler(request, body))
            except Rejected as exc:
                status = exc.status
                return JSONResponse(
                    {"detail": exc.detail}, status_code=exc.status, headers=exc.headers
                )
            except ValidationError as exc:
                status = 422
                return JSONResponse({"detail": exc.errors(include_url=False)}, status_code=422)
            finally:
                metrics.request(name, status, time.monotonic() - t0)

        wrapped.__annotations__ = {"request": Request, "return": Response}  # resolved here
        return wrapped

    async def verify(request: Request, body: bytes) -> dict[str, Any]:
        req = schema.VerifyBody.model_validate_json(body)
        reqs = [it.to_request(req.steps, config.timeout_s) for it in req.items]
        results = await run_items(request, reqs)
        return {
            "backend": checker.name,
            "lean_version": getattr(checker, "lean_version", ""),
            "results": [r.to_json(id=q.id) for q, r in zip(reqs, results, strict=True)],
        }

    async def kimina_results(
        request: Request, snippets: Sequence[tuple[str, str]], timeout: float
    ) -> list[dict[str, Any]]:
        timeout_s = min(timeout, config.timeout_s) if timeout > 0 else config.timeout_s
        per: list[Any] = []
        reqs: list[CheckRequest] = []
        for sid, code in snippets:
            try:
                items = snippet_items(code, sid, timeout_s)
            except SnippetError as exc:
                per.append(exc)
                continue
            per.append(items)
            reqs += [it.request for it in items]
        t0 = time.monotonic()
        results = iter(await run_items(request, reqs)) if reqs else iter([])
        elapsed = time.monotonic() - t0
        out = []
        for (sid, _), items in zip(snippets, per, strict=True):
            if isinstance(items, SnippetError):
                resp = error_response(1, str(items))
                spent = 0.0
            else:
                res = [next(results) for _ in items]
                resp = snippet_response(items, res)
                spent = sum(r.time_s for r in res) or elapsed
            out.append({"id": sid, "time": round(spent, 4), "error": None, "response": resp})
        return out

    async def api_check(request: Request, body: bytes) -> dict[str, Any]:
        req = schema.KiminaCheck.model_validate_json(body)
        results = await kimina_results(request, [(s.id, s.code) for s in req.snippets], req.timeout)
        return {"results": results}

    async def legacy_verify(request: Request, body: bytes) -> dict[str, Any]:
        req = schema.KiminaVerify.model_validate_json(body)
        snippets = [(str(c.custom_id), c.content()) for c in req.codes]
        results = await kimina_results(request, snippets, req.timeout)
        return {
            "results": [
                {
                    "custom_id": r["id"],
                    "error": None,
                    "response": {**r["response"], "time": r["time"]},
                }
                for r in results
            ]
        }

    app.add_api_route("/v1/verify", endpoint("/v1/verify", verify), methods=["POST"])
    app.add_api_route("/api/check", endpoint("/api/check", api_check), methods=["POST"])
    app.add_api_route("/verify", endpoint("/verify", legacy_verify), methods=["POST"])

    inner = bare(checker)

    async def health() -> dict[str, Any]:
        return {
            "status": "draining" if state["draining"] else "ok",
            "backend": checker.name,
            "lean_version": getattr(inner, "lean_version", ""),
            "toolchain": toolchain_version(inner),
            "workers": config.workers,
            "max_items": config.max_items,
            "max_queue": config.max_queue,
            "queued": dispatcher.queued,
            "running": dispatcher.running,
        }

    health.__annotations__ = {"return": dict}
    app.add_api_route("/health", health, methods=["GET"])

    async def prometheus(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "missing or wrong API key"}, status_code=401)
        return PlainTextResponse(render_metrics(metrics, dispatcher, inner))

    prometheus.__annotations__ = {"request": Request, "return": Response}
    app.add_api_route("/metrics", prometheus, methods=["GET"])

    return app


def render_metrics(m: Metrics, d: Dispatcher, checker: Any) -> str:
    stats = getattr(checker, "stats", {}) or {}
    pids = getattr(checker, "pids", None)
    lines = [
        "# HELP prover_requests_total HTTP requests by endpoint and status",
        "# TYPE prover_requests_total counter",
    ]
    with m.lock:
        for (ep, st), n in sorted(m.requests.items()):
            lines.append(f'prover_requests_total{{endpoint="{ep}",status="{st}"}} {n}')
        lines += [
            "# HELP prover_verdicts_total items answered by verdict",
            "# TYPE prover_verdicts_total counter",
        ]
        for v in Verdict:
            lines.append(
                f'prover_verdicts_total{{verdict="{v.value}"}} {m.verdicts.get(v.value, 0)}'
            )
        lines += [
            "# HELP prover_request_seconds request latency",
            "# TYPE prover_request_seconds histogram",
        ]
        for b, n in zip(_BUCKETS, m.buckets, strict=True):
            lines.append(f'prover_request_seconds_bucket{{le="{b}"}} {n}')
        lines.append(f'prover_request_seconds_bucket{{le="+Inf"}} {m.latency_count}')
        lines.append(f"prover_request_seconds_sum {m.latency_sum:.6f}")
        lines.append(f"prover_request_seconds_count {m.latency_count}")
        lines += [
            "# TYPE prover_client_disconnects_total counter",
            f"prover_client_disconnects_total {m.disconnects}",
        ]
    lines += [
        "# HELP prover_queue_length items admitted and waiting for a Lean process",
        "# TYPE prover_queue_length gauge",
        f"prover_queue_length {d.queued}",
        "# TYPE prover_items_running gauge",
        f"prover_items_running {d.running}",
        "# HELP prover_lean_processes live Lean checker processes",
        "# TYPE prover_lean_processes gauge",
        f"prover_lean_processes {len(pids()) if callable(pids) else 0}",
        "# HELP prover_lean_restarts_total Lean processes replaced after a crash, timeout or memory kill",
        "# TYPE prover_lean_restarts_total counter",
        f"prover_lean_restarts_total {stats.get('restarts', 0)}",
    ]
    return "\n".join(lines) + "\n"
