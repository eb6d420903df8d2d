"""`prover serve`: Lean verification over HTTP (our `/v1/verify` and the Kimina Lean Server API);
the options are the fields of `prover.service.config.ServeConfig`."""

from __future__ import annotations

import argparse
from typing import Any

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
    """`--checker URL` and the per-item limits (`checker_options`) for the commands that verify."""
    p.add_argument(
        "--checker",
        metavar="URL",
        help="verify with a running `prover serve` at http://HOST:PORT instead of local Lean "
        "processes (--backend is then the server's); key: $PROVER_API_KEY",
    )
    g = p.add_argument_group("Lean limits per item (each result records the limit that stopped it)")
    g.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="wall-clock limit per proof; past it the checker process is killed and a warm spare "
        "takes the next proof (default: 60 embedded, 120 native)",
    )
    g.add_argument(
        "--heartbeats",
        type=int,
        help="Lean's maxHeartbeats per proof, the limit Lean stops an item at itself "
        "(default: 200000, Lean's own default)",
    )
    g.add_argument(
        "--spare-processes",
        type=int,
        metavar="N",
        help="warm checker processes kept beside the working ones, so a killed process costs "
        "its item's limit and not a start (~30 s embedded); each is a resident process "
        "(~3 GB embedded) (default: 1)",
    )


# the `add_checker_option` options -> `CheckerConfig` fields
_LIMITS = {"timeout": "timeout_s", "heartbeats": "heartbeats", "spare_processes": "spare_processes"}


def checker_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `CheckerConfig` fields the user gave (`--timeout`, `--heartbeats`,
    `--spare-processes`), validated by `CheckerConfig` (UsageError naming the option).  With
    `--checker URL` only `--timeout` applies (a client-side limit per item); the others are the
    server's (`prover serve --heartbeats ...`)."""
    given = {
        field: getattr(args, dest)
        for dest, field in _LIMITS.items()
        if getattr(args, dest, None) is not None
    }
    if getattr(args, "checker", None):
        for dest, field in _LIMITS.items():
            if field in given and field != "timeout_s":
                flag = f"--{dest.replace('_', '-')}"
                raise UsageError(f"{flag} is the server's setting: give it to `prover serve`")
    from prover.lean.checker import CheckerConfig

    try:
        CheckerConfig(**given)
    except ValueError as exc:
        flags = ", ".join(f"--{d.replace('_', '-')}" for d, f in _LIMITS.items() if f in given)
        raise UsageError(f"{flags}: {exc}") from None
    return given
