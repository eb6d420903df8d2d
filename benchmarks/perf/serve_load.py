"""Load test of `prover serve`: K concurrent clients for T seconds against one server on this
machine (started here, `--workers N` Lean processes, bounded queue).

Each client loops: POST /v1/verify with one proof drawn from a fixed pool (proved, failed,
incomplete and rejected proofs of core-Lean statements, each made unique by a fresh theorem
name so no cache can answer), honouring 429 + Retry-After.  At the end it prints requests
served, verifications/s, p50/p99 latency, 429s, and checks that every answer matches the local
verdict of its proof (checked first, through the same server, one at a time) and that every
request id was answered exactly once (nothing lost or duplicated).

    python -m benchmarks.perf.serve_load --clients 8 --seconds 60 --workers 1 --max-queue 4
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx

POOL = [  # (statement template, proof, expected verdict)
    ("theorem {n} (a b : Nat) : a + b = b + a := by\n", "  omega\n", "proved"),
    ("theorem {n} (a b : Nat) : a + b = b + a := by\n", "  rfl\n", "failed"),
    ("theorem {n} (a : Nat) : a * 1 = a := by\n", "  sorry\n", "incomplete"),
    ("theorem {n} : 10 < 11 := by\n", "  native_decide\n", "rejected"),
    ("theorem {n} (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n", "  exact ⟨hp, hq⟩\n", "proved"),
    ("theorem {n} (n : Nat) : n + 0 = n := by\n", "  simp\n", "proved"),
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=1, help="Lean processes of the server")
    ap.add_argument("--max-queue", type=int, default=4)
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--url", help="use a running server instead of starting one")
    args = ap.parse_args()

    proc = None
    url = args.url
    if url is None:
        port = _port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "prover.cli", "serve", "--port", str(port)]
        cmd += [
            "--workers",
            str(args.workers),
            "--max-queue",
            str(args.max_queue),
            "--backend",
            args.backend,
        ]
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
    try:
        client = httpx.Client(timeout=600)
        t0 = time.monotonic()
        # local verdicts (and warm-up: the first request waits for Lean to start)
        local = []
        for k, (stmt, proof, want) in enumerate(POOL):
            r = client.post(
                url + "/v1/verify",
                json={
                    "items": [
                        {"id": f"w{k}", "formal_statement": stmt.format(n=f"w{k}"), "proof": proof}
                    ]
                },
            )
            local.append(r.json()["results"][0]["verdict"])
            assert local[-1] == want, (k, local[-1], want)
        print(
            f"warm-up (Lean start + {len(POOL)} checks): {time.monotonic() - t0:.1f} s", flush=True
        )

        lock = threading.Lock()
        latencies: list[float] = []
        answered: Counter[str] = Counter()
        sent: set[str] = set()
        mismatches: list[str] = []
        statuses: Counter[int] = Counter()
        stop = time.monotonic() + args.seconds

        def worker(c: int) -> None:
            http = httpx.Client(timeout=600)
            i = 0
            while time.monotonic() < stop:
                k = (c + i) % len(POOL)
                rid = f"c{c}-{i}"
                stmt, proof, _ = POOL[k]
                body = {
                    "items": [
                        {"id": rid, "formal_statement": stmt.format(n=f"t_{c}_{i}"), "proof": proof}
                    ]
                }
                t = time.monotonic()
                r = http.post(url + "/v1/verify", json=body)
                with lock:
                    statuses[r.status_code] += 1
                if r.status_code in (429, 503):
                    time.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                dt = time.monotonic() - t
                res = r.json()["results"]
                with lock:
                    sent.add(rid)
                    latencies.append(dt)
                    for x in res:
                        answered[x["id"]] += 1
                        if x["verdict"] != local[k]:
                            mismatches.append(f"{x['id']}: {x['verdict']} != {local[k]}")
                i += 1

        t1 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t1
        lost = sorted(sent - set(answered))
        dup = sorted(i for i, n in answered.items() if n > 1)
        lat = sorted(latencies)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")  # noqa: E731
        print(
            f"clients={args.clients} seconds={args.seconds:g} workers={args.workers} max_queue={args.max_queue}"
        )
        print(
            f"requests served: {len(latencies)} in {wall:.1f} s = {len(latencies) / wall:.2f} verifications/s "
            f"({len(latencies) / wall / args.workers:.2f} per Lean process)"
        )
        print(
            f"latency p50={p(0.5) * 1000:.0f} ms p99={p(0.99) * 1000:.0f} ms mean={statistics.mean(lat) * 1000 if lat else 0:.0f} ms"
        )
        print(
            f"429s: {statuses.get(429, 0)}  503s: {statuses.get(503, 0)}  statuses: {dict(statuses)}"
        )
        print(
            f"verdicts matching local: {len(latencies) - len(mismatches)}/{len(latencies)}; lost: {len(lost)}; duplicated: {len(dup)}"
        )
        ok = not mismatches and not lost and not dup
        print("OK" if ok else f"MISMATCH {mismatches[:5]} lost={lost[:5]} dup={dup[:5]}")
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(120)


if __name__ == "__main__":
    sys.exit(main())
