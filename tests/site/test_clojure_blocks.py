"""Clojure and EDN blocks in docs/: the classifier, and every block checked on both hosts.

The full check evaluates every pure block on JVM Clojure and on nbb (one process each) and
reads the others; it prints what it evaluated, read and exempted, so nothing is skipped
silently. A missing host fails the test with the command that installs it.
"""

from __future__ import annotations

import textwrap

import pytest

from course import clojure_blocks as cb
from tests.conftest import ROOT

DOCS = ROOT / "docs"


def blocks(md: str, path: str = "docs/x.md"):
    return cb.extract_blocks(textwrap.dedent(md), path)


def one(md: str):
    (b,) = blocks(md)
    return b


def error(md: str) -> str:
    with pytest.raises(cb.BlockError) as info:
        blocks(md)
    return str(info.value)


# --------------------------------------------------------------------------- classifier


def test_a_plain_block_is_pure_and_runs_on_both_hosts():
    b = one("""
        Text.

        ```clojure
        (+ 1 2) ;; => 3
        (println "hi")
        ```
        """)
    assert (b.kind, b.hosts, b.runnable, b.line, b.where) == (
        "pure", ("jvm", "nbb"), True, 4, "docs/x.md:4")
    assert [s.text for s in b.steps] == ["(+ 1 2)", '(println "hi")']
    assert [s.line for s in b.steps] == [5, 6]
    assert b.steps[0].expect.kind == "value" and b.steps[0].expect.value == "3"
    assert b.steps[1].expect is None


def test_requires_makes_a_block_read_only():
    b = one("""
        ```clojure
        ;; requires: metosin/reitit 0.10.1
        (ns a (:require [reitit.ring :as ring]))
        ```
        """)
    assert (b.kind, b.requires, b.hosts, b.runnable) == ("read", "metosin/reitit 0.10.1", (), False)


def test_host_directive_needs_a_known_host_and_a_reason():
    b = one("""
        ```clojure
        ;; host: jvm — uses java.time
        (java.time.Instant/now)
        ```
        """)
    assert (b.host, b.host_reason, b.hosts, b.runnable) == ("jvm", "uses java.time", ("jvm",), False)
    c = one("```clojure\n;; host: cljs - uses js/Date\n(js/Date.)\n```\n")
    assert (c.hosts, c.runnable) == (("nbb",), True)
    assert "gives no reason" in error("```clojure\n;; host: jvm\n(+ 1 1)\n```\n")
    assert "names no known host" in error("```clojure\n;; host: python — why\n1\n```\n")


def test_edn_blocks_are_read_only_and_fences_inside_other_fences_are_ignored():
    bs = blocks("""
        ````markdown
        ```clojure
        (this is only an example of a fence
        ```
        ````

        ```edn
        {:port #long #or [#env PORT 8080]}
        ```

        !!! note
            ```clojure title="indented"
            (inc 1) ;; => 2
            ```
        """)
    assert [(b.lang, b.kind, b.line) for b in bs] == [("edn", "read", 8), ("clojure", "pure", 13)]
    assert bs[1].code == "(inc 1) ;; => 2"
    assert bs[1].index == 1


def test_expected_values_may_span_comment_lines_and_follow_on_the_next_line():
    b = one("""
        ```clojure
        (group-by odd? [1 2 3])
        ;; => {true [1 3],
        ;;     false [2]}
        (str "a;b") ; a plain comment
        (keyword "x") ;;=> :x
        ```
        """)
    assert b.steps[0].expect.value == "{true [1 3],\n    false [2]}"
    assert b.steps[1].expect is None
    assert b.steps[2].expect.value == ":x"


def test_throws_with_and_without_message():
    b = one("""
        ```clojure
        (throw (ex-info "insufficient funds" {})) ;; throws ExceptionInfo "insufficient funds"
        (first 1) ;; throws :default
        ```
        """)
    e0, e1 = b.steps[0].expect, b.steps[1].expect
    assert (e0.kind, e0.cls, e0.message) == ("throws", "ExceptionInfo", "insufficient funds")
    assert (e1.cls, e1.message) == (":default", None)
    assert "names a class only one host has" in error(
        "```clojure\n(/ 1 0) ;; throws ArithmeticException\n```\n")
    jvm = one("```clojure\n;; host: jvm — division by zero\n(/ 1 0) ;; throws ArithmeticException\n```\n")
    assert jvm.steps[0].expect.cls == "ArithmeticException"
    assert "cannot read" in error('```clojure\n(f) ;; throws "no class"\n```\n')


def test_the_lexer_handles_strings_chars_comments_and_reader_macros():
    code = r'''(str "(" \) \; "\"") #_(ignored) #{1} #"[a-z]+" ^:private x
'quoted @deref #?(:clj 1 :cljs 2) ::kw #:a{:b 1} #inst "2026-11-28" ##Inf {:a [1 (2)]}'''
    forms, comments = cb.split_forms(code)
    texts = [code[a:b] for a, b in forms]
    assert texts == ['(str "(" \\) \\; "\\"")', "#_(ignored)", "#{1}", '#"[a-z]+"',
                     "^:private x", "'quoted", "@deref", "#?(:clj 1 :cljs 2)", "::kw",
                     "#:a{:b 1}", '#inst "2026-11-28"', "##Inf", "{:a [1 (2)]}"]
    assert comments == []


