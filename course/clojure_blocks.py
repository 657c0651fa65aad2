"""Clojure and EDN blocks in the course pages: find them, classify them, check them.

One source of truth for what a block *is*, used by the MkDocs hook (which marks the blocks
a learner can run in the page) and by the tests (which evaluate or read every block):

* a **pure** ```` ```clojure ```` block is evaluated on JVM Clojure *and* on nbb
  (ClojureScript on SCI, the interpreter Scittle runs in the browser), each block in a
  fresh namespace; results written beside the code (``;; => value`` after a top-level form)
  are compared as values, and where both hosts run, the two hosts' values must agree;
* ``;; throws ExceptionInfo "message part"`` after a form expects that form to throw;
* a block whose first line is ``;; requires: <library and version, or a server>`` is only
  *read* (balanced forms, reader syntax, unknown tags such as ``#ig/ref`` accepted);
* a block whose first line is ``;; host: jvm — <why>`` (or ``;; host: cljs — <why>``) is
  pure but host-specific: evaluated on that host only, and reported as exempt on the other
  with the reason given;
* every ```` ```edn ```` block is read as EDN, with Aero's tags (``#env``, ``#profile``,
  ``#ref``, …) and namespaced tags (``#ig/ref``) accepted.

The writers' guide is ``docs/reference/writing-clojure-blocks.md``. Nothing is skipped
silently: a block that cannot be classified is an error naming ``file:line`` and the fix.

Usage: ``python -m course.clojure_blocks [docs]`` checks every block and prints a report.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Block", "BlockError", "Expect", "Step", "HostMissing", "Report",
    "extract_blocks", "scan_docs", "page_markdown", "split_forms", "check_blocks", "mark_runnable",
    "find_clojure", "find_nbb", "NBB_VERSION", "APT_PACKAGES",
]

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
JVM_RUNNER = HERE / "clojure_runner.clj"
NBB_RUNNER = HERE / "clojure_runner.cljs"

#: the npm pin of nbb the checks were written against
NBB_VERSION = "1.6.214"
#: Debian packages that provide /usr/bin/clojure
APT_PACKAGES = ("clojure",)

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
DIRECTIVE_RE = re.compile(r"^\s*;+\s*(?P<key>requires|host)\s*:\s*(?P<value>.*)$")
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
    steps: list[Step] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def kind(self) -> str:
        """``pure`` (evaluated) or ``read`` (read only: EDN, or needs a library or server)."""
        return "pure" if self.lang == "clojure" and self.requires is None else "read"

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts that evaluate this block (none for read-only blocks)."""
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


# --------------------------------------------------------------------------- blocks


def _fence_lang(info: str) -> str:
    m = LANG_RE.match(info.strip())
    return m.group("lang").lower() if m else ""


