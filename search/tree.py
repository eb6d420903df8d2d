"""The RMaxTS search tree: nodes = tactic states, edges keyed by the child's goal string.

Holds the discounted statistics of the paper (Sec. 3.2-3.3) and the virtual-loss bookkeeping of
the reference implementation, plus JSON (de)serialization, networkx export and atomic checkpoint
I/O.  The search loop itself lives in `search/rmaxts.py`.

Per node two "actions" are tracked (reference `TreeNode`):
  * own    (W, N)         -- the "expand here" action, updated only when this node is expanded;
  * subtree (W_sub, N_sub) -- the "descend into this child" action seen from the parent, updated
                             when this node or any descendant is expanded.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.truncate import Segment

TREE_FORMAT = "rmaxts-tree/1"
MIN_VISITS = 1e-2  # max(N, 0.01) in the UCB denominator


# ---- the paper's equations, as pure functions (tested literally in tests/test_rmaxts_math.py) ----


def discounted_update(w: float, n: float, reward: float, gamma: float) -> tuple[float, float]:
    """Discounted UCB statistics (paper Eq. 7-8, reference `update_reward`):
    W <- gamma * W + r,  N <- gamma * N + 1."""
    return gamma * w + reward, gamma * n + 1.0


def virtual_loss(w: float, n: float, pending: int, gamma: float) -> tuple[float, float]:
    """Virtual loss for `pending` running expansions (reference `_update_value`): each pending
    job counts as a visit with reward 0, i.e. `pending` discounted updates with r = 0:
    W' = W * gamma^j,  N' = N * gamma^j + (1 - gamma^j) / (1 - gamma)   (= N + j when gamma = 1)."""
    g = gamma**pending
    extra = float(pending) if gamma == 1.0 else (1.0 - g) / (1.0 - gamma)
    return w * g, n * g + extra


def ucb_score(w: float, n: float, total: float) -> float:
    """UCB1 / discounted UCB (paper Eq. 6 with Eq. 7-8 statistics, reference `hoeffding_ucb`):
    W / max(N, 0.01) + sqrt(2 ln(max(T, 2)) / max(N, 0.01))."""
    n_ = max(n, MIN_VISITS)
    return w / n_ + math.sqrt(2.0 * math.log(max(total, 2.0)) / n_)


# ---- data structure ---------------------------------------------------------------------------


@dataclass
class Node:
    id: int
    parent: int | None
    depth: int
    goal: str  # the tactic state of this node (= the edge key from its parent)
    codes: list[tuple[str, str]] = field(default_factory=list)  # distinct (prefix, state comment)
    children: dict[str, int] = field(default_factory=dict)  # goal -> child id, insertion order
    w: float = 0.0
    n: float = 0.0
    w_sub: float = 0.0
    n_sub: float = 0.0
    expansions: int = 0  # raw (undiscounted) number of times this node was expanded
    visits: int = 0  # raw number of expansions in this subtree
    pending: int = 0  # running jobs expanding this node (not serialized; 0 at checkpoints)
    pending_sub: int = 0  # running jobs in this subtree

    def add_code(self, prefix: str, comment: str) -> None:
        if (prefix, comment) not in self.codes:
            self.codes.append((prefix, comment))

    def own_stats(self, gamma: float) -> tuple[float, float]:
        return virtual_loss(self.w, self.n, self.pending, gamma)

    def subtree_stats(self, gamma: float) -> tuple[float, float]:
        return virtual_loss(self.w_sub, self.n_sub, self.pending_sub, gamma)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "depth": self.depth,
            "goal": self.goal,
            "codes": [list(c) for c in self.codes],
            "children": dict(self.children),
            "w": self.w,
            "n": self.n,
            "w_sub": self.w_sub,
            "n_sub": self.n_sub,
            "expansions": self.expansions,
            "visits": self.visits,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> Node:
        return Node(
            id=int(d["id"]),
            parent=d["parent"],
            depth=int(d["depth"]),
            goal=d["goal"],
            codes=[(c[0], c[1]) for c in d["codes"]],
            children={k: int(v) for k, v in d["children"].items()},
            w=float(d["w"]),
            n=float(d["n"]),
            w_sub=float(d["w_sub"]),
            n_sub=float(d["n_sub"]),
            expansions=int(d.get("expansions", 0)),
            visits=int(d.get("visits", 0)),
        )


class SearchTree:
    """A tree of tactic states with discounted-UCB selection and virtual loss."""

    def __init__(self, root_goal: str, gamma: float = 0.99, root_comment: str = "") -> None:
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.gamma = gamma
        self.root_goal = root_goal
        root = Node(id=0, parent=None, depth=0, goal=root_goal)
        root.add_code("", root_comment)
        self.nodes: list[Node] = [root]
        self.proof_path: list[int] = []  # node ids from root to the node of a found proof
        self.proof: str = ""

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def __len__(self) -> int:
        return len(self.nodes)

    def ancestors(self, node: Node) -> Iterable[Node]:
        """`node` itself, then its parent, ... up to the root."""
        cur: Node | None = node
        while cur is not None:
            yield cur
            cur = self.nodes[cur.parent] if cur.parent is not None else None

    # -- selection (paper Eq. 6; reference `_select_node`) --

    def choose(self, node: Node) -> Node | None:
        """The best action at `node`: None = expand `node` itself, else the child to descend to.
        Ties favour expanding here, then children in insertion order."""
        own_w, own_n = node.own_stats(self.gamma)
        child_stats = [
            (self.nodes[cid], *self.nodes[cid].subtree_stats(self.gamma))
            for cid in node.children.values()
        ]
        total = own_n + sum(n for _, _, n in child_stats)
        best: Node | None = None
        best_score = ucb_score(own_w, own_n, total)
        for child, w, n in child_stats:
            score = ucb_score(w, n, total)
            if score > best_score:
                best, best_score = child, score
        return best

    def select(self) -> Node:
        """Descend from the root by UCB until "expand here" wins, and start a job there."""
        node = self.root
        while node.children:
            nxt = self.choose(node)
            if nxt is None:
                break
            node = nxt
        self.start_job(node)
        return node

    def start_job(self, node: Node) -> None:
        node.pending += 1
        for a in self.ancestors(node):
            a.pending_sub += 1

    def complete_job(self, node: Node) -> None:
        node.pending -= 1
        for a in self.ancestors(node):
            a.pending_sub -= 1

    def update_reward(self, node: Node, reward: float) -> None:
        """Reference `update_reward`: own stats of the expanded node, subtree stats of it and all
        its ancestors (paper Eq. 7-8)."""
        node.w, node.n = discounted_update(node.w, node.n, reward, self.gamma)
        node.expansions += 1
        for a in self.ancestors(node):
            a.w_sub, a.n_sub = discounted_update(a.w_sub, a.n_sub, reward, self.gamma)
            a.visits += 1

    # -- growth (reference `_tree_update` / `_tree_step`) --

    def insert(self, segments: Sequence[Segment], with_state_comment: bool = True) -> list[Node]:
        """Walk from the root along `segments`, creating or reusing children.  Returns the nodes
        on the path (root excluded); new nodes are those with id >= the old tree size."""
        node, path = self.root, []
        for seg in segments:
            child_id = node.children.get(seg.goals)
            if child_id is None:
                child = Node(
                    id=len(self.nodes), parent=node.id, depth=node.depth + 1, goal=seg.goals
                )
                self.nodes.append(child)
                node.children[seg.goals] = child.id
            else:
                child = self.nodes[child_id]
            child.add_code(seg.prefix, seg.comment if with_state_comment else "")
            node = child
            path.append(child)
        return path

    def pick_code(self, node: Node, rng: random.Random) -> tuple[str, str]:
        """Uniform choice among the distinct (prefix, state comment) pairs reaching `node`
        (reference `node.code`); the prompt uses the pair as stored."""
        return node.codes[rng.randrange(len(node.codes))]

    # -- statistics and export --

    def max_depth(self) -> int:
        return max(n.depth for n in self.nodes)

    def summary(self) -> dict[str, Any]:
        return {
            "nodes": len(self.nodes),
            "max_depth": self.max_depth(),
            "leaves": sum(1 for n in self.nodes if not n.children),
            "root_visits": self.root.visits,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": TREE_FORMAT,
            "gamma": self.gamma,
            "root_goal": self.root_goal,
            "proof": self.proof,
            "proof_path": list(self.proof_path),
            "nodes": [n.to_json() for n in self.nodes],
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> SearchTree:
        if d.get("format") != TREE_FORMAT:
            raise ValueError(f"not an RMaxTS tree (format {d.get('format')!r}, want {TREE_FORMAT})")
        tree = SearchTree(d["root_goal"], gamma=float(d["gamma"]))
        tree.nodes = [Node.from_json(nd) for nd in d["nodes"]]
        for i, nd in enumerate(tree.nodes):
            if nd.id != i:
                raise ValueError(f"tree node {i} has id {nd.id}")
        tree.proof = d.get("proof", "")
        tree.proof_path = [int(i) for i in d.get("proof_path", [])]
        return tree

    def to_networkx(self) -> Any:
        """A `networkx.DiGraph`: node attributes are the stats, edges parent -> child (`goal`)."""
        import networkx as nx

        g = nx.DiGraph(root_goal=self.root_goal, proof=self.proof, gamma=self.gamma)
        on_path = set(self.proof_path)
        for nd in self.nodes:
            g.add_node(
                nd.id,
                goal=nd.goal,
                depth=nd.depth,
                prefixes=len(nd.codes),
                prefix=nd.codes[0][0] if nd.codes else "",
                w=nd.w,
                n=nd.n,
                w_sub=nd.w_sub,
                n_sub=nd.n_sub,
                expansions=nd.expansions,
                visits=nd.visits,
                on_proof_path=nd.id in on_path,
            )
        for nd in self.nodes:
            for goal, cid in nd.children.items():
                g.add_edge(
                    nd.id, cid, goal=goal, on_proof_path=(nd.id in on_path and cid in on_path)
                )
        return g


# ---- checkpoint I/O ---------------------------------------------------------------------------


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON to `path` atomically: a temporary file in the same folder, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_tree(path: Path) -> SearchTree:
    """A tree from a tree JSON file or from an RMaxTS checkpoint (which embeds one)."""
    data = read_json(path)
    if isinstance(data, dict) and "tree" in data and isinstance(data["tree"], dict):
        data = data["tree"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return SearchTree.from_json(data)


def rng_state_to_json(rng: random.Random) -> list[Any]:
    version, state, gauss = rng.getstate()
    return [version, list(state), gauss]


def rng_from_json(data: Sequence[Any]) -> random.Random:
    rng = random.Random()
    rng.setstate((int(data[0]), tuple(int(x) for x in data[1]), data[2]))
    return rng