@pytest.mark.parametrize("md, expected", [
    ("```clojure\n(defn f [x]\n  (inc x)\n```\n", "docs/x.md:2: this '(' is never closed"),
    ("```clojure\n(+ 1 2))\n```\n", "docs/x.md:2: unexpected ')'"),
    ("```clojure\n(let [a 1)\n```\n", "docs/x.md:2: ')' closes the '[' opened at docs/x.md:2"),
    ('```clojure\n(str "abc)\n```\n', "docs/x.md:2: this string is never closed"),
    ("```clojure\n;; => 3\n(+ 1 2)\n```\n", "docs/x.md:2: `;; => 3` comes before any form"),
    ("```clojure\n(+ 1 2) ;; => 3 4\n```\n", "holds 2 forms, not one value"),
    ("```clojure\n(+ 1 2) ;; =>\n```\n", "`;; =>` has no value"),
    ("```clojure\n(+ 1 2) ;; => 3\n;; => 4\n```\n", "a second result comment"),
    ("```clojure\n;; requires: x 1.0\n(f) ;; => 3\n```\n", "is not evaluated"),
    ("```edn\n{:a 1} ;; => 3\n```\n", "is not evaluated"),
    ("```clojure\n;; requires:\n(f)\n```\n", "names nothing"),
    ("```clojure\n\n```\n", "holds no form"),
    ("```clojure\n(+ 1 2)\n", "docs/x.md:1: this ```clojure block is never closed"),
    ("```clj\n(+ 1 2)\n```\n", "docs/x.md:1: a ```clj block is not checked"),
    ("```clojure\n(inc 1)\n(try (f) (catch ExceptionInfo e 1))\n```\n",
     "docs/x.md:3: the symbol ExceptionInfo does not resolve in Scittle"),
])
def test_malformed_blocks_give_a_clear_error_naming_file_and_line(md, expected):
    message = error(md)
    assert expected in message
    assert "fix:" in message


def test_mark_runnable_rewrites_fences_for_the_page():
    md = textwrap.dedent("""
        ```clojure title="a.clj"
        (+ 1 2)
        ```

        ```clojure
        ;; requires: metosin/reitit 0.10.1
        (ns a)
        ```

        ```edn
        {:a 1}
        ```
        """)
    out = cb.mark_runnable(md, "docs/x.md").split("\n")
    assert out[1] == ('```{.clojure .language-clojure .clj-run data-clj-forms="0-7" '
                      'data-clj-where="docs/x.md:2" title="a.clj"}')
    assert out[5].startswith("```{.clojure .language-clojure .clj-static "
                             'data-clj-static="read only: needs metosin/reitit 0.10.1"')
    assert out[10].startswith("```{.edn .language-edn .clj-static")
    assert cb.mark_runnable("no code", "docs/x.md") == "no code"


# --------------------------------------------------------------------------- the hosts


def _check(md: str):
    return cb.check_blocks(blocks(md))


def test_hosts_are_found_or_the_test_says_how_to_install_them():
    try:
        cb.find_clojure()
        cb.find_nbb()
    except cb.HostMissing as err:
        pytest.fail(str(err))


def test_values_are_compared_as_values_and_failures_name_the_line():
    r = _check("""
        ```clojure
        {:b 2 :a 1} ;; => {:a 1, :b 2}
        (map inc [1 2]) ;; => [2 3]
        (+ 1 1) ;; => 3
        ```
        """)
    assert len(r.failures) == 2, r.summary()  # once per host
    assert all(f.startswith("docs/x.md:5 (") and "returned 2" in f for f in r.failures)


def test_host_differences_never_pass_unnoticed():
    r = _check("""
        ```clojure
        (/ 10 4) ;; => 5/2
        ```

        ```clojure
        (/ 1 2) ;; => 0.5
        ```

        ```clojure
        (first "abc") ;; => \\a
        ```

        ```clojure
        (* 1.5 2) ;; => 3.0
        ```
        """)
    text = "\n".join(r.failures)
    # a ratio on the JVM, 2.5 in ClojureScript: each host's = is satisfied, the values differ
    assert "docs/x.md:3 (jvm)" in text and "different values on the two hosts" in text
    assert "docs/x.md:7 (jvm)" in text and "1/2" in text  # the JVM's = fails
    assert "docs/x.md:11 (jvm)" in text  # a char on the JVM, a string on nbb
    assert "docs/x.md:15" not in text, text  # 3.0 and 3 are the same number
    assert len(r.failures) == 3, text