def extract_blocks(text: str, path: str) -> list[Block]:
    """Every ```clojure and ```edn block of one Markdown page, classified and parsed."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i, index = 0, 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        lang = _fence_lang(m.group("info"))
        # find the closing fence: same character, at least as long, no info string
        j = i + 1
        while j < len(lines):
            c = FENCE_RE.match(lines[j])
            if (c and c.group("fence")[0] == fence[0] and len(c.group("fence")) >= len(fence)
                    and not c.group("info").strip()):
                break
            j += 1
        if j >= len(lines) and lang in ("clojure", "edn"):
            raise BlockError(f"{path}:{i + 1}: this ```{lang} block is never closed.\n"
                             f"  fix: end it with a line of {fence} at the same indentation")
        if lang in OTHER_CLOJURE_LANGS:
            raise BlockError(
                f"{path}:{i + 1}: a ```{lang} block is not checked.\n"
                "  fix: write ```clojure (and `;; host: cljs — why` if it only runs in "
                "ClojureScript), or ```edn for data")
        if lang in ("clojure", "edn"):
            body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip()
                    for ln in lines[i + 1:j]]
            blocks.append(_classify(path, i + 1, lang, "\n".join(body), index))
            index += 1
        i = j + 1
    return blocks


def _classify(path: str, line: int, lang: str, code: str, index: int) -> Block:
    block = Block(path=path, line=line, lang=lang, code=code, index=index)

    def where(code_line: int) -> str:  # code line 1 is the line after the fence
        return f"{path}:{line + code_line}"

    code_lines = code.split("\n")
    # directives: leading comment lines of the block
    for n, text in enumerate(code_lines, start=1):
        if not text.strip():
            continue
        if not text.lstrip().startswith(";"):
            break
        d = DIRECTIVE_RE.match(text)
        if not d:
            other = LOOKS_LIKE_DIRECTIVE_RE.match(text)
            if other and n == 1 and other.group("key") in ("require", "needs", "hosts", "platform"):
                raise BlockError(f"{where(n)}: unknown directive {other.group('key')!r}.\n"
                                 "  fix: write `;; requires: <library version>` or "
                                 "`;; host: jvm — <why>`")
            continue
        key, value = d.group("key"), d.group("value").strip()
        if key == "requires":
            if not value:
                raise BlockError(f"{where(n)}: `;; requires:` names nothing.\n"
                                 "  fix: say what the block needs, e.g. "
                                 "`;; requires: metosin/reitit 0.10.1` or `;; requires: a running server`")
            block.requires = value
        else:
            h = HOST_VALUE_RE.match(value)
            if not h or h.group("host") not in HOST_NAMES:
                raise BlockError(f"{where(n)}: `;; host: {value}` names no known host.\n"
                                 "  fix: write `;; host: jvm — <why>` or `;; host: cljs — <why>`")
            if not (h.group("reason") or "").strip():
                raise BlockError(f"{where(n)}: `;; host: {h.group('host')}` gives no reason.\n"
                                 f"  fix: say why, e.g. `;; host: {h.group('host')} — "
                                 "uses java.time` (the reason is printed in the check report)")
            block.host, block.host_reason = h.group("host"), h.group("reason").strip()
    if block.requires and block.host:
        raise BlockError(f"{block.where}: a block marked `;; requires:` is only read, so "
                         "`;; host:` means nothing there.\n  fix: keep one of the two")
    if lang == "edn" and (block.requires or block.host):
        raise BlockError(f"{block.where}: an ```edn block is always only read; "
                         "`;; requires:`/`;; host:` do not apply.\n"
                         "  fix: remove the directive (or make it a ```clojure block)")

    # forms and what is expected of them
    forms, comments = split_forms(code, where=lambda ln: where(ln), first_line=1)
    if not forms:
        raise BlockError(f"{block.where}: the ```{lang} block holds no form.\n"
                         "  fix: remove the empty block or write the code")
    line_of = lambda off: code.count("\n", 0, off) + 1  # noqa: E731
    steps = [Step(text=code[a:b], line=line + line_of(a)) for a, b in forms]
    consumed: set[int] = set()
    for ci, (off, text) in enumerate(comments):
        if ci in consumed:
            continue
        e, t = EXPECT_RE.match(text), THROWS_RE.match(text)
        if not (e or t):
            continue
        if block.kind != "pure":
            what = "an ```edn block" if lang == "edn" else "a `;; requires:` block"
            raise BlockError(f"{where(line_of(off))}: {what} is not evaluated, so its "
                             "`;; =>`/`;; throws` cannot be checked.\n  fix: write the result as "
                             "prose or a plain comment (`;; returns …`), or make the block pure")
        before = [k for k, (a, b) in enumerate(forms) if b <= off]
        if not before:
            raise BlockError(f"{where(line_of(off))}: `{text.strip()}` comes before any form.\n"
                             "  fix: put the result comment after the form it belongs to")
        step = steps[before[-1]]
        if step.expect is not None:
            raise BlockError(f"{where(line_of(off))}: a second result comment for the form on "
                             f"line {step.line}.\n  fix: one `;; =>` or `;; throws` per form")
        if e:
            value = e.group("value").strip()
            # a value may go on over the following `;;` lines until its brackets balance
            k = ci
            while value and not _balanced(value) and k + 1 < len(comments):
                nxt = comments[k + 1][1]
                if EXPECT_RE.match(nxt) or THROWS_RE.match(nxt) or line_of(comments[k + 1][0]) != line_of(comments[k][0]) + 1:
                    break
                k += 1
                consumed.add(k)
                value += "\n" + re.sub(r"^\s*;+ ?", "", nxt)
            if not value:
                raise BlockError(f"{where(line_of(off))}: `;; =>` has no value after it.\n"
                                 "  fix: write the expected value, e.g. `;; => {:status :paid}`")
            try:
                vforms, _ = split_forms(value, where=lambda ln: where(line_of(off) + ln - 1))
            except BlockError as err:
                raise BlockError(f"{err}\n  (in the expected value after `;; =>`)") from None
            if len(vforms) != 1:
                raise BlockError(f"{where(line_of(off))}: `;; => {value}` holds {len(vforms)} "
                                 "forms, not one value.\n  fix: write one value (wrap several "
                                 "in a vector), or a plain comment (`;; prints …`) for prose")
            step.expect = Expect("value", line + line_of(off), value=value)
        else:
            a = THROWS_ARGS_RE.match(t.group("rest"))
            if not a:
                raise BlockError(f"{where(line_of(off))}: cannot read `{text.strip()}`.\n"
                                 '  fix: write `;; throws ExceptionInfo` or '
                                 '`;; throws ExceptionInfo "part of the message"`')
            cls, msg = a.group("cls"), a.group("msg")
            if msg is not None:
                msg = msg.replace('\\"', '"').replace("\\\\", "\\")
            if block.host is None and cls not in ("ExceptionInfo", ":default"):
                raise BlockError(
                    f"{where(line_of(off))}: `;; throws {cls}` names a class only one host has "
                    "(this block runs on the JVM and in ClojureScript).\n  fix: throw and expect "
                    "`ExceptionInfo` (ex-info), or `:default` for any error, or mark the block "
                    "`;; host: jvm — <why>`")
            step.expect = Expect("throws", line + line_of(off), cls=cls, message=msg)
    block.steps = steps
    if block.runnable:
        for step in steps:
            bare = re.sub(r';[^\n]*', "", re.sub(r'"(?:[^"\\]|\\.)*"', '""', step.text))
            if re.search(r"(?<![\w.*+!?<>=/-])(?:cljs\.core/|clojure\.lang\.)?ExceptionInfo\b", bare):
                raise BlockError(
                    f"{path}:{step.line}: the symbol ExceptionInfo does not resolve in Scittle "
                    "(the browser), nor without an import on the JVM.\n  fix: let the error "
                    "escape and write `;; throws ExceptionInfo` after the form, or test with "
                    "(ex-data e); or mark the block `;; host: jvm — <why>`")
    return block


def scan_docs(docs: Path, root: Path | None = None) -> list[Block]:
    """Every block of every Markdown page under *docs*, in path order.

    Raises :class:`BlockError` listing every problem found (not only the first).
    """
    root = root or docs.parent
    blocks, errors = [], []
    for page in sorted(docs.rglob("*.md")):
        rel = page.relative_to(root).as_posix()
        try:
            blocks.extend(extract_blocks(page.read_text(encoding="utf-8"), rel))
        except BlockError as err:
            errors.append(str(err))
    if errors:
        raise BlockError("\n".join(errors))
    return blocks


# --------------------------------------------------------------------------- the page


def mark_runnable(markdown: str, path: str) -> str:
    """Rewrite the opening fence of each block the page can run, for the Run button.

    The fence ```` ```clojure title="x" ```` becomes
    ```` ```{.clojure .language-clojure .clj-run data-clj-where="path:line" title="x"} ````;
    superfences puts the classes and the data attribute on the code block's wrapper, which
    ``assets/javascripts/clojure-run.js`` finds. Blocks that are read only, or run on the
    JVM only, are marked ``.clj-static`` with the reason in ``data-clj-static``.
    """
    blocks = {b.line: b for b in extract_blocks(markdown, path)}
    if not blocks:
        return markdown
    lines = markdown.split("\n")
    for line, block in blocks.items():
        m = FENCE_RE.match(lines[line - 1])
        info = m.group("info").strip()
        if info.startswith("{"):
            inner = re.sub(r"^\{\s*\.?[\w+#.-]+", "", info.rstrip("}")).strip()
        else:
            inner = re.sub(r"^[\w+#.-]+", "", info).strip()
        attrs = [f".{block.lang}", f".language-{block.lang}"]
        if block.runnable:
            # where each top-level form starts and ends, so the page shows each one's value
            spans, _ = split_forms(block.code)
            attrs += [".clj-run", 'data-clj-forms="' + " ".join(f"{a}-{b}" for a, b in spans) + '"']
        else:
            reason = ("read only: needs " + block.requires if block.requires
                      else "data (EDN), read only" if block.lang == "edn"
                      else "runs on the JVM only: " + (block.host_reason or ""))
            attrs += [".clj-static", f'data-clj-static="{html.escape(reason, quote=True)}"']
        attrs.append(f'data-clj-where="{block.where}"')
        if inner:
            attrs.append(inner)
        lines[line - 1] = f"{m.group('indent')}{m.group('fence')}{{{' '.join(attrs)}}}"
    return "\n".join(lines)


def page_markdown(markdown: str, page) -> str:
    """The MkDocs hook step: mark the page's blocks; a malformed block fails the build."""
    from mkdocs.exceptions import PluginError

    try:
        return mark_runnable(markdown, f"docs/{page.file.src_uri}")
    except BlockError as err:
        raise PluginError(f"{err}\n  (the conventions: docs/reference/writing-clojure-blocks.md)") from None


