"""The syntax of the course's Clojure blocks: directives, result comments, and a small lexer.

What a block *is* (:class:`Block`, its :class:`Step` forms and their :class:`Expect`), and
:func:`split_forms`, just enough of the Clojure reader to find the top-level forms. Used by
:mod:`course.clojure_pages` (finding and classifying blocks) and
:mod:`course.clojure_blocks` (checking them); the conventions are in
``docs/reference/writing-clojure-blocks.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Block", "BlockError", "Expect", "HostMissing", "Step", "split_forms",
           "AERO_TAGS", "HOSTS", "HOST_NAMES", "DEBIAN_RE"]



#: fence languages that hold Clojure but are not checked: writers must use ```clojure
OTHER_CLOJURE_LANGS = {"clj", "cljs", "cljc", "bb", "clojurescript"}
#: Aero's reader tags (juxt/aero 1.1.6), accepted in EDN blocks without a namespace
AERO_TAGS = {"env", "envf", "or", "join", "profile", "hostname", "user", "long", "double",
             "keyword", "boolean", "include", "merge", "ref", "read-edn"}
HOSTS = ("jvm", "nbb")
#: the name writers use for each host in ``;; host:`` lines
HOST_NAMES = {"jvm": "jvm", "cljs": "nbb"}

FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
LANG_RE = re.compile(r"^\{?\s*\.?(?P<lang>[\w+#.-]+)")
DIRECTIVE_RE = re.compile(r"^\s*;+\s*(?P<key>requires|host|debian)\s*:\s*(?P<value>.*)$")
#: a Debian package name (``;; debian: libring-core-clojure libcheshire-clojure``)
DEBIAN_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
LOOKS_LIKE_DIRECTIVE_RE = re.compile(r"^\s*;+\s*(?P<key>[a-z-]+)\s*:")
EXPECT_RE = re.compile(r"^\s*;+\s*=>\s?(?P<value>.*)$")
THROWS_RE = re.compile(r"^\s*;+\s*throws\b(?P<rest>.*)$")
THROWS_ARGS_RE = re.compile(r'^\s*(?P<cls>:default|[A-Za-z_$][\w$.]*(?:/[\w$]+)?)'
                            r'(?:\s+"(?P<msg>(?:[^"\\]|\\.)*)")?\s*$')
HOST_VALUE_RE = re.compile(r"^(?P<host>[a-z]+)\s*(?:(?:—|–|-{1,2}|:)\s*(?P<reason>.*))?$")


class BlockError(ValueError):
    """A block the checker cannot classify or parse; the message names file:line and the fix."""


class HostMissing(RuntimeError):
    """A host (JVM Clojure or nbb) is not installed; the message says how to install it."""


@dataclass
class Expect:
    kind: str                 # "value" or "throws"
    line: int                 # line in the page where the comment starts
    value: str | None = None  # the expected value's source text (kind "value")
    cls: str | None = None    # the exception class or ":default" (kind "throws")
    message: str | None = None  # a substring of the exception's message, if given


@dataclass
class Step:
    """One top-level form of a pure block, with what is expected of it (if anything)."""

    text: str
    line: int
    expect: Expect | None = None


@dataclass
class Block:
    path: str                 # e.g. docs/chapters/08-sagas.md
    line: int                 # the line of the opening fence
    lang: str                 # "clojure" or "edn"
    code: str
    index: int                # the n-th ```clojure/```edn block of its page
    requires: str | None = None
    host: str | None = None   # None (both), "jvm" or "cljs"
    host_reason: str | None = None
    debian: tuple[str, ...] = ()  # Debian packages whose jars run a `requires` block
    steps: list[Step] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def kind(self) -> str:
        """``pure`` (evaluated), ``library`` (a ``requires`` block with a ``debian`` line:
        evaluated on the JVM with those Debian packages' jars) or ``read`` (read only:
        EDN, or needs a library Debian does not package, or a server)."""
        if self.lang != "clojure":
            return "read"
        if self.requires is None:
            return "pure"
        return "library" if self.debian else "read"

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts that evaluate this block (none for read-only blocks)."""
        if self.kind == "library":
            return ("jvm",)
        if self.kind != "pure":
            return ()
        if self.host is None:
            return HOSTS
        return (HOST_NAMES[self.host],)

    @property
    def runnable(self) -> bool:
        """Whether the page offers a Run button (Scittle is ClojureScript, like nbb)."""
        return "nbb" in self.hosts


# --------------------------------------------------------------------------- the lexer

_DELIMS = set(" \t\r\n,()[]{}\";")


