"""`prover tree show TREE.json [--out PNG]`: summarize and draw a saved RMaxTS tree."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tree", help="inspect saved RMaxTS search trees")
    tsub = p.add_subparsers(dest="tree_command", metavar="ACTION", required=True)
    show = tsub.add_parser("show", help="summarize a tree (or checkpoint) JSON; draw it with --out")
    show.add_argument("tree", metavar="TREE.json", help="tree JSON or RMaxTS checkpoint JSON")
    show.add_argument("--out", metavar="PNG", default=None, help="write a drawing of the tree")
    show.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from prover.errors import UsageError
    from search.tree import load_tree

    path = Path(args.tree)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        tree = load_tree(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from exc
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise UsageError(f"{path}: not an RMaxTS tree or checkpoint ({exc})") from exc
    s = tree.summary()
    print(
        f"{path}: {s['nodes']} nodes, max depth {s['max_depth']}, {s['leaves']} leaves, "
        f"{s['root_visits']} expansions"
    )
    print("proof found" if tree.proof_path else "no proof")
    if args.out:
        if not str(args.out).lower().endswith(".png"):
            raise UsageError(f"--out {args.out}: expected a .png path")
        from search.draw import draw_tree

        out = draw_tree(tree, Path(args.out), title=f"{path.name}")
        print(f"wrote {out}")
    return 0
