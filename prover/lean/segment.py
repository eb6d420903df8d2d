"""Tactic segmentation of a proof by layout (used where the REPL's `tactics` are unavailable).

A tactic proof after `:= by` is a sequence of top-level tactics at one indentation column
(Lean's `checkColGe` layout rule).  A line at that column starts a new step; deeper lines
(multi-line `have ... := by` blocks, `calc` steps, continuation lines) belong to the current
step; comment lines before a tactic are attached to that tactic.  Offsets are code points.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int


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


def segment_tactics(proof: str) -> list[Span]:
    """Top-level tactic steps of `proof` (the text after `:= by`)."""
    lines = _line_starts_in_code(proof)
    base: int | None = None
    spans: list[list[int]] = []
    pending_start: int | None = None  # start of comment lines preceding the next tactic
    for start, end, inside, comment_only in lines:
        body = proof[start:end]
        if comment_only:
            if body.strip() and pending_start is None and base is not None:
                indent = len(body) - len(body.lstrip())
                if indent <= base and not inside:
                    pending_start = start
            elif body.strip() and base is None and pending_start is None:
                pending_start = start
            if spans and body.strip() and pending_start is None:
                spans[-1][1] = end
            continue
        indent = len(body) - len(body.lstrip(" \t"))
        if base is None:
            base = indent
        if not inside and indent <= base:
            spans.append([pending_start if pending_start is not None else start, end])
            pending_start = None
        elif spans:
            if pending_start is not None:
                pending_start = None
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [Span(s, e) for s, e in spans]


def base_indent(proof: str) -> str:
    for start, end, inside, comment_only in _line_starts_in_code(proof):
        if not comment_only and not inside:
            body = proof[start:end]
            return body[: len(body) - len(body.lstrip(" \t"))]
    return "  "
