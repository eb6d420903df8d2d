"""`prover serve` without Lean: schema, limits, queue, disconnects, shutdown, auth, and
`HTTPChecker` under 429/503/504 (a fake checker that answers what real Lean answers stands in for
Lean, tests/serve_util.py; tests/test_serve_lean.py runs the real one).  A test waits for the
server's state (an item in the fake Lean, the number of items admitted), never for a time."""

from __future__ import annotations

import functools
import json
import socket
import threading

import httpx
import pytest
from serve_util import STATEMENT, FakeChecker, InProcessServer

from prover.lean.types import CheckRequest, LeanInfraError, Verdict

ITEM = {"id": "a", "formal_statement": STATEMENT, "proof": " trivial"}


def item(i: str, proof: str = " trivial") -> dict:
    return {**ITEM, "id": i, "proof": proof}


@pytest.fixture
def fake():
    checker = FakeChecker()
    yield checker
    checker.release.set()


def test_verify_endpoint_and_metrics(fake) -> None:
    srv = InProcessServer(fake)
    try:
        r = httpx.post(srv.url + "/v1/verify", json={"items": [item("a"), item("b", " sorry")]})
        assert r.status_code == 200
        res = r.json()["results"]
        assert [(x["id"], x["verdict"]) for x in res] == [("a", "proved"), ("b", "incomplete")]
        assert httpx.get(srv.url + "/health").json()["status"] == "ok"
        text = httpx.get(srv.url + "/metrics").text
        assert 'prover_verdicts_total{verdict="proved"} 1' in text
        assert 'prover_requests_total{endpoint="/v1/verify",status="200"} 1' in text
        assert "prover_queue_length 0" in text
        bad = httpx.post(srv.url + "/v1/verify", json={"items": [{"id": "x"}]})
        assert bad.status_code == 422
    finally:
        srv.stop()


def _post_in_thread(srv: InProcessServer, items: list[dict], got: list) -> threading.Thread:
    def send() -> None:
        got.append(httpx.post(srv.url + "/v1/verify", json={"items": items}, timeout=30))

    t = threading.Thread(target=send)
    t.start()
    return t


def test_burst_past_a_queue_of_one_gets_429_with_retry_after(fake) -> None:
    fake.hold.update({"r0", "r1"})
    srv = InProcessServer(fake, workers=1, max_queue=1)
    try:
        got: list[httpx.Response] = []
        threads = [_post_in_thread(srv, [item("r0")], got)]
        fake.wait_entered("r0")  # r0 running in the fake Lean
        threads.append(_post_in_thread(srv, [item("r1")], got))
        srv.wait_admitted(2)  # r1 queued: the server is full
        burst = [
            httpx.post(srv.url + "/v1/verify", json={"items": [item(f"b{i}")]}) for i in range(5)
        ]
        assert [b.status_code for b in burst] == [429] * 5
        assert all(b.headers["retry-after"] == "2" for b in burst)
        fake.release.set()
        for t in threads:
            t.join(30)
        assert [r.status_code for r in got] == [200, 200]
        assert [r.json()["results"][0]["verdict"] for r in got] == ["proved", "proved"]
        assert fake.seen == ["r0", "r1"]  # nothing refused was run
    finally:
        srv.stop()


def test_oversized_request_gets_413(fake) -> None:
    srv = InProcessServer(fake, max_body_bytes=1000, max_items=2)
    try:
        big = httpx.post(
            srv.url + "/v1/verify", json={"items": [item("a", " trivial" + " " * 2000)]}
        )
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        many = httpx.post(srv.url + "/v1/verify", json={"items": [item(str(i)) for i in range(3)]})
        assert many.status_code == 413
        snippets = [{"id": str(i), "code": "theorem t : True := trivial"} for i in range(3)]
        assert httpx.post(srv.url + "/api/check", json={"snippets": snippets}).status_code == 413
        assert fake.seen == []
    finally:
        srv.stop()


