"""Screening untrusted proof text before it reaches Lean.

A proof is text that follows its statement (`theorem ... := by`).  An adversarial policy that is
rewarded for "proved" will try to escape that position.  The screen lexes the proof the way Lean
does (nested block comments, line comments, string/char literals, «quoted» identifiers) and
rejects, with a reason, anything that is not plainly a proof of *this* statement:

* attack: end the declaration and add commands (`theorem`, `axiom`, `#exit`, `end`, `open`,
  `set_option ... in` at top level, attributes, macros, `elab`, ...): every command keyword and
  every `#command` token is refused anywhere in the proof.
* attack: a comment or string that never closes and swallows the rest of the file (the next
  item, our sentinels): unterminated `/-` or `"` is refused.
* attack: `sorryAx`/obfuscated sorry, `native_decide`/`Lean.ofReduceBool`/`bv_decide` and other
  routes to the compiler-trusting axioms (unless `allow_native_decide`), `implemented_by`/
  `extern`, `run_tac`/`by_elab` metaprograms, `unsafe`.
* attack: options that weaken checking (`set_option debug.skipKernelTC`, `maxHeartbeats 0`,
  ...): only `maxRecDepth` and `pp.*` options may be set inside a proof.

Plain `sorry`/`admit` are *not* rejected: Lean reports them ("declaration uses `sorry`") and the
verdict is `incomplete`, which search relies on.

The axiom check on the embedded backend is this screen (the WebAssembly build refuses
`#print axioms`): a proof cannot declare axioms (no commands), so the only axioms reachable are
those already in core (`propext`, `Classical.choice`, `Quot.sound`, `sorryAx`, `Lean.ofReduceBool`,
`Lean.ofReduceNat`, `Lean.trustCompiler`); the screen blocks the names and tactics that reach the
last four.  Its limit: a *library* lemma that itself depends on `ofReduceBool` would pass; core
Lean's library has none.  The native backend additionally runs `#print axioms`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

COMMAND_KEYWORDS = frozenset(
    """theorem lemma def abbrev instance axiom axioms example structure class inductive
    coinductive opaque macro macro_rules syntax elab elab_rules notation infix infixl infixr
    prefix postfix attribute open namespace section end universe universes variable variables
    import export mutual noncomputable private protected partial unsafe initialize
    builtin_initialize deriving declare_syntax_cat register_option omit include module
    add_decl_doc irreducible_def recall set_option_fn seal unseal simproc dsimproc simproc_decl
    dsimproc_decl grind_pattern binder_predicate local scoped nonrec""".split()
)
META_KEYWORDS = frozenset(
    """run_tac run_cmd run_elab run_meta by_elab implemented_by extern csimp
    reducible_def""".split()
)
SORRY_AXIOM_NAMES = frozenset({"sorryAx"})
NATIVE_NAMES = frozenset(
    {
        "native_decide",
        "ofReduceBool",
        "ofReduceNat",
        "reduceBool",
        "reduceNat",
        "trustCompiler",
        "bv_decide",
        "bv_check",
        "bv_omega",
    }
)
ALLOWED_OPTIONS = re.compile(r"^(maxRecDepth|pp\.[A-Za-z0-9_.]+)$")
ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
NATIVE_AXIOMS = frozenset({"Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler"})


@dataclass(frozen=True)
class Token:
    kind: str  # "ident" | "symbol" | "string" | "char" | "number" | "hash"
    text: str
    offset: int


class LexError(ValueError):
    pass


# Lean's `isLetterLike` (Init/Meta): Greek except λ Π Σ (those are tokens), Coptic, polytonic
# Greek, the letter-like block and mathematical alphanumerics.  Exactly Lean's sets: a wider
# class would glue a keyword onto a neighbour (`λtheorem`) and hide it from the screen.
_LETTER_LIKE = (
    "\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1-\u03a2\u03a4-\u03a9\u03ca-\u03fb"
    "\u1f00-\u1ffe\u2100-\u214f\U0001d49c-\U0001d59f"
)
_SUBSCRIPT_ALNUM = "\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a"  # Lean's `isSubScriptAlnum`
_IDENT_START = re.compile(f"[A-Za-z_{_LETTER_LIKE}]")
_IDENT_REST = re.compile(f"[A-Za-z0-9_'!?{_LETTER_LIKE}{_SUBSCRIPT_ALNUM}]")


def tokenize(text: str) -> list[Token]:
    """Lex Lean source well enough to find keywords, identifiers and unclosed regions."""
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if text.startswith("/-", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise LexError(f"unterminated block comment starting at offset {i}")
            i = j
            continue
        if c == '"' or (c == "r" and re.match(r'r#*"', text[i:])):
            j = _scan_string(text, i)
            toks.append(Token("string", text[i:j], i))
            i = j
            continue
        if c == "'" and (
            not toks or toks[-1].offset + len(toks[-1].text) != i or toks[-1].kind != "ident"
        ):
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                toks.append(Token("char", m.group(0), i))
                i += len(m.group(0))
                continue
            toks.append(Token("symbol", "'", i))
            i += 1
            continue
        if c == "«" or _IDENT_START.match(c):
            j = i
            parts = []
            while True:
                if j < n and text[j] == "«":
                    k = text.find("»", j)
                    if k < 0:
                        raise LexError(f"unterminated «identifier» at offset {j}")
                    parts.append(text[j + 1 : k])
                    j = k + 1
                elif j < n and _IDENT_START.match(text[j]):
                    k = j + 1
                    while k < n and _IDENT_REST.match(text[k]):
                        k += 1
                    parts.append(text[j:k])
                    j = k
                else:
                    break
                if (
                    j + 1 < n
                    and text[j] == "."
                    and (text[j + 1] == "«" or _IDENT_START.match(text[j + 1]))
                ):
                    j += 1
                    continue
                break
            toks.append(Token("ident", ".".join(parts), i))
            i = max(j, i + 1)
            continue
        if c == "#":
            m = re.match(r"#[A-Za-z_][A-Za-z0-9_]*", text[i:])
            if m:
                toks.append(Token("hash", m.group(0), i))
                i += len(m.group(0))
                continue
        if c in "0123456789":
            m = re.match(r"[0-9][0-9a-fA-FxXoObB_.]*", text[i:])
            assert m is not None
            toks.append(Token("number", m.group(0), i))
            i += len(m.group(0))
            continue
        if text.startswith("@[", i):
            toks.append(Token("symbol", "@[", i))
            i += 2
            continue
        toks.append(Token("symbol", c, i))
        i += 1
    return toks


def _scan_string(text: str, i: int) -> int:
    n = len(text)
    if text[i] == "r":
        m = re.match(r'r(#*)"', text[i:])
        assert m
        close = '"' + m.group(1)
        j = text.find(close, i + len(m.group(0)))
        if j < 0:
            raise LexError(f"unterminated raw string at offset {i}")
        return j + len(close)
    j = i + 1
    while j < n:
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return j + 1
        j += 1
    raise LexError(f"unterminated string literal at offset {i}")


def screen_proof(proof: str, allow_native_decide: bool = False) -> str | None:
    """Return a rejection reason, or None if the proof may be sent to Lean."""
    if "\x00" in proof:
        return "proof contains a NUL character"
    try:
        toks = tokenize(proof)
    except LexError as exc:
        return f"{exc} (would swallow the rest of the file)"
    except Exception as exc:  # never let odd input take down a whole batch
        return f"proof could not be lexed ({type(exc).__name__}: {exc})"
    return _screen_tokens(
        toks, COMMAND_KEYWORDS, ALLOWED_OPTIONS, allow_native_decide, "inside a proof"
    )


# A header (the text before the statement) may import, open, set safe options, declare
# notations, sections and definitions.  It may not add axioms or hypotheses (`variable`),
# change how code is elaborated or trusted (macros, attributes, unsafe code), or hide a `sorry`.
HEADER_KEYWORDS = frozenset(
    """axiom axioms unsafe opaque variable variables include omit macro macro_rules syntax elab
    elab_rules declare_syntax_cat initialize builtin_initialize attribute register_option seal
    unseal simproc dsimproc simproc_decl dsimproc_decl grind_pattern binder_predicate sorry
    admit""".split()
)
HEADER_OPTIONS = re.compile(
    r"^(maxHeartbeats|maxRecDepth|autoImplicit|relaxedAutoImplicit|checkBinderAnnotations"
    r"|synthInstance\.maxHeartbeats|synthInstance\.maxSize|pp\.[A-Za-z0-9_.]+"
    r"|linter\.[A-Za-z0-9_.]+)$"
)


def screen_header(header: str, allow_native_decide: bool = False) -> str | None:
    """Return a rejection reason for a header that could make a false statement provable."""
    try:
        toks = tokenize(header)
    except LexError as exc:
        return f"header: {exc}"
    reason = _screen_tokens(toks, HEADER_KEYWORDS, HEADER_OPTIONS, allow_native_decide, "")
    return f"header: {reason}" if reason else None


def screen_statement(statement: str, allow_native_decide: bool = False) -> str | None:
    """A statement is exactly one declaration (`theorem`, `lemma`, `example`, or a `def` to
    construct, as some ProofNet items are; optionally `private`/`protected`/`noncomputable`)
    and nothing else: no second declaration, command or option around it."""
    try:
        toks = tokenize(statement)
    except LexError as exc:
        return f"formal_statement: {exc}"
    decl = next(
        (k for k, t in enumerate(toks) if t.kind == "ident" and t.text in _DECL_KEYWORDS), None
    )
    if decl is None:
        return "formal_statement: must start with `theorem NAME`, `lemma NAME`, `example` or `def`"
    for t in toks[:decl]:
        if t.text not in {"private", "protected", "noncomputable"}:
            return f"formal_statement: {t.text!r} before the declaration is not allowed"
    reason = _screen_tokens(
        toks[decl + 1 :], COMMAND_KEYWORDS, ALLOWED_OPTIONS, allow_native_decide, ""
    )
    return f"formal_statement: {reason}" if reason else None


def screen_request(request: Any) -> str | None:
    """Screen one check request (a `CheckRequest`): proof, statement and header, in that order.
    The backend's default header (`header=None`) is trusted."""
    return (
        screen_proof(request.proof, allow_native_decide=request.allow_native_decide)
        or screen_statement(request.formal_statement, request.allow_native_decide)
        or (
            screen_header(request.header, request.allow_native_decide)
            if request.header is not None
            else None
        )
    )


