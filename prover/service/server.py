"""Running the app: uvicorn with a graceful shutdown that drains the queue."""

from __future__ import annotations

import sys
from typing import Any

from prover.lean.types import Checker
from prover.service.config import ServeConfig


def make_server(checker: Checker, config: ServeConfig, log_level: str = "warning") -> Any:
    """A `uvicorn.Server` for the app over `checker`.  On SIGTERM/SIGINT (or `handle_exit`) the
    app starts draining at once (new requests 503, items not started returned), uvicorn stops
    accepting and waits up to `graceful_s` for the requests in flight."""
    import uvicorn

    from prover.service.app import create_app

    app = create_app(checker, config)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.drain()
            super().handle_exit(sig, frame)
            # uvicorn re-raises a captured signal after its shutdown, which would kill the process
            # before `serve` closes the Lean processes; the shutdown is complete without it
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    uv = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        timeout_graceful_shutdown=max(1, round(config.graceful_s)),
        access_log=False,
        lifespan="off",
    )
    server = _Server(uv)
    server.app = app  # type: ignore[attr-defined]
    return server


def serve(config: ServeConfig) -> int:
    """`prover serve`: start `config.workers` Lean processes, serve until a signal, then drain
    and stop them."""
    from prover.lean import make_checker

    # no result cache: every verdict a client gets comes from Lean now
    checker = make_checker(
        config.backend,
        cache=False,
        workers=config.workers,
        timeout_s=config.timeout_s,
        heartbeats=config.heartbeats,
        spare_processes=config.spare_processes,
        screen=config.screen,
    )
    try:
        server = make_server(checker, config, log_level="info")
        print(
            f"prover serve: {config.workers} {checker.name} Lean process(es) on "
            f"http://{config.host}:{config.port} (POST /v1/verify, /api/check, /verify; GET "
            "/health, /metrics)",
            file=sys.stderr,
            flush=True,
        )
        server.run()
        server.app.state.dispatcher.close()
    finally:
        checker.close()
    print("prover serve: stopped", file=sys.stderr, flush=True)
    return 0
