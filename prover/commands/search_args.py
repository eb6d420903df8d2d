"""Search options shared by `prover prove` and `prover eval`: RMaxTS's width, its ablation
switches (Sec. 3 of DeepSeek-Prover-V1.5) and tree checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prover.errors import UsageError

_ABLATIONS = ("no_state_comment", "ucb1", "no_intrinsic_reward")


def add_search_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("RMaxTS (--search rmaxts)")
    g.add_argument("--concurrency", type=int, help="expansions in flight per tree (default 32)")
    g.add_argument(
        "--tree-dir",
        type=Path,
        help="checkpoint each tree here (atomically, every --checkpoint-every samples and at "
        "the end); the same command resumes from it after a crash or Ctrl-C; draw a tree with "
        "`prover tree show DIR/rmaxts-<name>-<hash>.run0.json`",
    )
    g.add_argument("--checkpoint-every", type=int, help="samples between checkpoints (128)")
    g.add_argument(
        "--no-state-comment",
        action="store_true",
        help="ablation: resume from the prefix without its tactic-state comment",
    )
    g.add_argument(
        "--ucb1", action="store_true", help="ablation: plain UCB1 instead of discounted UCB"
    )
    g.add_argument(
        "--no-intrinsic-reward",
        action="store_true",
        help="ablation: no R-max novelty reward (plain UCT with the sparse proof reward)",
    )


def search_from_args(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(the `Search` the options ask for, the config fields they set; defaults are left out so
    a run's recorded config only shows what differs).  UsageError for options that do not
    apply or are out of range."""
    from search import get_search

    set_flags = [a for a in _ABLATIONS if getattr(args, a)]
    set_values = [a for a in ("concurrency", "checkpoint_every") if getattr(args, a) is not None]
    config: dict[str, Any] = {}
    if args.search != "rmaxts":
        given = set_flags + set_values + (["tree_dir"] if args.tree_dir is not None else [])
        if given:
            opts = ", ".join(f"--{a.replace('_', '-')}" for a in given)
            verb = "applies" if len(given) == 1 else "apply"
            raise UsageError(f"{opts} only {verb} to --search rmaxts")
    else:
        config.update({a: getattr(args, a) for a in set_values})
        fields = {
            "no_state_comment": "state_comment",
            "ucb1": "discounted_ucb",
            "no_intrinsic_reward": "intrinsic_reward",
        }
        config.update({fields[a]: False for a in set_flags})
    try:
        return get_search(args.search, **config), config
    except ValueError as exc:
        raise UsageError(f"search options: {exc}") from None
