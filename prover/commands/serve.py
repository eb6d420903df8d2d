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


# `--heartbeats` of the searching commands (prove, eval, collect, audit) on embedded Lean when
# none is given: there `grind` can stop making progress past ~60000 heartbeats (its thread waits,
# so Lean's heartbeat check never runs again) and only the wall clock ends it, at the item's full
# limit; 20000 stops it inside Lean in seconds.  Measured (README "Where Lean time goes"): the
# minif2f-core test eval solves 35/68 either way, in 597 s instead of >2680 s.  `verify`,
# `serve` and native Lean keep Lean's default, 200000.
SEARCH_HEARTBEATS_EMBEDDED = 20_000


def add_checker_option(p: argparse.ArgumentParser, search: bool = False) -> None:
    """`--checker URL` and the per-item limits (`checker_options`) for the commands that verify;
    `search`: a command that searches (its `--heartbeats` default on embedded Lean is
    `SEARCH_HEARTBEATS_EMBEDDED`)."""
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
        + (
            f"(default: {SEARCH_HEARTBEATS_EMBEDDED} on embedded Lean, where a `grind` past "
            "~60000 can stall until the wall clock; 200000, Lean's own, on native)"
            if search
            else "(default: 200000, Lean's own default)"
        ),
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


def checker_options(args: argparse.Namespace, search: bool = False) -> dict[str, Any]:
    """The `CheckerConfig` fields the user gave (`--timeout`, `--heartbeats`,
    `--spare-processes`), validated by `CheckerConfig` (UsageError naming the option), plus,
    for a command that searches (`search`) on embedded Lean without `--heartbeats`,
    `SEARCH_HEARTBEATS_EMBEDDED`.  With `--checker URL` only `--timeout` applies (a client-side
    limit per item); the others are the server's (`prover serve --heartbeats ...`)."""
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
    # (`--ray`: the checkers are Ray actors with their own limits)
    remote = getattr(args, "checker", None) or getattr(args, "ray", None) is not None
    if search and "heartbeats" not in given and not remote:
        from prover.lean import resolve_backend

        try:
            embedded = resolve_backend(getattr(args, "backend", "auto")) == "embedded"
        except UsageError:  # no backend installed: opening the checker says so
            embedded = False
        if embedded:
            given["heartbeats"] = SEARCH_HEARTBEATS_EMBEDDED
    return given