# --------------------------------------------------------------------------- the hosts


def find_clojure() -> list[str]:
    exe = os.environ.get("CLOJURE") or shutil.which("clojure")
    if not exe:
        raise HostMissing(
            "JVM Clojure is not installed, so the pure Clojure blocks cannot be checked.\n"
            f"  fix: apt-get install {' '.join(APT_PACKAGES)} (scripts/install --test does it), "
            "or set CLOJURE=/path/to/clojure")
    return [exe]


def find_nbb() -> list[str]:
    exe = os.environ.get("NBB")
    candidates = [exe] if exe else []
    candidates += [str(ROOT / "node_modules" / ".bin" / "nbb"), shutil.which("nbb") or ""]
    for c in candidates:
        if c and Path(c).exists():
            if not shutil.which("node"):
                break
            return [c]
    raise HostMissing(
        "nbb (ClojureScript on Node) is not installed, so the pure Clojure blocks cannot be "
        "checked the way the browser runs them.\n"
        f"  fix: npm install nbb@{NBB_VERSION} in the project (it is pinned in package.json), "
        "with Node 20 on PATH; or set NBB=/path/to/nbb")


@dataclass
class Report:
    blocks: list[Block]
    evaluated: dict[str, list[Block]]
    read_only: list[Block]
    exempt: dict[str, list[tuple[Block, str]]]
    failures: list[str]

    def summary(self) -> str:
        out = [f"Clojure/EDN blocks found: {len(self.blocks)}"]
        for h in HOSTS:
            out.append(f"  evaluated on {h}: {len(self.evaluated[h])}")
        out.append(f"  read only (syntax and tags): {len(self.read_only)}")
        for h in HOSTS:
            for b, reason in self.exempt[h]:
                out.append(f"  exempt on {h}: {b.where} — {reason}")
        if self.failures:
            out.append(f"FAILURES ({len(self.failures)}):")
            out += ["  " + f.replace("\n", "\n    ") for f in self.failures]
        return "\n".join(out)


