"""`prove`/`eval` search options: RMaxTS width, ablation switches, tree checkpoints (no Lean).
The options come from the search configs' fields (`prover.commands.options`)."""

from __future__ import annotations

import argparse

import pytest

from prover.commands.options import add_search_options, build_search
from prover.errors import UsageError


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--search", default="rmaxts")
    add_search_options(p)
    return p.parse_args(list(argv))


def test_defaults_record_nothing() -> None:
    built = build_search(_args())
    assert built.options == {}
    cfg = built.search.config
    assert cfg.state_comment and cfg.discounted_ucb and cfg.intrinsic_reward
    assert cfg.concurrency == 32


def test_ablations_and_width_reach_the_config() -> None:
    built = build_search(
        _args("--no-state-comment", "--ucb1", "--no-intrinsic-reward", "--concurrency", "4")
    )
    assert built.options == {
        "concurrency": 4,
        "state_comment": False,
        "discounted_ucb": False,
        "intrinsic_reward": False,
    }
    cfg = built.search.config
    assert (cfg.concurrency, cfg.state_comment, cfg.discounted_ucb, cfg.intrinsic_reward) == (
        4,
        False,
        False,
        False,
    )
    # --no-discounted-ucb is --ucb1; the positive forms switch the ablations off again
    assert build_search(_args("--no-discounted-ucb")).options == {"discounted_ucb": False}
    assert build_search(_args("--ucb1", "--discounted-ucb", "--state-comment")).options == {}


def test_sampling_options_reach_every_search() -> None:
    for name in ("rmaxts", "sample", "bfs"):
        built = build_search(_args("--search", name, "--temperature", "0.5", "--top-p", "0.9"))
        assert built.options == {"sampling": {"temperature": 0.5, "top_p": 0.9}}
        assert (built.search.config.sampling.temperature, built.search.config.sampling.top_p) == (
            0.5,
            0.9,
        )
    # each search keeps its own default for what is not given (bfs: short tactic steps)
    assert build_search(_args("--search", "bfs")).search.config.sampling.max_new_tokens == 256


def test_rmaxts_options_refused_for_other_searches() -> None:
    with pytest.raises(UsageError, match=r"--ucb1, --tree-dir only apply to --search rmaxts"):
        build_search(_args("--search", "sample", "--ucb1", "--tree-dir", "t"))
    with pytest.raises(UsageError, match="--concurrency: concurrency must be >= 1"):
        build_search(_args("--concurrency", "0"))


def test_subgoal_cache_is_part_of_the_recorded_configuration(tmp_path) -> None:
    from benchmarks.report import render_report
    from benchmarks.results import EvalConfig
    from search.base import Budget

    sketch = ("--search", "decompose", "--sketch-policy", "replay:s.jsonl")
    off = build_search(_args(*sketch))
    assert off.search.config.cache_dir() is None  # no cache unless asked for
    assert "subgoal_cache" not in off.options
    assert "subgoal_cache" not in build_search(_args(*sketch, "--subgoal-cache", "off")).options
    on = build_search(_args(*sketch, "--subgoal-cache", str(tmp_path)))
    assert on.options["subgoal_cache"] == str(tmp_path)  # recorded: results may depend on it
    config = EvalConfig("automation", "decompose", Budget(1, 4), search_options=on.options)
    assert config.to_json()["extra"]["search_options"]["subgoal_cache"] == str(tmp_path)
    summary = {
        "config": config.to_json(), "wilson95": [0.0, 1.0], "problems": 0, "solved": 0,
        "pass_rate": 0.0, "samples_total": 0, "wall_s_total": 0.0, "budget": {},
    }  # fmt: skip
    assert str(tmp_path) in render_report(summary, [])
