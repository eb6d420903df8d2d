"""`prover serve` without Lean: schema, limits, queue, disconnects, shutdown, auth (a fake checker
stands in for Lean; tests/test_serve_lean.py runs the real one)."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
from serve_util import FakeChecker, InProcessServer

from prover.lean.types import CheckRequest, Verdict

ITEM = {"id": "a", "formal_statement": "theorem t : True :=", "proof": " trivial"}


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


def test_burst_past_a_queue_of_one_gets_429_with_retry_after(fake) -> None:
    srv = InProcessServer(fake, workers=1, max_queue=1)
    try:
        results: dict[str, httpx.Response] = {}

        def send(name: str) -> None:
            results[name] = httpx.post(
                srv.url + "/v1/verify", json={"items": [item(name, "block")]}, timeout=30
            )

        threads = [threading.Thread(target=send, args=(n,)) for n in ("r0", "r1")]
        for t in threads:
            t.start()
            time.sleep(0.3)  # r0 running, r1 queued: the server is full
        burst = [
            httpx.post(srv.url + "/v1/verify", json={"items": [item(f"b{i}")]}) for i in range(5)
        ]
        assert [b.status_code for b in burst] == [429] * 5
        assert all(b.headers["retry-after"] == "2" for b in burst)
        fake.release.set()
        for t in threads:
            t.join(30)
        assert results["r0"].status_code == results["r1"].status_code == 200
        assert not any(s.startswith("b") for s in fake.seen)  # nothing refused was run
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
    srv = InProcessServer(fake, workers=1, max_queue=1)
    try:
        running = threading.Thread(
            target=httpx.post,
            args=(srv.url + "/v1/verify",),
            kwargs={"json": {"items": [item("r0", "block")]}, "timeout": 30},
        )
        running.start()
        time.sleep(0.3)
        gone = _raw_post(srv.url, {"items": [item("gone")]})  # queued behind r0: server full
        time.sleep(0.3)
        assert httpx.post(srv.url + "/v1/verify", json={"items": [item("x")]}).status_code == 429
        gone.close()  # the client goes away
        deadline = time.monotonic() + 5
        while srv.server.app.state.dispatcher.queued and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.server.app.state.dispatcher.queued == 0  # its slot is free
        later = threading.Thread(
            target=httpx.post,
            args=(srv.url + "/v1/verify",),
            kwargs={"json": {"items": [item("later")]}, "timeout": 30},
        )
        later.start()  # admitted, not 429
        time.sleep(0.3)
        fake.release.set()
        running.join(30)
        later.join(30)
        assert "gone" not in fake.started  # its work never ran
        assert "later" in fake.seen
        assert "prover_client_disconnects_total 1" in httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()


def test_shutdown_answers_running_items_and_returns_queued_ones(fake) -> None:
    srv = InProcessServer(fake, workers=1, max_queue=4)
    got: list[httpx.Response] = []
    t = threading.Thread(
        target=lambda: got.append(
            httpx.post(
                srv.url + "/v1/verify",
                json={"items": [item("run", "block"), item("q1"), item("q2")]},
                timeout=30,
            )
        )
    )
    t.start()
    time.sleep(0.3)
    stopper = threading.Thread(target=srv.stop)
    stopper.start()  # SIGTERM: drain
    time.sleep(0.3)
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
            CheckRequest("theorem t : True :=", p, id=str(i))
            for i, p in enumerate([" trivial", " sorry", " x"])
        ]
        res = checker.check(reqs)  # two requests of max_items=2
        assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.INCOMPLETE, Verdict.PROVED]
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