_DECL_KEYWORDS = frozenset({"theorem", "lemma", "example", "def", "abbrev", "instance"})


def _screen_tokens(
    toks: list[Token],
    keywords: frozenset[str],
    options: re.Pattern[str],
    allow_native_decide: bool,
    where: str,
) -> str | None:
    """The first forbidden token in `toks`, as a reason ending with `where`, or None."""
    at = f" {where}" if where else ""
    for k, tok in enumerate(toks):
        if tok.kind == "hash":
            return f"command {tok.text!r} is not allowed{at}"
        if tok.kind == "symbol" and tok.text == "@[":
            return f"attributes (`@[...]`) are not allowed{at}"
        if tok.kind != "ident":
            continue
        parts = tok.text.split(".")
        while len(parts) > 1 and parts[0] == "_root_":
            parts = parts[1:]
        last = parts[-1]
        if tok.text in keywords:
            return f"command keyword {tok.text!r} is not allowed{at}"
        if tok.text in META_KEYWORDS:
            return f"metaprogramming construct {tok.text!r} is not allowed{at}"
        if any(p in SORRY_AXIOM_NAMES for p in parts):
            return f"{tok.text!r} (the sorry axiom) is not allowed; write `sorry` for an incomplete proof"
        if not allow_native_decide and any(p in NATIVE_NAMES for p in parts):
            return (
                f"{tok.text!r} relies on the compiler-trusting axiom Lean.ofReduceBool; "
                "pass --allow-native-decide to accept it"
            )
        if parts[0] == "Lean" and len(parts) > 1 and parts[1] in {"Elab", "Meta", "Compiler", "IR"}:
            return f"metaprogramming API {tok.text!r} is not allowed{at}"
        if last == "native" and not allow_native_decide:
            prev = toks[k - 1] if k else None
            if prev is not None and prev.text in {"+", "("}:
                return "`decide +native` relies on Lean.ofReduceBool; pass --allow-native-decide"
        if tok.text == "native" and not allow_native_decide:
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            if nxt is not None and nxt.text in {":", "="}:
                return "`native := true` relies on Lean.ofReduceBool; pass --allow-native-decide"
        if tok.text == "set_option":
            opt = toks[k + 1] if k + 1 < len(toks) else None
            if opt is None or opt.kind != "ident" or not options.match(opt.text):
                name = opt.text if opt is not None else "<missing>"
                return f"set_option {name} is not allowed{at} (it could weaken checking)"
    return None


