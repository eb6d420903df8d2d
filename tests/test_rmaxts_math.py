"""UCB / discount / virtual-loss arithmetic of RMaxTS against hand-computed values."""

from __future__ import annotations

import math

import pytest

from prover.policy.base import Sampling
from search.bfs import BFSConfig
from search.rmaxts import RMaxTSConfig
from search.tree import SearchTree, discounted_update, ucb_score, virtual_loss
from search.truncate import Segment


def test_discounted_update_literal():
    # W <- 0.99 * 2 + 1 = 2.98 ; N <- 0.99 * 3 + 1 = 3.97
    assert discounted_update(2.0, 3.0, 1.0, 0.99) == pytest.approx((2.98, 3.97))
    # reward 0: W <- 0.99 * 0.5 = 0.495 ; N <- 0.99 * 0 + 1 = 1
    assert discounted_update(0.5, 0.0, 0.0, 0.99) == pytest.approx((0.495, 1.0))
    # gamma = 1 (plain UCB1 counts): plain sums
    assert discounted_update(2.0, 3.0, 1.0, 1.0) == (3.0, 4.0)


def test_virtual_loss_literal():
    # j = 0: unchanged
    assert virtual_loss(1.5, 2.0, 0, 0.99) == pytest.approx((1.5, 2.0))
    # j = 2: W * 0.9801 = 1.9602 ; N * 0.9801 + (1 - 0.9801) / 0.01 = 2.9403 + 1.99 = 4.9303
    assert virtual_loss(2.0, 3.0, 2, 0.99) == pytest.approx((1.9602, 4.9303))
    # equals two discounted updates with reward 0
    w, n = discounted_update(*discounted_update(2.0, 3.0, 0.0, 0.99), 0.0, 0.99)
    assert (w, n) == pytest.approx((1.9602, 4.9303))
    # gamma = 1: N + j
    assert virtual_loss(2.0, 3.0, 3, 1.0) == (2.0, 6.0)


def test_ucb_score_literal():
    # 1/2 + sqrt(2 ln 4 / 2) = 0.5 + sqrt(1.3862943611) = 0.5 + 1.1774100225 = 1.6774100225
    assert ucb_score(1.0, 2.0, 4.0) == pytest.approx(1.6774100225)
    # unvisited: N -> 0.01, T -> max(T, 2) = 2: 0 + sqrt(2 ln 2 / 0.01) = sqrt(138.62943611)
    assert ucb_score(0.0, 0.0, 0.0) == pytest.approx(11.774100225)
    # T < 2 is clamped to 2
    assert ucb_score(0.0, 1.0, 1.0) == pytest.approx(math.sqrt(2 * math.log(2)))


def _seg(goal: str) -> Segment:
    return Segment(prefix=f"\n  tac_{goal}\n", goals=goal, comment="", indent=2)


def test_reward_goes_to_own_and_all_subtree_stats():
    tree = SearchTree("G0", gamma=0.99)
    (a,) = tree.insert([_seg("A")])
    b = tree.insert([_seg("A"), _seg("B")])[-1]
    tree.start_job(b)
    assert (b.pending, b.pending_sub, a.pending, a.pending_sub, tree.root.pending_sub) == (
        1,
        1,
        0,
        1,
        1,
    )
    tree.update_reward(b, 1.0)
    tree.complete_job(b)
    assert (b.w, b.n, b.w_sub, b.n_sub) == (1.0, 1.0, 1.0, 1.0)
    assert (a.w, a.n, a.w_sub, a.n_sub) == (0.0, 0.0, 1.0, 1.0)  # own stats untouched
    assert (tree.root.w, tree.root.n, tree.root.w_sub, tree.root.n_sub) == (0.0, 0.0, 1.0, 1.0)
    assert tree.root.pending_sub == 0 and b.pending == 0
    # second reward 0 at the root: root own (0*0.99+0, 0*0.99+1) = (0, 1); subtree (0.99, 1.99)
    tree.update_reward(tree.root, 0.0)
    assert (tree.root.w, tree.root.n) == pytest.approx((0.0, 1.0))
    assert (tree.root.w_sub, tree.root.n_sub) == pytest.approx((0.99, 1.99))