def _raw_post(url: str, body: dict) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    data = json.dumps(body).encode()
    s.sendall(
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return s


def test_client_that_disconnects_frees_its_slot(fake) -> None:
    fake.hold.add("r0")
    srv = InProcessServer(fake, workers=1, max_queue=1)
    try:
        got: list[httpx.Response] = []
        running = _post_in_thread(srv, [item("r0")], got)
        fake.wait_entered("r0")
        gone = _raw_post(srv.url, {"items": [item("gone")]})  # queued behind r0: server full
        srv.wait_admitted(2)
        assert httpx.post(srv.url + "/v1/verify", json={"items": [item("x")]}).status_code == 429
        gone.close()  # the client goes away
        srv.wait_admitted(1)  # its slot is free: only r0 is left
        assert srv.server.app.state.dispatcher.queued == 0
        later = _post_in_thread(srv, [item("later")], got)
        srv.wait_admitted(2)  # admitted, not 429
        fake.release.set()
        running.join(30)
        later.join(30)
        assert [r.status_code for r in got] == [200, 200]
        assert "gone" not in fake.started  # its work never ran
        assert fake.seen == ["r0", "later"]
        assert "prover_client_disconnects_total 1" in httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()


def test_shutdown_answers_running_items_and_returns_queued_ones(fake) -> None:
    fake.hold.add("run")
    srv = InProcessServer(fake, workers=1, max_queue=4)
    got: list[httpx.Response] = []
    t = _post_in_thread(srv, [item("run"), item("q1"), item("q2")], got)
    fake.wait_entered("run")
    srv.wait_admitted(3)
    stopper = threading.Thread(target=srv.stop)
    stopper.start()  # SIGTERM: drain
    srv.wait_admitted(1)  # the queued items are cancelled; "run" is still in the fake Lean
    fake.release.set()  # the running item finishes
    t.join(30)
    stopper.join(30)
    assert not srv.thread.is_alive()
    (resp,) = got
    assert resp.status_code == 200
    verdicts = {x["id"]: (x["verdict"], x.get("reason", "")) for x in resp.json()["results"]}
    assert verdicts["run"][0] == "proved"  # answered
    for q in ("q1", "q2"):  # returned, not lost: the client resubmits them
        assert verdicts[q][0] == "error" and "shutting down" in verdicts[q][1]
    assert fake.started == ["run"]


def test_api_key_is_required_when_set(fake) -> None:
    srv = InProcessServer(fake, api_key="s3cret")
    try:
        assert httpx.post(srv.url + "/v1/verify", json={"items": [item("a")]}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.post(srv.url + "/api/check", json={}, headers=wrong).status_code == 401
        assert httpx.get(srv.url + "/metrics").status_code == 401
        ok = httpx.post(
            srv.url + "/v1/verify",
            json={"items": [item("a")]},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert ok.status_code == 200
        for key, status in (("s3cret", 200), ("nope", 401)):  # the other header clients use
            r = httpx.post(
                srv.url + "/v1/verify", json={"items": [item("k")]}, headers={"X-API-Key": key}
            )
            assert r.status_code == status
        assert httpx.get(srv.url + "/health").status_code == 200  # for load balancers
    finally:
        srv.stop()


def test_non_local_bind_needs_a_key(monkeypatch) -> None:
    from prover.service.config import ServeConfig

    monkeypatch.delenv("PROVER_API_KEY", raising=False)
    with pytest.raises(ValueError, match="api-key"):
        ServeConfig(host="0.0.0.0")
    monkeypatch.setenv("PROVER_API_KEY", "k")
    assert ServeConfig(host="0.0.0.0").api_key == "k"


def test_http_checker_is_a_checker(fake) -> None:
    from prover.lean.wrappers import uncached
    from prover.service import open_checker

    srv = InProcessServer(fake, max_items=2)
    try:
        checker = open_checker(srv.url)
        assert checker.name == "embedded"
        reqs = [
            CheckRequest(STATEMENT, p, id=str(i))
            for i, p in enumerate([" trivial", " sorry", " x"])
        ]
        res = checker.check(reqs)  # two requests of max_items=2
        assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.INCOMPLETE, Verdict.FAILED]
        assert uncached(checker).check(reqs[:1])[0].cached is False
        checker.close()
    finally:
        srv.stop()


def test_answers_travel_through_the_service(fake) -> None:
    """`answers` of a request reach the server's checker as they left the client."""
    from prover.service import open_checker

    srv = InProcessServer(fake)
    try:
        req = CheckRequest(
            "theorem t : x_solution = 6 :=",
            " rfl",
            "abbrev x_solution : Nat := sorry\n",
            id="a",
            header_trusted=True,
            answers=(("x_solution", "6"),),
        )
        checker = open_checker(srv.url)
        assert checker.check([req])[0].verdict is Verdict.PROVED
        checker.close()
        (got,) = fake.requests
        assert got.answers == req.answers and got.header_trusted
        bad = {**ITEM, "answers": {"x_solution": 6}}
        assert httpx.post(srv.url + "/v1/verify", json={"items": [bad]}).status_code == 422
    finally:
        srv.stop()


def test_kimina_snippets_map_to_items() -> None:
    from prover.service.kimina import SnippetError, snippet_items

    code = "import Foo\nopen Nat\n\ntheorem a (n : Nat) : n = n := by\n  rfl\n\nlemma b : True := trivial\n"
    items = snippet_items(code, "s", 10.0)
    assert [i.request.formal_statement for i in items] == [
        "theorem a (n : Nat) : n = n :=",
        "lemma b : True :=",
    ]
    assert items[0].request.header == "import Foo\nopen Nat\n\n"
    assert items[0].request.proof == " by\n  rfl"
    assert (items[0].line0, items[0].col0) == (4, 30)
    assert not items[0].request.header_trusted
    with pytest.raises(SnippetError):
        snippet_items("#check Nat", "s", 10.0)
    (d,) = snippet_items(
        "theorem c (h : ∀ x : Nat, x = x := fun _ => rfl) : True := trivial", "s", None
    )
    assert d.request.proof == " trivial"


# ---- HTTPChecker under 429 / 503 / 504 and with an API key ------------------------------------


def test_http_checker_waits_out_a_full_server(fake, monkeypatch) -> None:
    """A 429 is retried after the server's own Retry-After; the retry is answered."""
    import prover.service.client as client
    from prover.service import open_checker

    fake.hold.add("h")
    srv = InProcessServer(fake, workers=1, max_queue=0, retry_after_s=7)
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the client's wait: the held item finishes meanwhile
        slept.append(seconds)
        fake.release.set()
        srv.wait_admitted(0)

    monkeypatch.setattr(client.time, "sleep", sleep)
    try:
        got: list[httpx.Response] = []
        holder = _post_in_thread(srv, [item("h")], got)
        fake.wait_entered("h")  # the server is full
        checker = open_checker(srv.url)
        (res,) = checker.check([CheckRequest(STATEMENT, " trivial", id="c")])
        holder.join(30)
        checker.close()
        assert res.verdict is Verdict.PROVED and slept == [7.0]
        assert fake.seen == ["h", "c"]
    finally:
        srv.stop()


HEALTH = {"backend": "embedded", "lean_version": "4.x", "toolchain": "t", "max_items": 8}


def _scripted_checker(monkeypatch, answers: list[httpx.Response], **options):  # noqa: ANN202
    """An HTTPChecker whose server answers the posts with `answers` in order (httpx's mock
    transport); returns it, the requests it sent and the seconds it slept."""
    import prover.service.client as client

    sent: list[httpx.Request] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/health":
            return httpx.Response(200, json=HEALTH)
        return answers.pop(0)

    monkeypatch.setattr(
        httpx, "Client", functools.partial(httpx.Client, transport=httpx.MockTransport(handler))
    )
    monkeypatch.setattr(client.time, "sleep", slept.append)
    return client.HTTPChecker("http://server:1", **options), sent, slept


def _ok(verdict: str = "proved") -> httpx.Response:
    return httpx.Response(200, json={"results": [{"id": "a", "verdict": verdict}]})


REQ = CheckRequest(STATEMENT, " trivial", id="a")


@pytest.mark.parametrize("status", [429, 503])
def test_http_checker_retries_429_and_503_after_retry_after(monkeypatch, status: int) -> None:
    busy = httpx.Response(status, headers={"Retry-After": "3"}, json={"detail": "busy"})
    checker, sent, slept = _scripted_checker(monkeypatch, [busy, _ok()])
    (res,) = checker.check([REQ])
    assert res.verdict is Verdict.PROVED and res.backend == "embedded"
    assert slept == [3.0] and [r.url.path for r in sent] == ["/health", "/v1/verify", "/v1/verify"]


def test_http_checker_does_not_retry_a_504(monkeypatch) -> None:
    # the server gave up on the request (its items are cancelled): an infrastructure failure
    late = httpx.Response(504, json={"detail": "request not done in 600 s; items cancelled"})
    checker, sent, slept = _scripted_checker(monkeypatch, [late, _ok()])
    with pytest.raises(LeanInfraError, match="HTTP 504 .*items cancelled"):
        checker.check([REQ])
    assert slept == [] and len(sent) == 2


def test_http_checker_gives_up_after_its_patience(monkeypatch) -> None:
    busy = httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "queue full"})
    checker, _, slept = _scripted_checker(monkeypatch, [busy], patience_s=0.0)
    with pytest.raises(LeanInfraError, match="HTTP 429 .*queue full"):
        checker.check([REQ])
    assert slept == []


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("-5", 0.0), ("soon", 1.0), ("", 1.0), (None, 1.0)],
)
def test_http_checker_reads_any_retry_after(monkeypatch, retry_after, wait: float) -> None:
    # a proxy in front of the server may send an HTTP date (RFC 9110; this one is past), or
    # nothing usable (then 1 s)
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    checker, _, slept = _scripted_checker(
        monkeypatch, [httpx.Response(503, headers=headers), _ok()]
    )
    (res,) = checker.check([REQ])
    assert res.verdict is Verdict.PROVED and slept == [wait]


def test_http_checker_sends_its_api_key(fake, monkeypatch) -> None:
    from prover.service.client import HTTPChecker

    srv = InProcessServer(fake, api_key="s3cret")
    try:
        monkeypatch.delenv("PROVER_API_KEY", raising=False)
        with pytest.raises(LeanInfraError, match="HTTP 401"):
            HTTPChecker(srv.url).check([REQ])  # /health is open, /v1/verify is not
        with pytest.raises(LeanInfraError, match="HTTP 401"):
            HTTPChecker(srv.url, api_key="nope").check([REQ])
        (res,) = HTTPChecker(srv.url, api_key="s3cret").check([REQ])
        assert res.verdict is Verdict.PROVED
        monkeypatch.setenv("PROVER_API_KEY", "s3cret")  # what `--checker URL` uses
        (res,) = HTTPChecker(srv.url).check([REQ])
        assert res.verdict is Verdict.PROVED
    finally:
        srv.stop()