def test_throws_and_uncaught_errors():
    r = _check("""
        ```clojure
        (throw (ex-info "insufficient funds" {:balance 1})) ;; throws ExceptionInfo "insufficient"
        (throw (ex-info "nope" {})) ;; throws ExceptionInfo "funds"
        ```

        ```clojure
        (+ 1 1) ;; throws :default
        ```

        ```clojure
        (throw (ex-info "boom" {}))
        (println "never reached")
        ```
        """)
    text = "\n".join(r.failures)
    assert text.count("docs/x.md:4 (") == 2 and "does not contain \"funds\"" in text
    assert text.count("docs/x.md:8 (") == 2 and "says it throws :default" in text
    assert text.count("docs/x.md:12 (") == 2 and "boom" in text
    assert len(r.failures) == 6, text


def test_each_block_gets_a_fresh_namespace():
    r = _check("""
        ```clojure
        (def x 41)
        (ns shop.orders (:require [clojure.string :as str]))
        (str/upper-case "a") ;; => "A"
        ::id ;; => :shop.orders/id
        ```

        ```clojure
        (resolve 'x) ;; => nil
        (ns shop.orders)
        (resolve 'str/upper-case) ;; => nil
        ```
        """)
    assert r.failures == [], r.summary()


def test_read_only_blocks_are_read_strictly():
    r = _check("""
        ```clojure
        ;; requires: integrant 0.13.1
        (ns a (:require [integrant.core :as ig]))
        (def config {:a #ig/ref :b ::ig/x 1 :c `(foo)})
        #?(:clj 1 :cljs 2)
        ```

        ```clojure
        ;; requires: nothing really
        #=(java.lang.System/exit 1)
        ```

        ```edn
        {:port #long #or [#env PORT 8080] :k #ig/ref :x}
        ```

        ```edn
        {:port #envv PORT}
        ```

        ```edn
        {:a 1 :a 2}
        ```
        """)
    text = "\n".join(r.failures)
    assert "docs/x.md:2 " not in text
    assert "docs/x.md:9 (jvm, read): cannot be read" in text  # no #= reader eval
    assert "docs/x.md:14 " not in text
    assert "docs/x.md:18 (jvm, read): uses the tag #envv" in text
    assert "docs/x.md:22 (jvm, read): is not valid EDN" in text  # duplicate key
    assert len(r.failures) == 3, text


def test_every_block_in_the_docs_passes_on_both_hosts(capsys):
    """The whole course: every ```clojure and ```edn block, nothing skipped silently."""
    try:
        all_blocks = cb.scan_docs(DOCS, ROOT)
        report = cb.check_blocks(all_blocks)
    except cb.HostMissing as err:
        pytest.fail(str(err))
    with capsys.disabled():
        print("\n" + report.summary())
    assert report.blocks, "no ```clojure block found in docs/ (the writers' guide has some)"
    counted = {b.where for h in cb.HOSTS for b in report.evaluated[h]} | {
        b.where for b in report.read_only} | {b.where for b in report.library}
    assert counted == {b.where for b in all_blocks}, "a block was neither evaluated nor read"
    for h in cb.HOSTS:
        for b in all_blocks:
            if b.kind == "pure":
                assert (b in report.evaluated[h]) != any(b is e for e, _ in report.exempt[h])
    assert report.failures == [], report.summary()


# --------------------------------------------------------------------------- Debian libraries


def test_a_debian_line_makes_a_requires_block_run_on_the_jvm():
    b = one("""
        ```clojure
        ;; requires: org.clojure/data.json 2.5.1
        ;; debian: libdata-json-clojure
        (require '[clojure.data.json :as json])
        (json/write-str [1]) ;; => "[1]"
        ```
        """)
    assert b.kind == "library" and b.hosts == ("jvm",) and not b.runnable
    assert b.debian == ("libdata-json-clojure",) and b.steps[1].expect.value == '"[1]"'
    assert "with Debian&#x27;s libdata-json-clojure" in cb.mark_runnable(
        "```clojure\n;; requires: x 1\n;; debian: libdata-json-clojure\n(+ 1 2)\n```\n", "docs/x.md")


def test_a_debian_line_needs_a_requires_line_and_package_names():
    assert "no `;; requires:` line" in error("""
        ```clojure
        ;; debian: libdata-json-clojure
        (+ 1 2)
        ```
        """)
    assert "must name Debian packages" in error("""
        ```clojure
        ;; requires: x 1
        ;; debian: Not_A_Package!
        (+ 1 2)
        ```
        """)


def test_scripts_install_installs_the_debian_libraries():
    """CI can only evaluate `;; debian:` blocks if `scripts/install --test` installs them."""
    install = (ROOT / "scripts" / "install").read_text()
    assert all(pkg in install for pkg in cb.DEBIAN_LIBRARIES)


def test_every_debian_line_names_a_listed_package():
    used = {p for b in cb.scan_docs(DOCS, ROOT) for p in b.debian}
    assert used <= set(cb.DEBIAN_LIBRARIES)