class _Lexer:
    """Just enough of the Clojure reader to find where each top-level form starts and ends.

    The hosts' own readers do the real reading; this only splits a block into forms so a
    ``;; =>`` comment can be attached to the form before it, and so an unbalanced block is
    reported with its line before any host runs.
    """

    def __init__(self, code: str, where, first_line: int):
        self.s, self.i, self.where, self.first = code, 0, where, first_line

    def line_at(self, i: int) -> int:
        return self.first + self.s.count("\n", 0, i)

    def fail(self, i: int, msg: str, fix: str):
        raise BlockError(f"{self.where(self.line_at(i))}: {msg}\n  fix: {fix}")

    def skip_space(self, comments: list | None = None) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n,":
                self.i += 1
            elif c == ";":
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                if comments is not None:
                    comments.append((self.i, s[self.i:end]))
                self.i = end
            else:
                return

    def form(self) -> None:
        """Consume one form starting at self.i (after whitespace)."""
        s, start = self.s, self.i
        self.skip_space()
        if self.i >= len(s):
            self.fail(start, "a reader prefix (such as ' or #_ or ^) has no form after it",
                      "complete the form or remove the prefix")
        c = s[self.i]
        if c in "([{":
            self.coll(c)
        elif c in ")]}":
            self.fail(self.i, f"unexpected {c!r}: more closing than opening brackets",
                      "balance the brackets of the form before it")
        elif c == '"':
            self.string()
        elif c == "\\":
            self.char()
        elif c in "'`@":
            self.i += 1
            self.form()
        elif c == "~":
            self.i += 2 if s.startswith("~@", self.i) else 1
            self.form()
        elif c == "^":
            self.i += 1
            self.form()  # the metadata
            self.form()  # the form it annotates
        elif c == "#":
            self.dispatch()
        else:
            self.atom()

    def dispatch(self) -> None:
        s = self.s
        nxt = s[self.i + 1:self.i + 2]
        if nxt in ("(", "{"):
            self.i += 1
            self.coll(nxt)
        elif nxt == '"':
            self.i += 1
            self.string()
        elif nxt in ("'", "_", "="):
            self.i += 2
            self.form()
        elif nxt == "#":  # ##Inf ##NaN
            self.i += 2
            self.atom()
        elif nxt == "?":
            self.i += 3 if s.startswith("#?@", self.i) else 2
            self.form()
        elif nxt == ":":  # #:ns{...}
            self.i += 1
            self.atom()
            self.form()
        elif nxt and nxt not in _DELIMS:  # a tagged literal: #inst "...", #ig/ref :x
            self.i += 1
            self.atom()
            self.form()
        else:
            self.fail(self.i, "a lone # is not valid Clojure", "remove it or complete the form")

    def coll(self, opener: str) -> None:
        closer = {"(": ")", "[": "]", "{": "}"}[opener]
        start = self.i
        self.i += 1
        while True:
            self.skip_space()
            if self.i >= len(self.s):
                self.fail(start, f"this {opener!r} is never closed (the block ends first)",
                          f"add the missing {closer!r}")
            c = self.s[self.i]
            if c in ")]}":
                if c != closer:
                    self.fail(self.i, f"{c!r} closes the {opener!r} opened at "
                              f"{self.where(self.line_at(start))}", f"use {closer!r}, or balance the brackets")
                self.i += 1
                return
            self.form()

    def string(self) -> None:
        start, s = self.i, self.s
        self.i += 1
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                self.i += 2
            elif c == '"':
                self.i += 1
                return
            else:
                self.i += 1
        self.fail(start, "this string is never closed", 'add the closing "')

    def char(self) -> None:
        self.i += 2  # the backslash and at least one character (which may be a delimiter)
        while self.i < len(self.s) and self.s[self.i] not in _DELIMS:
            self.i += 1

    def atom(self) -> None:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in _DELIMS:
            self.i += 1
        if self.i == start:
            self.fail(start, "expected a form here", "check the brackets and reader prefixes")


def split_forms(code: str, where=lambda line: f"line {line}", first_line: int = 1):
    """Split *code* into top-level forms.

    Returns ``(forms, comments)``: forms as ``(start, end)`` offsets, top-level comments as
    ``(offset, text)``. Raises :class:`BlockError` (naming the line) if the code is not
    balanced. *where* turns a line number into the location shown in errors.
    """
    lx = _Lexer(code, where, first_line)
    forms, comments = [], []
    while True:
        lx.skip_space(comments)
        if lx.i >= len(code):
            return forms, comments
        start = lx.i
        lx.form()
        forms.append((start, lx.i))


def _balanced(text: str) -> bool:
    try:
        forms, _ = split_forms(text)
    except BlockError:
        return False
    return bool(forms)


