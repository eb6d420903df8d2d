"""Draw an RMaxTS tree to PNG: layered layout, node size/colour by visit count, proof path in red.

Uses matplotlib's object API with the Agg canvas (no pyplot global state, no backend switching).
"""

from __future__ import annotations

import math
from pathlib import Path

from search.tree import SearchTree


def tree_layout(tree: SearchTree) -> dict[int, tuple[float, float]]:
    """x = leaf order (parents centred over their children), y = -depth."""
    pos: dict[int, tuple[float, float]] = {}
    next_x = 0.0

    def place(nid: int) -> float:
        nonlocal next_x
        node = tree.nodes[nid]
        kids = list(node.children.values())
        if not kids:
            x = next_x
            next_x += 1.0
        else:
            xs = [place(c) for c in kids]
            x = (xs[0] + xs[-1]) / 2.0
        pos[nid] = (x, -float(node.depth))
        return x

    # iterative-safe enough: depth is bounded by proof length; raise the limit for deep trees
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * tree.max_depth() + 100))
    try:
        place(0)
    finally:
        sys.setrecursionlimit(limit)
    return pos


def draw_tree(
    tree: SearchTree, out: Path, title: str = "", label_goals: bool | None = None
) -> Path:
    """Render `tree` to `out` (PNG).  Goals are written next to nodes for small trees."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pos = tree_layout(tree)
    width = max(pos[n][0] for n in pos) + 1
    depth = tree.max_depth() + 1
    fig = Figure(figsize=(min(4 + 0.5 * width, 60), min(3 + 1.2 * depth, 60)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    on_path = set(tree.proof_path)
    for nd in tree.nodes:
        for cid in nd.children.values():
            x0, y0 = pos[nd.id]
            x1, y1 = pos[cid]
            hot = nd.id in on_path and cid in on_path
            ax.plot(
                [x0, x1],
                [y0, y1],
                color="red" if hot else "0.6",
                linewidth=2.5 if hot else 0.8,
                zorder=1,
            )
    vmax = max(1, max(nd.visits for nd in tree.nodes))
    xs = [pos[nd.id][0] for nd in tree.nodes]
    ys = [pos[nd.id][1] for nd in tree.nodes]
    sizes = [30 + 300 * math.log1p(nd.visits) / math.log1p(vmax) for nd in tree.nodes]
    colors = [nd.visits for nd in tree.nodes]
    sc = ax.scatter(
        xs,
        ys,
        s=sizes,
        c=colors,
        cmap="viridis",
        vmin=0,
        vmax=vmax,
        zorder=2,
        edgecolors=["red" if nd.id in on_path else "black" for nd in tree.nodes],
        linewidths=[2.0 if nd.id in on_path else 0.5 for nd in tree.nodes],
    )
    fig.colorbar(sc, ax=ax, label="visits (expansions in subtree)")
    if label_goals is None:
        label_goals = len(tree.nodes) <= 40
    for nd in tree.nodes:
        x, y = pos[nd.id]
        text = f"{nd.visits}"
        if label_goals:
            goal = nd.goal.strip().splitlines()[-1] if nd.goal.strip() else ""
            text += "  " + (goal[:40] + "…" if len(goal) > 40 else goal)
        ax.annotate(text, (x, y), xytext=(6, -3), textcoords="offset points", fontsize=7)
    ax.set_axis_off()
    status = "proof found" if tree.proof_path else "no proof"
    ax.set_title(title or f"RMaxTS tree: {len(tree.nodes)} nodes, depth {depth - 1}, {status}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    return out
