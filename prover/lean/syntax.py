r"""Lean 4 source text: the one Python lexer, and everything derived from its tokens.

Verdicts come from Lean (`lean_project/ProverChecker.lean` parses and elaborates every item).
Python reads Lean text for three jobs only, all through `lex` here:

* the pre-Lean screen (`prover.lean.soundness`): keywords, names and unclosed regions;
* cutting proofs: the first `sorry` (`first_sorry`), text with comments blanked
  (`mask_comments`), the indentation of a proof's top-level tactics (`base_indent`);
* finding declarations and their names in a user's `.lean` file (`declarations`).

The lexer follows Lean's own (`Lean.Parser.Basic`: `whitespace`, `tokenFnAux`, `identFnAux`,
`charLitFnAux`, `strLitFnAux`, `numberFnAux`; `Lean.Parser.StrInterpolation`):

* `--` to the end of the line; `/-` ... `-/` nested.  Lean skips the character after the
  opening `/-` (that is how `/--` and `/-!` doc comments start), so `/-/- -/` is one whole
  comment, not a nested one; we do the same.
* `"..."` with Lean's escapes only (`\\ \" \' \n \t \r \xHH \uHHHH`, and `\` + newline, a
  string gap); `r"..."`, `r#"..."#` raw strings.
* `'c'` character literals, exactly Lean's: `'` not followed by `'` always starts one; its
  content is one character or one escape, then `'`.
* identifiers with Lean's character classes (`isIdFirst`, `isIdRest`, `isLetterLike`,
  `isSubScriptAlnum`), dotted parts and `«quoted»` parts; numbers as Lean reads them (`0x..`,
  `0b..`, `0o..`, `12`, `1.5e-3`; `2.` is a number); `#word` tokens; everything else is a
  one-character symbol (`@[` and `''` are two).
* interpolated strings (`s!"a{x}b"`): the code in braces is lexed as code.

What Lean knows and this lexer does not is the token table (the notations in scope): Lean
takes the longest token at each position, so a symbol run such as `<--` is the token `<-`
followed by `-` in Lean, not `<` and a comment.  And which syntax takes an interpolated string
is up to the parser, not the lexer.  Where that could make us read a comment, a string or a
character literal where Lean reads code (the direction that could hide a keyword from the
screen), strict lexing raises `LexError` instead of guessing:

* `--` or `/-` right after a symbol character (no space between): is it a comment, or is the
  first `-`/`/` part of a notation token?  (After a bracket, `,`, an identifier, a number, a
  literal or a comment there is no doubt.)
* a character literal right after a symbol character (`⁻¹'1'`): Mathlib's `⁻¹'` and `''` are
  tokens that end in `'`.  Allowed when the content is a letter (`f ⁻¹'a'`: either reading
  covers the same text as code).  A `'` after a symbol that is not a valid literal is taken as
  a symbol (`f ⁻¹' s`: Lean reads a token there too, or fails).
* a string that holds `{` where the plain and the interpolated reading are both valid and end
  in different places (`"{'"'}"`), unless the identifier before it is one of
  `INTERPOLATION_PREFIXES` (`s!"..."`, `m!"..."`, ...).  When only one reading is valid, it is
  the one Lean can succeed with; when both end at the same place the braces are lexed as code
  (the reading that shows more code), so `"{sorry}"` counts as a `sorry`.
* anything Lean itself refuses to lex: an unterminated comment, string or `«identifier»`,
  an invalid escape (`'\q'`, `"\q"`), a character literal that does not close (`' s`),
  `0x` without digits, `1e` without exponent digits.

The remaining differences only ever show more code than Lean sees, or accept text Lean then
refuses (Lean's verdict stands): tabs (Lean refuses them in code); a name literal `` `foo `` is a
symbol and an identifier here; `«theorem»` is an identifier named `theorem` (the screen still
refuses it by name, `declarations` does not take it for a keyword); digits after `.` in `h.1.2`
are one number here, a field index in Lean.

`lex(text, strict=False)` never raises: it is for cutting and display on text Lean has
already checked, and it reads each doubtful spot the way Lean most likely does (a comment, a
literal) and an unterminated region as running to the end of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "DECLARATION_KEYWORDS",
    "INTERPOLATION_PREFIXES",
    "THEOREM_KEYWORDS",
    "Declaration",
    "LexError",
    "Token",
    "base_indent",
    "declarations",
    "first_sorry",
    "lex",
    "mask_comments",
    "tokenize",
]


class LexError(ValueError):
    """Text that Lean would not lex, or that this lexer cannot be sure it reads as Lean does."""


@dataclass(frozen=True)
class Token:
    """One token.  `text` is the source text `source[offset:end]`.  For an identifier, `parts`
    are its dotted components with `«»` removed (`«a b».c` -> ("a b", "c")) and `name` joins
    them; for any other token `name` is `text`.  An interpolated string is several tokens: its
    literal pieces (kind "string": `s!"a{`, `}b"`) and the code between them."""

    kind: str  # "ident" | "symbol" | "string" | "char" | "number" | "hash" | "comment"
    text: str
    offset: int
    end: int
    parts: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return ".".join(self.parts) if self.kind == "ident" else self.text


# Lean's `isLetterLike` (Init/Meta): Greek except λ Π Σ (those are tokens), Coptic, polytonic
# Greek, the letter-like block and mathematical alphanumerics.  Exactly Lean's sets: a wider
# class would glue a keyword onto a neighbour (`λtheorem`) and hide it from the screen.
_LETTER_LIKE = (
    "\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1-\u03a2\u03a4-\u03a9\u03ca-\u03fb"
    "\u1f00-\u1ffe\u2100-\u214f\U0001d49c-\U0001d59f"
)
_SUBSCRIPT_ALNUM = "\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a"  # Lean's `isSubScriptAlnum`
_IDENT_START = re.compile(f"[A-Za-z_{_LETTER_LIKE}]")
_IDENT_REST = re.compile(f"[A-Za-z0-9_'!?{_LETTER_LIKE}{_SUBSCRIPT_ALNUM}]*")
_RAW_STRING_START = re.compile(r'r(#*)"')
_HASH_COMMAND = re.compile(r"#[A-Za-z_][A-Za-z0-9_]*")
_HEX = "0123456789abcdefABCDEF"
_DIGITS = "0123456789"
_ESCAPES = frozenset("\\\"'rnt")  # Lean's `isQuotableCharDefault`

# Symbols that are whole tokens in Lean and Mathlib, never the start of a longer one that goes
# on with `-`, `/` or `'`: a comment or a literal right after one of them is certainly one.
_CLOSED_SYMBOLS = frozenset({"(", ")", "[", "]", "{", "}", "⟨", "⟩", "⦃", "⦄", ",", "@["})

# Identifiers right after which core Lean's parser reads a string as interpolated (`s!"{x}"`;
# `throwError`, `dbg_trace` and `println!` take `interpolatedStr(term) <|> term`).  Other
# syntax may too (`throwErrorAt ref "..."`, `trace[cls] "..."`, user notations); a string with
# `{` anywhere else is lexed both ways (see the module docstring).
INTERPOLATION_PREFIXES = frozenset({"s!", "m!", "f!", "println!", "throwError", "dbg_trace"})

# Declaration keywords.  `lemma` is Mathlib's (in core Lean it is an identifier).
THEOREM_KEYWORDS = frozenset({"theorem", "lemma", "example"})
DECLARATION_KEYWORDS = THEOREM_KEYWORDS | {"def", "abbrev", "instance"}
_DECL_MODIFIERS = frozenset({"private", "protected", "noncomputable"})


def lex(text: str, *, strict: bool = True) -> list[Token]:
    """Every token of `text` in order, comments included (kind "comment").

    strict=True raises `LexError` where Lean would fail to lex the text or where this lexer
    cannot be sure it reads it as Lean does (see the module docstring); strict=False never
    raises and reads such spots the way Lean most likely does."""
    lexer = _Lexer(text, strict)
    lexer.code(0, nested=False)
    return lexer.out


def tokenize(text: str) -> list[Token]:
    """The code tokens of `text` (no comments); raises `LexError` (strict lexing)."""
    return [t for t in lex(text) if t.kind != "comment"]


def is_comment_line(line: str) -> bool:
    """The line holds one `--` comment and nothing else (whitespace aside)."""
    toks = lex(line, strict=False)
    return len(toks) == 1 and toks[0].kind == "comment" and toks[0].text.startswith("--")


def comment_line_text(line: str) -> str:
    """The text of a `--` comment line (`is_comment_line`), without the dashes."""
    return line.strip().removeprefix("--").strip()


def mask_comments(text: str) -> str:
    """`text` with every comment replaced by spaces (same length, newlines kept).  Strings and
    character literals are code and stay.  Never raises (lenient lexing)."""
    out = list(text)
    for tok in lex(text, strict=False):
        if tok.kind == "comment":
            for j in range(tok.offset, tok.end):
                if out[j] != "\n":
                    out[j] = " "
    return "".join(out)


def first_sorry(text: str) -> int | None:
    """Offset of the first `sorry`/`admit` token outside comments and literals, else None.
    Never raises (lenient lexing): this cuts text Lean has already judged."""
    for tok in lex(text, strict=False):
        if tok.kind == "ident" and tok.name in {"sorry", "admit"}:
            return tok.offset
    return None


def base_indent(proof: str) -> str:
    """Indentation of the first tactic line of `proof`: the first line that holds code and does
    not start inside a comment or string (two spaces if there is none).  A tactic proof's
    top-level tactics share one column (Lean's `checkColGe`); the checker takes tactic steps
    from Lean's info trees, this is for writing continuations and state comments."""
    toks = lex(proof, strict=False)
    spans = [(t.offset, t.end) for t in toks if "\n" in t.text]  # tokens over a line break
    for tok in toks:
        if tok.kind == "comment":
            continue
        start = proof.rfind("\n", 0, tok.offset) + 1
        if any(a < start < b for a, b in spans):
            continue  # this line starts inside a comment or a string
        line = proof[start:]
        return line[: len(line) - len(line.lstrip(" \t"))]
    return "  "


@dataclass(frozen=True)
class Declaration:
    """A declaration found by `declarations`.  `start` is its first token (attributes and
    modifiers included, a doc comment not); `name` is the declared name as written (`foo`,
    `«my thm»`), None for `example` and for an `instance` without a name."""

    keyword: str
    start: int
    keyword_offset: int
    name: str | None
    name_start: int
    name_end: int


def declarations(text: str, keywords: frozenset[str] = THEOREM_KEYWORDS) -> list[Declaration]:
    """The declarations in `text` whose keyword is in `keywords` and whose first token starts a
    line (column 0: a continuation line of a statement is indented, and in core Lean `lemma` is
    an identifier that may start one).  A keyword written `«theorem»` is an identifier, as in
    Lean.  Never raises (lenient lexing); Lean reports what is wrong with the text."""
    toks = [t for t in lex(text, strict=False) if t.kind != "comment"]
    found: list[Declaration] = []
    for k, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text not in keywords:
            continue
        first = _declaration_start(toks, k)
        if toks[first].offset > 0 and text[toks[first].offset - 1] != "\n":
            continue  # not at the start of a line
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if tok.text != "example" and nxt is not None and nxt.kind == "ident":
            name: str | None = nxt.text
            span = (nxt.offset, nxt.end)
        else:
            name, span = None, (tok.end, tok.end)
        found.append(Declaration(tok.text, toks[first].offset, tok.offset, name, *span))
    return found


# tokens that start a top-level command when they start a line (an answer's term ends there)
_COMMAND_STARTS = (
    DECLARATION_KEYWORDS
    | _DECL_MODIFIERS
    | {
        "open",
        "namespace",
        "section",
        "end",
        "universe",
        "variable",
        "set_option",
        "import",
        "attribute",
        "@[",
    }
)


@dataclass(frozen=True)
class AnswerDefinition:
    """`[noncomputable] abbrev|def NAME ... := TERM` found by `answer_definitions`: the declared
    name, the term after `:=` (stripped), and the command's span in the text."""

    name: str
    term: str
    start: int
    end: int
    term_start: int  # the term is text[term_start : term_start + len(term)]


def answer_definitions(text: str, names: Iterable[str]) -> list[AnswerDefinition]:
    """The top-level definitions (first token at column 0) of the answer slots `names` in `text`
    (a model's code), in order; the term runs from the first `:=` outside brackets to the next
    line that starts a command (a declaration, `open`, `namespace`, `#...`, ...) or the end.
    Lenient: text it cannot read gives what it can; Lean judges the terms."""
    wanted = set(names)
    every = lex(text, strict=False)
    toks = [t for t in every if t.kind != "comment"]
    # a doc comment (`/-- ... -/`, `/-! ... -/`) is not whitespace to Lean: it starts the next
    # declaration (or is a module doc), so it ends a term too
    starts = [
        t.offset
        for t in every
        if (t.offset == 0 or text[t.offset - 1] == "\n")
        and (
            t.text in _COMMAND_STARTS
            or t.kind == "hash"
            or (t.kind == "comment" and t.text.startswith(("/--", "/-!")))
        )
    ]
    out: list[AnswerDefinition] = []
    for d in declarations(text, frozenset({"abbrev", "def"})):
        if d.name not in wanted:
            continue
        end = next((s for s in starts if s > d.start), len(text))
        depth, k = 0, next(i for i, t in enumerate(toks) if t.offset == d.name_start) + 1
        while k + 1 < len(toks) and toks[k].offset < end:
            t = toks[k]
            depth += t.text in {"(", "[", "{", "⟨"}
            depth -= t.text in {")", "]", "}", "⟩"}
            if (
                depth == 0
                and t.text == ":"
                and toks[k + 1].text == "="
                and toks[k + 1].offset == t.end
            ):
                raw = text[toks[k + 1].end : end]
                term = raw.strip()
                if term:
                    at = toks[k + 1].end + len(raw) - len(raw.lstrip())
                    out.append(AnswerDefinition(d.name, term, d.start, end, at))
                break
            k += 1
    return out


def without_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with the `(start, end)` spans cut out."""
    out, at = [], 0
    for a, b in sorted(spans):
        out.append(text[at:a])
        at = max(at, b)
    return "".join(out) + text[at:]


def _declaration_start(toks: list[Token], k: int) -> int:
    """Index of the first token of the declaration whose keyword is toks[k]: back over
    modifiers (`private`, `protected`, `noncomputable`) and `@[...]` attribute lists."""
    first = k
    while first > 0:
        prev = toks[first - 1]
        if prev.kind == "ident" and prev.text in _DECL_MODIFIERS:
            first -= 1
        elif prev.text == "]":
            depth, j = 0, first - 1
            while j >= 0:
                t = toks[j].text
                depth += t == "]"
                depth -= t in {"[", "@["}
                if depth == 0:
                    break
                j -= 1
            if j < 0 or toks[j].text != "@[":
                break
            first = j
        else:
            break
    return first


def _escape_end(text: str, j: int, *, in_string: bool, interpolated: bool) -> int | None:
    """j is just after a backslash: the offset after the escape, or None if Lean refuses it
    (Lean's `quotedCharCoreFn`; `\\{` only in an interpolated string, a string gap (`\\` and a
    line break, then the next line's indentation) only in a string)."""
    c = text[j] if j < len(text) else ""
    if c and (c in _ESCAPES or (interpolated and c == "{")):
        return j + 1
    if c in ("x", "u"):
        k = j + (3 if c == "x" else 5)
        if k <= len(text) and all(ch in _HEX for ch in text[j + 1 : k]):
            return k
        return None
    if in_string and c == "\n":
        k = j + 1
        while k < len(text) and text[k] in " \t":
            k += 1
        return k
    return None


class _Ambiguous(LexError):
    """Lean could read the text either way (its token table, or the syntax around a string)."""


class _Lexer:
    def __init__(self, text: str, strict: bool) -> None:
        self.text = text
        self.n = len(text)
        self.strict = strict
        self.out: list[Token] = []

    def fail(self, msg: str, ambiguous: bool = False) -> None:
        if self.strict:
            raise (_Ambiguous if ambiguous else LexError)(msg)

    def add(self, kind: str, start: int, end: int, parts: tuple[str, ...] = ()) -> int:
        self.out.append(Token(kind, self.text[start:end], start, end, parts))
        return end

    def after_symbol(self, i: int) -> bool:
        """Does a symbol that could end a longer notation token touch offset i?"""
        prev = self.out[-1] if self.out else None
        return (
            prev is not None
            and prev.end == i
            and prev.kind == "symbol"
            and prev.text not in _CLOSED_SYMBOLS
        )

    def code(self, i: int, nested: bool) -> int:
        """Lex code from i.  Nested (the code in an interpolated string's braces): stop at the
        `}` that closes it and return its offset."""
        text, n = self.text, self.n
        braces = 0
        while i < n:
            c = text[i]
            if c.isspace():
                i += 1
            elif text.startswith("--", i) or text.startswith("/-", i):
                if self.after_symbol(i):
                    self.fail(
                        f"{text[i : i + 2]!r} at offset {i} right after a symbol: a comment, or "
                        "part of a notation token? (write a space before it)",
                        ambiguous=True,
                    )
                i = self.comment(i)
            elif c == '"' or (c == "r" and _RAW_STRING_START.match(text, i)):
                i = self.string(i)
            elif c == "'":
                i = self.char(i)
            elif c == "«" or _IDENT_START.match(c):
                i = self.ident(i)
            elif c in _DIGITS:
                i = self.number(i)
            elif c == "#" and (m := _HASH_COMMAND.match(text, i)):
                i = self.add("hash", i, m.end())
            elif text.startswith("@[", i):
                i = self.add("symbol", i, i + 2)
            else:
                if nested and c == "}":
                    if braces == 0:
                        return i
                    braces -= 1
                elif nested and c == "{":
                    braces += 1
                i = self.add("symbol", i, i + 1)
        if nested:
            self.fail("unterminated interpolated string (a `{` is never closed)")
        return n

    def comment(self, i: int) -> int:
        text, n = self.text, self.n
        if text.startswith("--", i):
            j = text.find("\n", i)
            return self.add("comment", i, n if j < 0 else j)
        # Lean skips the character after `/-` before it counts nesting (see the docstring)
        depth, j = 1, i + 3
        while j < n:
            if text.startswith("-/", j):
                depth, j = depth - 1, j + 2
                if depth == 0:
                    return self.add("comment", i, j)
            elif text.startswith("/-", j):
                depth, j = depth + 1, j + 2
            else:
                j += 1
        self.fail(f"unterminated block comment starting at offset {i}")
        return self.add("comment", i, n)

    def string(self, i: int) -> int:
        text = self.text
        m = _RAW_STRING_START.match(text, i)
        if m:
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            if j < 0:
                self.fail(f"unterminated raw string at offset {i}")
                return self.add("string", i, self.n)
            return self.add("string", i, j + len(close))
        prev = next((t for t in reversed(self.out) if t.kind != "comment"), None)
        if prev is not None and prev.kind == "ident" and prev.name in INTERPOLATION_PREFIXES:
            return self.interpolated(i)
        end, error = self.plain_string(i)
        if "{" not in text[i:end]:
            if error:
                self.fail(error)
            return self.add("string", i, end)
        # A `{` in it: whether Lean reads it as interpolated depends on the syntax around it.
        trial = _Lexer(text, strict=True)
        try:
            trial_end: int | None = trial.interpolated(i)
        except _Ambiguous as exc:
            self.fail(str(exc), ambiguous=True)
            trial_end = None
        except LexError:
            trial_end = None  # Lean cannot read it as interpolated: the plain reading stands
        if trial_end is not None and (error or trial_end == end):
            # Lean reads it as interpolated or fails; or both readings cover the same text:
            # take the one that shows the code in the braces
            self.out.extend(trial.out)
            return trial_end
        if error:
            self.fail(error)
        elif trial_end is not None:
            self.fail(
                f"string literal at offset {i} reads differently as an interpolated string "
                "(it holds `{`): cannot tell which Lean sees; escape the brace or write `s!`",
                ambiguous=True,
            )
        return self.add("string", i, end)

    def plain_string(self, i: int) -> tuple[int, str | None]:
        """(end, Lean's complaint or None) of the plain string literal at i; an unterminated
        one runs to the end of the text, a bad escape is skipped."""
        text, n = self.text, self.n
        error: str | None = None
        j = i + 1
        while j < n:
            if text[j] == '"':
                return j + 1, error
            if text[j] == "\\":
                k = _escape_end(text, j + 1, in_string=True, interpolated=False)
                if k is None:
                    error = error or f"invalid escape sequence {text[j : j + 2]!r} at offset {j}"
                    k = min(j + 2, n)
                j = k
            else:
                j += 1
        return n, error or f"unterminated string literal at offset {i}"

    def interpolated(self, i: int) -> int:
        text, n = self.text, self.n
        start, j = i, i + 1
        while j < n:
            c = text[j]
            if c == '"':
                return self.add("string", start, j + 1)
            if c == "\\":
                k = _escape_end(text, j + 1, in_string=True, interpolated=True)
                if k is None:
                    self.fail(f"invalid escape sequence {text[j : j + 2]!r} at offset {j}")
                    k = min(j + 2, n)
                j = k
            elif c == "{":
                self.add("string", start, j + 1)
                j = self.code(j + 1, nested=True)
                if j >= n:
                    return n
                start, j = j, j + 1  # the next piece starts with the closing `}`
            else:
                j += 1
        self.fail(f"unterminated string literal at offset {start}")
        return self.add("string", start, n)

    def char(self, i: int) -> int:
        text, n = self.text, self.n
        if text.startswith("''", i):  # not a character literal in Lean; Mathlib's `''` token
            return self.add("symbol", i, i + 2)
        end = self.char_end(i)
        if end is None:
            if not self.after_symbol(i):  # after a symbol: the tail of a token such as `⁻¹'`
                self.fail(
                    f"invalid character literal at offset {i} (Lean: missing end of "
                    "character literal, or invalid escape sequence)"
                )
            return self.add("symbol", i, i + 1)
        content = text[i + 1 : end - 1]
        if self.after_symbol(i) and not (len(content) == 1 and _IDENT_START.match(content)):
            self.fail(
                f"character literal {text[i:end]!r} at offset {i} right after a symbol: a "
                "literal, or the end of a notation token such as `⁻¹'`? (write a space before it)",
                ambiguous=True,
            )
        return self.add("char", i, min(end, n))

    def char_end(self, i: int) -> int | None:
        """End of the character literal at i (Lean's `charLitFnAux`), or None if it is not one."""
        text, n = self.text, self.n
        j = i + 1
        if j >= n:
            return None
        if text[j] == "\\":
            k = _escape_end(text, j + 1, in_string=False, interpolated=False)
            if k is None:
                return None
            j = k
        else:
            j += 1
        return j + 1 if j < n and text[j] == "'" else None

    def ident(self, i: int) -> int:
        text, n = self.text, self.n
        j = i
        parts: list[str] = []
        while True:
            if text[j] == "«":
                k = text.find("»", j + 1)
                if k < 0:
                    self.fail(f"unterminated «identifier» at offset {j}")
                    parts.append(text[j + 1 :])
                    j = n
                    break
                parts.append(text[j + 1 : k])
                j = k + 1
            else:
                m = _IDENT_REST.match(text, j + 1)
                assert m is not None  # `*`: always matches
                parts.append(text[j : m.end()])
                j = m.end()
            if (
                j + 1 < n
                and text[j] == "."
                and (text[j + 1] == "«" or _IDENT_START.match(text[j + 1]))
            ):
                j += 1
                continue
            break
        return self.add("ident", i, j, tuple(parts))

    def number(self, i: int) -> int:
        """Lean's `numberFnAux`: `0b`/`0o`/`0x` + digits, or decimal with an optional `.digits`
        (`2.` is a number) and exponent."""
        text, n = self.text, self.n

        def digits(j: int, allowed: str) -> int:
            while j < n and text[j] in allowed:
                j += 1
            return j

        if text[i] == "0" and i + 1 < n and text[i + 1] in "bBoOxX":
            allowed = {"b": "01", "o": "01234567", "x": _HEX}[text[i + 1].lower()]
            j = digits(i + 2, allowed)
            if j == i + 2:
                self.fail(f"numeral {text[i : i + 2]!r} without digits at offset {i}")
            return self.add("number", i, j)
        j = digits(i, _DIGITS)
        if j < n and text[j] == ".":
            j = digits(j + 1, _DIGITS)
        if j < n and text[j] in "eE":
            k = j + 1
            if k < n and text[k] in "+-":
                k += 1
            if k < n and text[k] in _DIGITS:
                j = digits(k, _DIGITS)
            else:
                self.fail(f"missing exponent digits in the numeral at offset {i}")
        return self.add("number", i, j)