def _job(blocks: list[Block], host: str, nbb_values: dict | None = None) -> list[dict]:
    job = []
    for b in blocks:
        entry = {"id": b.where, "mode": "eval" if host in b.hosts else "read", "lang": b.lang,
                 "code": b.code, "line": b.line, "steps": []}
        if entry["mode"] == "eval":
            for k, s in enumerate(b.steps):
                step = {"text": s.text, "line": s.line}
                if s.expect:
                    step["expect"] = s.expect.kind
                    step["value"] = s.expect.value
                    step["cls"] = s.expect.cls
                    step["msg"] = s.expect.message
                    other = (nbb_values or {}).get((b.where, k))
                    if other is not None:
                        step["other"] = other
                entry["steps"].append(step)
        job.append(entry)
    return job


def _to_edn_string(s: str | None) -> str:
    if s is None:
        return "nil"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _job_edn(job: list[dict]) -> str:
    """The job as EDN, so both runners read it with their own reader (no JSON library)."""
    def val(v):
        if isinstance(v, dict):
            return "{" + " ".join(f":{k} {val(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + " ".join(val(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return _to_edn_string(v)
    tags = " ".join(f'"{t}"' for t in sorted(AERO_TAGS))
    return ("{:aero-tags [" + tags + "]\n :blocks [" + "\n".join(val(e) for e in job)
            + "]}\n")


def _run_host(host: str, job: list[dict], timeout: float) -> dict[str, dict]:
    cmd = find_clojure() + [str(JVM_RUNNER)] if host == "jvm" else find_nbb() + [str(NBB_RUNNER)]
    with tempfile.TemporaryDirectory(prefix="clj-blocks-") as tmp:
        job_file = Path(tmp) / "job.edn"
        job_file.write_text(_job_edn(job), encoding="utf-8")
        try:
            proc = subprocess.run(cmd + [str(job_file)], capture_output=True, text=True,
                                  timeout=timeout, cwd=tmp, stdin=subprocess.DEVNULL)
            stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as err:
            stdout = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
            stderr, rc = f"timed out after {timeout:.0f}s", None
    results: dict[str, dict] = {}
    started = None
    for ln in stdout.splitlines():
        if ln.startswith("@@START "):
            started = ln[len("@@START "):]
        elif ln.startswith("@@RESULT "):
            r = json.loads(ln[len("@@RESULT "):])
            results[r["id"]] = r
            started = None
    if rc != 0 or len(results) != len(job):
        running = f" while checking {started}" if started else ""
        raise RuntimeError(f"the {host} checker stopped{running} (exit {rc}) after "
                           f"{len(results)} of {len(job)} blocks:\n{stderr[-3000:]}")
    return results


def check_blocks(blocks: list[Block], timeout: float = 300) -> Report:
    """Evaluate the pure blocks on nbb, then on the JVM (one process each), and read the rest.

    nbb runs first so that the JVM run can compare its values with nbb's: a value that is
    equal to the expected one on each host but differs between them (a ratio on the JVM and
    a double in ClojureScript, a character and a one-letter string) is a failure too.
    """
    evaluated = {h: [b for b in blocks if h in b.hosts] for h in HOSTS}
    read_only = [b for b in blocks if b.kind == "read"]
    exempt = {h: [(b, f"host: {b.host} — {b.host_reason}") for b in blocks
                  if b.kind == "pure" and h not in b.hosts] for h in HOSTS}
    failures: list[str] = []

    nbb_blocks = evaluated["nbb"]
    nbb_results = _run_host("nbb", _job(nbb_blocks, "nbb"), timeout) if nbb_blocks else {}
    nbb_values = {}
    for b in nbb_blocks:
        r = nbb_results[b.where]
        for k, s in enumerate(r["steps"]):
            if s.get("ok") and b.steps[k].expect and b.steps[k].expect.kind == "value":
                nbb_values[(b.where, k)] = s["actual"]
    # the JVM evaluates its pure blocks and reads every other block (EDN and `requires`)
    jvm_blocks = [b for b in blocks if "jvm" in b.hosts or b.kind == "read"]
    jvm_results = _run_host("jvm", _job(jvm_blocks, "jvm", nbb_values), timeout) if jvm_blocks else {}
    for host, results in (("nbb", nbb_results), ("jvm", jvm_results)):
        for b in blocks:
            r = results.get(b.where)
            if r is None:
                continue
            if r.get("error"):
                failures.append(f"{b.where} ({host}, {'read' if b.kind == 'read' else 'eval'}): "
                                f"{r['error']}")
            for k, s in enumerate(r.get("steps", [])):
                if not s.get("ok"):
                    failures.append(f"{b.path}:{b.steps[k].line} ({host}): {s['message']}")
    return Report(blocks, evaluated, read_only, exempt, failures)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    docs = Path(argv[0]) if argv else ROOT / "docs"
    try:
        report = check_blocks(scan_docs(docs, docs.parent))
    except (BlockError, HostMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
