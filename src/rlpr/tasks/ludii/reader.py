"""Read a .lud/.def file: strip comments, apply default options as text, drop rulesets and metadata,
and parse what is left into raw trees (defines not yet expanded).

The order follows Ludii's own expander: comments go first; every ``(option ...)`` clause is taken out
and its default item (the first with the most ``*`` after it) is substituted for the ``<Tag>`` and
``<Tag:arg>`` placeholders at the token level, before parsing, because option values may be
unbalanced fragments (``Dots and Boxes.lud``: ``<(dual >`` ... ``<)>``); ``(rulesets ...)`` and
``(metadata ...)`` are dropped. Tokens keep the line and column where they were written (an option
value's tokens point into the option clause), so every later error can name file:line:col.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from rlpr.tasks.ludii.tree import Array, Atom, Call, Node, Pos


class LudiiSyntaxError(ValueError):
    """A description that cannot be read or expanded; ``pos`` says where."""

    def __init__(self, message: str, pos: Pos | str | None = None):
        self.message = message
        self.pos = pos
        super().__init__(f"{pos}: {message}" if pos is not None else message)


@dataclass(frozen=True)
class Token:
    """A lexical token: kind is one of ( ) { } str num name key param tilde range ph."""

    kind: str
    text: str
    pos: Pos


@dataclass(frozen=True)
class OptionItem:
    """One ``(item "Name" <value> ... "description")`` of an option, with its ``*`` priority."""

    name: str
    values: tuple[tuple[int, int], ...]  # (start, end) offsets of each <value> in the source
    priority: int


@dataclass(frozen=True)
class OptionCategory:
    """An ``(option "Heading" <Tag> args:{<a> <b>} {items})`` clause."""

    heading: str
    tag: str
    args: tuple[str, ...]
    items: tuple[OptionItem, ...]
    pos: Pos

    @property
    def default(self) -> OptionItem:
        """Ludii's default: the first item with the highest priority."""
        best = self.items[0]
        for item in self.items[1:]:
            if item.priority > best.priority:
                best = item
        return best


@dataclass(frozen=True)
class Define:
    """``(define "Name" body ...)``; ``body`` holds every expression after the name."""

    name: str
    body: tuple[Node, ...]
    pos: Pos


@dataclass
class SourceFile:
    """A file read and parsed, defines not expanded: its top-level forms split by kind."""

    path: str
    game: Call | None
    defines: dict[str, Define] = field(default_factory=dict)
    options: list[OptionCategory] = field(default_factory=list)


# --- characters ----------------------------------------------------------------------------------


