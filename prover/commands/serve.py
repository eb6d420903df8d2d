"""`prover serve`: Lean verification over HTTP (our `/v1/verify` and the Kimina Lean Server API);
the options are the fields of `prover.service.config.ServeConfig`."""

from __future__ import annotations

import argparse

from prover.commands.options import add_serve_options, build_serve
from prover.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve Lean verification over HTTP (Kimina-compatible)",
        description=(
            "Endpoints: POST /v1/verify ({items: [{id, header, formal_statement, proof, ...}], "
            "steps} -> {results: [verdicts as `prover verify` writes them]}); POST /api/check "
            "and /verify (the Kimina Lean Server API: kimina-client works unchanged); GET "
            "/health; GET /metrics (Prometheus).  Clients: --checker http://HOST:PORT on prove, "
            "eval, collect and verify.  Needs the `serve` extra (fastapi, uvicorn)."
        ),
    )
    add_serve_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = build_serve(args)
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError(
            "prover serve needs the `serve` extra: pip install 'lean-prover[serve]'"
        ) from None
    from prover.service.server import serve

    return serve(config)


def add_checker_option(p: argparse.ArgumentParser) -> None:
    """`--checker URL` (and `--api-key`) for the commands that verify."""
    p.add_argument(
        "--checker",
        metavar="URL",
        help="verify with a running `prover serve` at http://HOST:PORT instead of local Lean "
        "processes (--backend is then the server's); key: $PROVER_API_KEY",
    )
