"""Proof layout: the indentation of a tactic proof's top-level tactics (used by policies).

A tactic proof after `:= by` is a sequence of top-level tactics at one indentation column
(Lean's `checkColGe` layout rule).  `base_indent` finds that column, skipping blank lines,
comment lines and lines inside block comments or strings.  (The checker takes tactic steps from
Lean's info trees, not from layout.)
"""

from __future__ import annotations


def _line_starts_in_code(text: str) -> list[tuple[int, int, bool, bool]]:
    """For each line: (start offset, end offset excl. newline, starts inside a block comment or
    string, is comment-only/blank)."""
    out = []
    depth = 0
    in_str = False
    i = 0
    n = len(text)
    line_start = 0
    start_state = False
    code_seen = False
    while i <= n:
        if i == n or text[i] == "\n":
            out.append((line_start, i, start_state, not code_seen))
            i += 1
            line_start = i
            start_state = depth > 0 or in_str
            code_seen = False
            continue
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if depth:
            if text.startswith("/-", i):
                depth += 1
                i += 2
            elif text.startswith("-/", i):
                depth -= 1
                i += 2
            else:
                i += 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/-", i):
            depth = 1
            i += 2
            continue
        if c == '"':
            in_str = True
            code_seen = True
            i += 1
            continue
        if not c.isspace():
            code_seen = True
        i += 1
    return out


def base_indent(proof: str) -> str:
    """Indentation of the first tactic line of `proof` (two spaces if it has none)."""
    for start, end, inside, comment_only in _line_starts_in_code(proof):
        if not comment_only and not inside:
            body = proof[start:end]
            return body[: len(body) - len(body.lstrip(" \t"))]
    return "  "
