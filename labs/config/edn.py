"""A small EDN reader (and printer) for the subset configuration files use.

EDN is Clojure's data notation (github.com/edn-format/edn). This reader covers what an
Aero config holds: maps ``{}``, vectors ``[]``, lists ``()``, sets ``#{}``, strings with
the escapes ``\\" \\\\ \\n \\t \\r``, integers (an ``N`` suffix allowed), floats (``M``
allowed), ``nil``, ``true``, ``false``, keywords (``:a``, ``:shop/port``), symbols, tagged
values ``#tag value``, ``;`` comments, commas as whitespace and ``#_`` discard. Not read:
characters (``\\a``), ratios, ``#inst``/``#uuid`` as types (they are kept as tagged
values), metadata.

Python values: map -> ``dict``, vector -> ``list``, list -> :class:`EdnList`, set ->
``frozenset``, keyword -> :class:`Keyword`, symbol -> :class:`Symbol`, ``#tag v`` ->
:class:`Tagged`. A map key must be hashable (a keyword, string, number or set).

Errors are :class:`EdnError` (a :class:`labs.ConfigError`) with the line and column, and
say what was expected, like Clojure's ``Map literal must contain an even number of forms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..kernel.errors import ConfigError

__all__ = ["EdnError", "EdnList", "Keyword", "Symbol", "Tagged", "kw", "read_edn", "to_edn"]


class EdnError(ConfigError):
    """EDN that cannot be read; ``line`` and ``column`` say where (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        self.line, self.column = line, column
        super().__init__(f"line {line}, column {column}: {message}")


@dataclass(frozen=True)
class Keyword:
    """An EDN keyword: ``Keyword("port")`` is ``:port``, ``Keyword("port", "shop")`` ``:shop/port``."""

    name: str
    ns: str | None = None

    def __str__(self) -> str:
        return f":{self.ns}/{self.name}" if self.ns else f":{self.name}"

    __repr__ = __str__


def kw(text: str) -> Keyword:
    """``kw("http")`` or ``kw(":shop/port")``: a keyword from its printed form."""
    text = text[1:] if text.startswith(":") else text
    ns, slash, name = text.partition("/")
    return Keyword(name, ns) if slash and ns and name else Keyword(text)


@dataclass(frozen=True)
class Symbol:
    """An EDN symbol, such as ``PORT`` in ``#env PORT``."""

    name: str

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


@dataclass(frozen=True, eq=False)
class Tagged:
    """A tagged value ``#tag form`` before anything interprets it; ``line`` is where it starts."""

    tag: str
    form: object
    line: int = 0

    def __repr__(self) -> str:
        return f"#{self.tag} {to_edn(self.form)}"


class EdnList(list):
    """An EDN list ``(a b c)`` (a Python list that prints with parentheses)."""


_DELIMS = set("{}[]()\";,") | set(" \t\r\n")
_INT = re.compile(r"^[+-]?\d+N?$")
_FLOAT = re.compile(r"^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$")
_SYMBOL = re.compile(r"^[A-Za-z*+!_?<>=.\-/$%&|][A-Za-z0-9*+!_?<>=.\-/:#$%&|']*$")


class _Reader:
    def __init__(self, text: str) -> None:
        self.s, self.i, self.line, self.col = text, 0, 1, 1

    def error(self, msg: str, line: int | None = None, col: int | None = None):
        raise EdnError(msg, line or self.line, col or self.col)

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        c = self.s[self.i]
        self.i += 1
        if c == "\n":
            self.line, self.col = self.line + 1, 1
        else:
            self.col += 1
        return c

    def skip(self) -> None:
        while self.i < len(self.s):
            c = self.peek()
            if c in " \t\r\n,":
                self.next()
            elif c == ";":
                while self.i < len(self.s) and self.peek() != "\n":
                    self.next()
            elif self.s.startswith("#_", self.i):
                self.next(), self.next()
                self.read(closing=None)
            else:
                break

    def read(self, closing: str | None):
        """One form; returns _END at *closing*, raises at end of input."""
        self.skip()
        line, col = self.line, self.col
        c = self.peek()
        if not c:
            if closing:
                self.error(f"end of input: a {_OPENER[closing]!r} opened earlier is never closed "
                           f"with {closing!r}")
            return _EOF
        if c in ")]}":
            self.next()
            if c != closing:
                self.error(f"unmatched delimiter {c!r}" + (f" (expected {closing!r})" if closing else ""),
                           line, col)
            return _END
        if c == "{":
            self.next()
            items = self.seq("}")
            if len(items) % 2:
                self.error("map literal must contain an even number of forms (a key without "
                           "a value?)", line, col)
            out: dict = {}
            for k, v in zip(items[::2], items[1::2]):
                if isinstance(k, (list, dict)):
                    self.error(f"a map key must be a keyword, string, number or set, got {to_edn(k)}",
                               line, col)
                if k in out:
                    self.error(f"duplicate key {to_edn(k)} in a map", line, col)
                out[k] = v
            return out
        if c == "[":
            self.next()
            return self.seq("]")
        if c == "(":
            self.next()
            return EdnList(self.seq(")"))
        if c == '"':
            return self.string()
        if c == "#":
            self.next()
            if self.peek() == "{":
                self.next()
                items = self.seq("}")
                try:
                    return frozenset(items)
                except TypeError:
                    self.error("a set may hold only keywords, strings, numbers and sets", line, col)
            tag = self.token()
            if not tag or not (tag[0].isalpha()):
                self.error(f"a tag is # followed by a symbol, such as #env, got #{tag}", line, col)
            self.skip()
            if not self.peek() or self.peek() in ")]}":
                self.error(f"#{tag} needs a value after it", line, col)
            form = self.read(closing=None)
            if form is _END:
                self.error(f"#{tag} needs a value after it", line, col)
            return Tagged(tag, form, line)
        tok = self.token()
        return self.atom(tok, line, col)

    def seq(self, closing: str) -> list:
        out = []
        while True:
            form = self.read(closing)
            if form is _END:
                return out
            out.append(form)

    def string(self) -> str:
        line, col = self.line, self.col
        self.next()
        out = []
        while True:
            if self.i >= len(self.s):
                self.error("end of input inside a string (a missing closing \")", line, col)
            c = self.next()
            if c == '"':
                return "".join(out)
            if c == "\\":
                e = self.next() if self.i < len(self.s) else ""
                if e not in _ESC:
                    self.error(f"unsupported escape \\{e} in a string")
                out.append(_ESC[e])
            else:
                out.append(c)

    def token(self) -> str:
        start = self.i
        while self.i < len(self.s) and self.peek() not in _DELIMS:
            self.next()
        return self.s[start:self.i]

    def atom(self, tok: str, line: int, col: int):
        if tok == "nil":
            return None
        if tok in ("true", "false"):
            return tok == "true"
        if _INT.match(tok):
            return int(tok.rstrip("N"))
        if _FLOAT.match(tok):
            return float(tok.rstrip("M"))
        if tok.startswith(":"):
            if tok in (":", "::") or tok.startswith("::"):
                self.error(f"invalid keyword {tok!r}", line, col)
            return kw(tok)
        if _SYMBOL.match(tok):
            return Symbol(tok)
        self.error(f"cannot read {tok!r}", line, col)


_EOF, _END = object(), object()
_OPENER = {"}": "{", "]": "[", ")": "("}
_ESC = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def read_edn(text: str):
    """Read exactly one EDN value from *text* (comments and whitespace around it allowed)."""
    if not isinstance(text, str):
        raise ConfigError(f"read_edn takes the EDN text as a str, got {type(text).__name__}.")
    r = _Reader(text)
    value = r.read(closing=None)
    if value is _EOF:
        r.error("no value: the text is empty")
    r.skip()
    if r.peek():
        r.error("more than one value: a config file holds one map")
    return value


def to_edn(value) -> str:
    """Print *value* as EDN (maps in insertion order, sets sorted by their printed form)."""
    if value is None:
        return "nil"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, Keyword, Symbol)):
        return str(value)
    if isinstance(value, Tagged):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_edn(k)} {to_edn(v)}" for k, v in value.items()) + "}"
    if isinstance(value, EdnList):
        return "(" + " ".join(to_edn(v) for v in value) + ")"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(to_edn(v) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        return "#{" + " ".join(sorted(to_edn(v) for v in value)) + "}"
    return repr(value)


def _parity(seed: int) -> str:
    """Digest of seeded random EDN values printed, read back and printed again."""
    import hashlib
    import random
    rng = random.Random(seed)

    def gen(depth):
        r = rng.random()
        if depth > 2 or r < 0.4:
            return rng.choice([None, True, rng.randrange(-99, 99), f"s{rng.randrange(9)}",
                               kw(f"k{rng.randrange(9)}"), rng.randrange(100) / 4])
        if r < 0.7:
            return {kw(f"k{i}"): gen(depth + 1) for i in range(rng.randrange(4))}
        return [gen(depth + 1) for _ in range(rng.randrange(4))]

    out = [to_edn(read_edn(to_edn(gen(0)))) for _ in range(30)]
    return hashlib.sha256("|".join(out).encode()).hexdigest()