def theorem_name(statement: str) -> tuple[str, int, int] | None:
    """Find the declared name in a statement: (name, start, end) code-point offsets, or None
    for `example` (no name).  Raises ValueError if the statement declares nothing."""
    toks = tokenize(statement)
    for k, tok in enumerate(toks):
        if tok.kind == "ident" and tok.text in {"theorem", "lemma"}:
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            if nxt is None or nxt.kind != "ident":
                raise ValueError("statement has `theorem` without a name")
            return nxt.text, nxt.offset, _token_end(statement, nxt)
        if tok.kind == "ident" and tok.text == "example":
            return None
    raise ValueError("statement must start with `theorem NAME`, `lemma NAME` or `example`")


def _token_end(text: str, tok: Token) -> int:
    # identifiers may be «quoted»; find the end by re-lexing from the token start
    j = tok.offset
    n = len(text)
    while j < n and not text[j].isspace() and text[j] not in "(:{[⦃":
        j += 1
    return j


def rename_statement(statement: str, new_name: str) -> str:
    """Replace the declared name (or `example`) with `theorem new_name`."""
    found = theorem_name(statement)
    if found is None:
        toks = tokenize(statement)
        ex = next(t for t in toks if t.kind == "ident" and t.text == "example")
        return statement[: ex.offset] + f"theorem {new_name}" + statement[ex.offset + 7 :]
    _, start, end = found
    kw = statement.rfind("lemma", 0, start)
    if kw >= 0 and statement[kw:start].strip() == "lemma":
        statement = statement[:kw] + "theorem" + statement[kw + 5 :]
        start, end = start + 2, end + 2
    return statement[:start] + new_name + statement[end:]


def mask_comments(text: str) -> str:
    """`text` with comments and string literals replaced by spaces (same length, newlines kept)."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for j in range(a, b):
            if out[j] != "\n":
                out[j] = " "

    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/-", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, min(j + 1, n))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def first_sorry(proof: str) -> int | None:
    """Offset of the first `sorry`/`admit` token outside comments and strings, else None
    (also None when the text does not lex: such a proof is rejected by `screen_proof`)."""
    try:
        toks = tokenize(proof)
    except LexError:
        return None
    for t in toks:
        if t.kind == "ident" and t.text in {"sorry", "admit"}:
            return t.offset
    return None