def test_selection_ties_favour_expand_here_then_insertion_order():
    tree = SearchTree("G0", gamma=0.99)
    assert tree.select() is tree.root  # no children: expand the root
    tree.complete_job(tree.root)
    tree.insert([_seg("A")])
    tree.insert([_seg("B")])
    # all stats zero: every score = 0 + sqrt(2 ln 2 / 0.01) -> tie -> expand here
    assert tree.choose(tree.root) is None
    # root visited once with reward 0: root own = 0 + sqrt(2 ln 2 / 1) = 1.1774;
    # children (unvisited) = sqrt(2 ln 2 / 0.01) = 11.774 -> first child A (insertion order)
    tree.update_reward(tree.root, 0.0)
    chosen = tree.choose(tree.root)
    assert chosen is not None and chosen.goal == "A"


def test_selection_scores_literal_and_virtual_loss_spreads_jobs():
    tree = SearchTree("G0", gamma=0.99)
    a = tree.insert([_seg("A")])[0]
    c = tree.insert([_seg("C")])[0]
    root = tree.root
    root.w, root.n = 0.0, 2.0
    a.w_sub, a.n_sub = 1.0, 1.0
    c.w_sub, c.n_sub = 0.0, 1.0
    # T = 2 + 1 + 1 = 4; root: 0 + sqrt(2 ln 4 / 2) = 1.1774; A: 1 + sqrt(2 ln 4 / 1) = 2.6651;
    # C: 0 + 1.6651 = 1.6651 -> A
    assert ucb_score(1.0, 1.0, 4.0) == pytest.approx(2.6651092223)
    assert tree.choose(root) is a
    # A has no children: selecting it expands A and applies one virtual loss on its subtree
    # action: W = 0.99, N = 0.99 + 1 = 1.99; T = 2 + 1.99 + 1 = 4.99
    # A: 0.99/1.99 + sqrt(2 ln 4.99 / 1.99) = 0.497487 + 1.271029 = 1.768516
    # C: 0 + sqrt(2 ln 4.99 / 1) = 1.793006 -> C wins next
    assert tree.select() is a
    w, n = a.subtree_stats(0.99)
    assert (w, n) == pytest.approx((0.99, 1.99))
    assert ucb_score(w, n, 4.99) == pytest.approx(1.768516, abs=1e-6)
    assert ucb_score(0.0, 1.0, 4.99) == pytest.approx(1.793006, abs=1e-6)
    assert tree.choose(root) is c


def test_config_validation():
    assert RMaxTSConfig().effective_gamma == 0.99
    assert RMaxTSConfig(discounted_ucb=False).effective_gamma == 1.0
    with pytest.raises(ValueError, match="concurrency"):
        RMaxTSConfig(concurrency=0)
    with pytest.raises(ValueError, match="gamma"):
        RMaxTSConfig(gamma=0.0)
    with pytest.raises(ValueError, match="max_prefix_tokens"):
        RMaxTSConfig(max_prefix_tokens=0)
    with pytest.raises(ValueError, match="checkpoint_every"):
        RMaxTSConfig(checkpoint_every=0)
    with pytest.raises(ValueError, match="top_p"):
        RMaxTSConfig(sampling=Sampling(top_p=0.0))
    with pytest.raises(ValueError, match="unknown sampling field"):
        RMaxTSConfig(sampling={"temprature": 0.5})  # type: ignore[arg-type]
    # a recorded config's sampling dict overrides the search's own defaults (bfs: 256 tokens)
    bfs = BFSConfig(sampling={"temperature": 0.5})  # type: ignore[arg-type]
    assert bfs.sampling == Sampling(temperature=0.5, top_p=0.95, max_new_tokens=256)