class _Text:
    """Source text with offset -> (line, col) lookup."""

    def __init__(self, text: str, name: str):
        self.text = text
        self.name = name
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def pos(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return Pos(self.name, line + 1, offset - self.line_starts[line] + 1)


def _string_end(text: str, start: int) -> int:
    """Offset just after the string literal opening at ``start`` (-1 if unclosed)."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    return -1


def blank_comments(text: str) -> str:
    """``text`` with ``//`` comments (outside strings) replaced by spaces; offsets are kept."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = _string_end(text, i)
            i = n if end < 0 else end
        elif ch == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
        else:
            i += 1
    return "".join(out)


def matching_bracket(text: str, start: int) -> int:
    """Offset of the bracket closing the one at ``start`` (strings skipped); -1 if none."""
    depth = 0
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = _string_end(text, i)
            if end < 0:
                return -1
            i = end
            continue
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _clause_starts(text: str, head: str) -> list[int]:
    """Offsets of ``(head`` followed by a non-name character, outside strings."""
    found = []
    pattern = re.compile(r'"|\(' + re.escape(head) + r'(?=[\s"{(<])')
    i = 0
    while True:
        m = pattern.search(text, i)
        if m is None:
            return found
        if m.group() == '"':
            end = _string_end(text, m.start())
            if end < 0:
                return found
            i = end
        else:
            found.append(m.start())
            i = m.end()


# --- lexing --------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_ ]*(?::[A-Za-z0-9_]+)?)>")
_INT = re.compile(r"-?\d+\Z")
_FLOAT = re.compile(r"-?\d*\.\d+\Z")
_WORD_STOP = set(' \t\n\r(){}":')


def lex(src: _Text, start: int = 0, end: int | None = None) -> list[Token]:
    """Tokens of ``src.text[start:end]`` (comments must already be blanked)."""
    text = src.text
    end = len(text) if end is None else end
    tokens: list[Token] = []
    i = start
    while i < end:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(){}":
            tokens.append(Token(ch, ch, src.pos(i)))
            i += 1
            continue
        if ch == '"':
            close = _string_end(text, i)
            if close < 0 or close > end:
                raise LudiiSyntaxError("unclosed string", src.pos(i))
            raw = text[i + 1 : close - 1]
            tokens.append(Token("str", re.sub(r'\\(["\\])', r"\1", raw), src.pos(i)))
            i = close
            continue
        if text.startswith("..", i):
            tokens.append(Token("range", "..", src.pos(i)))
            i += 2
            continue
        if ch == "<":
            m = _PLACEHOLDER.match(text, i, end)
            if m:
                tokens.append(Token("ph", m.group(1), src.pos(i)))
                i = m.end()
                continue
        j = i
        while j < end and text[j] not in _WORD_STOP and not text.startswith("..", j):
            j += 1
        word = text[i:j]
        if j < end and text[j] == ":" and word:
            tokens.append(Token("key", word, src.pos(i)))
            i = j + 1
            continue
        if not word:
            raise LudiiSyntaxError(f"unexpected character {text[i]!r}", src.pos(i))
        if _INT.match(word) or _FLOAT.match(word):
            kind = "num"
        elif re.fullmatch(r"#\d+", word):
            kind = "param"
        elif word == "~":
            kind = "tilde"
        else:
            kind = "name"
        tokens.append(Token(kind, word, src.pos(i)))
        i = j
    return tokens


# --- options -------------------------------------------------------------------------------------


def _value_end(text: str, start: int, limit: int) -> int:
    """Offset of the ``>`` closing an option value opened at ``start`` (a ``>`` or ``<`` right
    after ``(`` is a comparison ludeme such as ``(>= a b)``, not a delimiter)."""
    i = start + 1
    while i < limit:
        ch = text[i]
        if ch == '"':
            close = _string_end(text, i)
            if close < 0:
                return -1
            i = close
            continue
        if ch == ">" and text[i - 1] != "(":
            return i
        i += 1
    return -1


def parse_option(src: _Text, start: int, close: int) -> OptionCategory:
    """The option clause spanning ``src.text[start:close+1]``."""
    text = src.text
    pos = src.pos(start)
    m = re.compile(r'\(option\s+"([^"]*)"\s*<([^>]*)>').match(text, start)
    if m is None:
        raise LudiiSyntaxError('malformed option: expected (option "Heading" <Tag> ...)', pos)
    heading, tag = m.group(1), m.group(2).strip()
    i = m.end()
    args: tuple[str, ...] = ()
    am = re.compile(r"\s*args:\s*\{([^}]*)\}").match(text, i)
    if am:
        args = tuple(re.findall(r"<([^>]*)>", am.group(1)))
        i = am.end()
    items = []
    while True:
        j = text.find("(item", i, close)
        if j < 0:
            break
        k = j + len("(item")
        hm = re.compile(r'\s*"([^"]*)"').match(text, k)
        if hm is None:
            raise LudiiSyntaxError('malformed option item: expected (item "Name" ...)', src.pos(j))
        k = hm.end()
        values = []
        while True:
            while k < close and text[k].isspace():
                k += 1
            if k >= close:
                raise LudiiSyntaxError("unclosed option item", src.pos(j))
            ch = text[k]
            if ch == "<":
                v_end = _value_end(text, k, close)
                if v_end < 0:
                    raise LudiiSyntaxError("option value without closing '>'", src.pos(k))
                values.append((k + 1, v_end))
                k = v_end + 1
            elif ch == '"':
                s_end = _string_end(text, k)
                if s_end < 0:
                    raise LudiiSyntaxError("unclosed string", src.pos(k))
                k = s_end
            elif ch == ")":
                k += 1
                break
            else:
                raise LudiiSyntaxError(f"unexpected {ch!r} in option item", src.pos(k))
        priority = 0
        while k < close and text[k] == "*":
            priority += 1
            k += 1
        items.append(OptionItem(hm.group(1), tuple(values), priority))
        i = k
    if not items:
        raise LudiiSyntaxError(f'option "{heading}" has no items', pos)
    return OptionCategory(heading, tag, args, tuple(items), pos)


def apply_options(tokens: list[Token], src: _Text, options: list[OptionCategory]) -> list[Token]:
    """Replace placeholder tokens by the tokens of each option's default item.

    As in Ludii, ``<Tag:arg>`` takes the value of that argument and a bare ``<Tag>`` the first one;
    an item with no value at all stops option expansion (Ludii returns early there too).
    """
    values: dict[str, list[Token]] = {}
    for option in options:
        item = option.default
        if not item.values:
            break
        lexed = [lex(src, a, b) for a, b in item.values]
        for n, name in enumerate(option.args):
            if n < len(lexed):
                values.setdefault(f"{option.tag}:{name}", lexed[n])
        values.setdefault(option.tag, lexed[0])
    for _ in range(50):
        if not any(t.kind == "ph" and t.text in values for t in tokens):
            break
        out: list[Token] = []
        for t in tokens:
            out.extend(values[t.text] if t.kind == "ph" and t.text in values else [t])
        tokens = out
    for t in tokens:
        if t.kind == "ph":
            raise LudiiSyntaxError(f"option placeholder <{t.text}> has no option", t.pos)
    return tokens


# --- parsing -------------------------------------------------------------------------------------

_CLOSER = {"(": ")", "{": "}"}


def parse_tokens(tokens: list[Token]) -> list[Node]:
    """Top-level forms of a token list (raw trees: params, ``~`` and ``..`` are still atoms)."""
    forms: list[Node] = []
    i = 0
    while i < len(tokens):
        node, i = _parse(tokens, i, None)
        forms.append(node)
    return forms


def _parse(tokens: list[Token], i: int, opener: Token | None) -> tuple[Node, int]:
    tok = tokens[i]
    if tok.kind == "key":
        if i + 1 >= len(tokens) or tokens[i + 1].kind in (")", "}"):
            raise LudiiSyntaxError(f"named argument '{tok.text}:' has no value", tok.pos)
        node, j = _parse(tokens, i + 1, opener)
        if node.key is not None:
            raise LudiiSyntaxError(f"two names '{tok.text}:{node.key}:' for one argument", tok.pos)
        return replace(node, key=tok.text), j
    if tok.kind in (")", "}"):
        where = (
            f" (no '{tok.kind}' expected here)" if opener is None else f" (expected '{_CLOSER[opener.kind]}')"
        )
        raise LudiiSyntaxError(f"unexpected '{tok.kind}'{where}", tok.pos)
    if tok.kind == "(":
        if i + 1 >= len(tokens):
            raise LudiiSyntaxError("'(' is never closed", tok.pos)
        first = tokens[i + 1]
        if first.kind == "(":
            # ((x ...)) is (x ...), as Ludii's double-bracket rule has it
            inner, j = _parse(tokens, i + 1, tok)
            if j >= len(tokens) or tokens[j].kind != ")":
                raise LudiiSyntaxError("'((' without matching '))'", tok.pos)
            return inner, j + 1
        if first.kind not in ("name", "str", "param"):
            raise LudiiSyntaxError(f"expected a ludeme name after '(', found {first.text!r}", first.pos)
        head = '"' + first.text + '"' if first.kind == "str" else first.text
        args, j = _parse_seq(tokens, i + 2, tok)
        return Call(head, tuple(args), tok.pos, tokens[j].pos), j + 1
    if tok.kind == "{":
        items, j = _parse_seq(tokens, i + 1, tok)
        return Array(tuple(items), tok.pos, tokens[j].pos), j + 1
    return _atom(tok), i + 1


def _parse_seq(tokens: list[Token], i: int, opener: Token) -> tuple[list[Node], int]:
    items: list[Node] = []
    closer = _CLOSER[opener.kind]
    while True:
        if i >= len(tokens):
            raise LudiiSyntaxError(f"'{opener.kind}' is never closed", opener.pos)
        if tokens[i].kind == closer:
            return items, i
        if tokens[i].kind in (")", "}"):
            raise LudiiSyntaxError(
                f"'{tokens[i].kind}' closes the '{opener.kind}' opened at {opener.pos.line}:{opener.pos.col}",
                tokens[i].pos,
            )
        node, i = _parse(tokens, i, opener)
        items.append(node)


def _atom(tok: Token) -> Atom:
    if tok.kind == "num":
        return Atom("int" if _INT.match(tok.text) else "float", tok.text, tok.pos)
    if tok.kind == "str":
        return Atom("string", tok.text, tok.pos)
    if tok.kind in ("param", "tilde", "range", "name"):
        return Atom(tok.kind, tok.text, tok.pos)
    raise LudiiSyntaxError(f"unexpected token {tok.text!r}", tok.pos)


# --- files ---------------------------------------------------------------------------------------


def read_text(text: str, name: str) -> SourceFile:
    """Read a description given as text; ``name`` is used in positions."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    src = _Text(blank_comments(text), name)
    masked = list(src.text)
    options: list[OptionCategory] = []
    spans: list[tuple[int, int]] = []
    for head in ("option", "rulesets", "metadata"):
        for start in _clause_starts(src.text, head):
            if any(a <= start <= b for a, b in spans):
                continue
            close = matching_bracket(src.text, start)
            if close < 0:
                raise LudiiSyntaxError(f"'({head}' is never closed", src.pos(start))
            if head == "option":
                options.append(parse_option(src, start, close))
            spans.append((start, close))
    for a, b in spans:
        masked[a : b + 1] = [c if c == "\n" else " " for c in src.text[a : b + 1]]
    options.sort(key=lambda o: (o.pos.line, o.pos.col))
    tokens = lex(_Text("".join(masked), name))
    tokens = apply_options(tokens, src, options)
    result = SourceFile(name, None, options=options)
    for form in parse_tokens(tokens):
        if isinstance(form, Call) and form.head == "define":
            define = _define(form)
            result.defines.setdefault(define.name, define)
        elif isinstance(form, Call) and form.head in ("game", "match"):
            if result.game is not None:
                raise LudiiSyntaxError(f"a second ({form.head} ...) in one file", form.pos)
            result.game = form
        else:
            raise LudiiSyntaxError("expected (define ...), (game ...) or (match ...) at top level", form.pos)
    return result


def _define(form: Call) -> Define:
    if not form.args or not isinstance(form.args[0], Atom) or form.args[0].kind != "string":
        raise LudiiSyntaxError('malformed define: expected (define "Name" ...)', form.pos)
    return Define(form.args[0].text, form.args[1:], form.pos)


def read_file(path: Path | str, name: str | None = None) -> SourceFile:
    """Read a .lud or .def file; positions name it ``name`` (default: the file name)."""
    path = Path(path)
    return read_text(path.read_text(encoding="utf-8"), name or path.name)
