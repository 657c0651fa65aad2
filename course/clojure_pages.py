"""Finding and classifying the Clojure and EDN blocks of a Markdown page, and marking them.

:func:`extract_blocks` reads one page, :func:`scan_docs` every page, and
:func:`mark_runnable` / :func:`page_markdown` rewrite the fences for the page's Run
buttons (the MkDocs hook). The syntax is in :mod:`course.clojure_syntax`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .clojure_syntax import (DEBIAN_RE, DIRECTIVE_RE, EXPECT_RE, FENCE_RE, HOST_NAMES,
                             HOST_VALUE_RE, LANG_RE, LOOKS_LIKE_DIRECTIVE_RE, OTHER_CLOJURE_LANGS,
                             THROWS_ARGS_RE, THROWS_RE, Block, BlockError, Expect, Step,
                             _balanced, split_forms)

__all__ = ["extract_blocks", "scan_docs", "mark_runnable", "page_markdown"]

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
        if key == "debian":
            pkgs = tuple(value.replace(",", " ").split())
            bad = [p for p in pkgs if not DEBIAN_RE.match(p)]
            if not pkgs or bad:
                raise BlockError(f"{where(n)}: `;; debian: {value}` must name Debian packages.\n"
                                 "  fix: e.g. `;; debian: libring-core-clojure libcheshire-clojure` "
                                 "(apt-cache search clojure lists them)")
            block.debian = pkgs
            continue
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
    if block.debian and not block.requires:
        raise BlockError(f"{block.where}: `;; debian:` says which Debian packages provide what "
                         "`;; requires:` names, and there is no `;; requires:` line.\n"
                         "  fix: put `;; requires: <library version>` first, then `;; debian: …`")
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
        if block.kind == "read":
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
            if block.host is None and not block.debian and cls not in ("ExceptionInfo", ":default"):
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
            reason = ("runs in CI on the JVM with Debian's " + " ".join(block.debian)
                      + "; needs " + (block.requires or "") if block.debian
                      else "read only: needs " + block.requires if block.requires
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


