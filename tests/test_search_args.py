"""`prove`/`eval` search options: RMaxTS width, ablation switches, tree checkpoints (no Lean)."""

from __future__ import annotations

import argparse

import pytest

from prover.commands.search_args import add_search_args, search_from_args
from prover.errors import UsageError


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--search", default="rmaxts")
    add_search_args(p)
    return p.parse_args(list(argv))


def test_defaults_record_nothing() -> None:
    search, options = search_from_args(_args())
    assert options == {}
    cfg = search.config
    assert cfg.state_comment and cfg.discounted_ucb and cfg.intrinsic_reward
    assert cfg.concurrency == 32


def test_ablations_and_width_reach_the_config() -> None:
    search, options = search_from_args(
        _args("--no-state-comment", "--ucb1", "--no-intrinsic-reward", "--concurrency", "4")
    )
    assert options == {
        "concurrency": 4,
        "state_comment": False,
        "discounted_ucb": False,
        "intrinsic_reward": False,
    }
    cfg = search.config
    assert (cfg.concurrency, cfg.state_comment, cfg.discounted_ucb, cfg.intrinsic_reward) == (
        4,
        False,
        False,
        False,
    )


def test_rmaxts_options_refused_for_other_searches() -> None:
    with pytest.raises(UsageError, match=r"--ucb1, --tree-dir only apply to --search rmaxts"):
        search_from_args(_args("--search", "sample", "--ucb1", "--tree-dir", "t"))
    with pytest.raises(UsageError, match="concurrency must be >= 1"):
        search_from_args(_args("--concurrency", "0"))
