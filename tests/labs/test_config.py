"""Tests of labs.config: the EDN reader, the Aero-compatible resolver, the schema, drift, secrets.

The expected values of the Aero tests were produced by running juxt/aero 1.1.6
(src/aero/core.cljc at d9935ee) on Clojure 1.11 with the same inputs.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs.config import aero, drift, edn, schema, secrets
from labs.config.edn import Keyword, Symbol, Tagged, kw, read_edn, to_edn


# -- EDN -----------------------------------------------------------------------------
def test_reads_the_config_subset():
    v = read_edn('{:a 1, :b [1.5 "x\\n" nil true] :shop/port 8080N ; comment\n'
                 ' :s #{:x :y} :l (1 2) :t #env PORT #_ :ignored :sym foo}')
    assert v[kw("a")] == 1 and v[kw("b")] == [1.5, "x\n", None, True]
    assert v[Keyword("port", "shop")] == 8080 and str(Keyword("port", "shop")) == ":shop/port"
    assert v[kw("s")] == frozenset({kw("x"), kw("y")}) and list(v[kw("l")]) == [1, 2]
    assert isinstance(v[kw("t")], Tagged) and v[kw("t")].tag == "env" and v[kw("t")].form == Symbol("PORT")
    assert v[kw("sym")] == Symbol("foo") and kw("ignored") not in v


@pytest.mark.parametrize("text, where, what", [
    ("{:a 1\n :b [1 2\n :c 3}", (3, 6), "unmatched delimiter"),
    ("{:a 1\n :b}", (1, 1), "even number"),
    ('{:a "x}', (1, 5), "inside a string"),
    ("{:a [1 2}", (1, 9), "unmatched"),
    ("[1 2", (1, 5), "never closed"),
    ("{:a 1 :a 2}", (1, 1), "duplicate key"),
    ("{:a 1} {:b 2}", (1, 8), "more than one value"),
    ("", (1, 1), "empty"),
    ("{:a #env}", (1, 5), "needs a value"),
])
def test_errors_name_line_and_column(text, where, what):
    with pytest.raises(edn.EdnError, match=what) as e:
        read_edn(text)
    assert (e.value.line, e.value.column) == where
    assert isinstance(e.value, labs.ConfigError)


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.text(alphabet="ab \"\\\n", max_size=5),
              st.sampled_from([kw("a"), kw("shop/port"), kw("b-c")])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from([kw("k"), kw("j"), "s", 1]), inner,
                                            max_size=3)),
    max_leaves=12)


@settings(max_examples=80)
@given(values)
def test_print_then_read_is_the_identity(v):
    """The main invariant of the reader: it reads back what the printer writes."""
    assert read_edn(to_edn(v)) == v


# -- Aero ------------------------------------------------------------------------------
def rd(text, **kw_):
    r = aero.resolve(text, **kw_)
    return to_edn(r.config), r.warnings


# (text, options, the printed result Aero 1.1.6 gave, its warnings)
AERO = [
    ("{:a #env NOPE}", {}, "{:a nil}", []),
    ("{:port #long #or [#env NOPE 8080]}", {}, "{:port 8080}", []),
    ('{:port #long #or [#env NOPE "8080"]}', {}, "{:port 8080}", []),
    ('{:x #double "1.5" :y #double 2}', {}, "{:x 1.5, :y 2.0}", []),
    ('{:x #boolean #env NOPE :y #boolean "TRUE" :z #boolean "yes"}', {}, "{:x false, :y true, :z false}", []),
    ('{:x #keyword "info" :y #keyword :warn :z #keyword #env NOPE}', {}, "{:x :info, :y :warn, :z :}", []),
    ('{:x #envf ["jdbc:postgresql://%s/%s" NOPE_H NOPE_D]}', {}, '{:x "jdbc:postgresql:///"}', []),
    ('{:x #join ["https://" #env NOPE "/v1"]}', {}, '{:x "https:///v1"}', []),
    ("{:x #or [#env A #env B]}", {}, "{:x nil}", []),
    ("{:x #or [false 3]}", {}, "{:x 3}", []),
    ("{:x #profile {:dev 1 :prod 2 :default 0}}", {"profile": "dev"}, "{:x 1}", []),
    ("{:x #profile {:dev 1 :default 0}}", {"profile": "staging"}, "{:x 0}", []),
    ("{:x #profile {:dev 1}}", {"profile": "staging"}, "{:x nil}", []),
    ("{:x #profile {:dev 1 :default 0}}", {}, "{:x 0}", []),
    ("{:x #profile {:dev 1 :prod #long #env NOPE}}", {"profile": "dev"}, "{:x 1}", []),
    ('{:url #join ["jdbc://" #ref [:db :host]] :db {:host "h"}}', {}, '{:url "jdbc://h", :db {:host "h"}}', []),
    ('{:db {:host "h" :port 5} :copy #ref [:db]}', {}, '{:db {:host "h", :port 5}, :copy {:host "h", :port 5}}', []),
    ("{:a #ref [:b] :b #ref [:c] :c 3}", {}, "{:a 3, :b 3, :c 3}", []),
    ("{:a #ref [:nope] :b 1}", {}, "{:a nil, :b 1}", ['WARNING: Unable to resolve "#ref [:nope]" at [:a]']),
    ("{:a #ref [:b] :b #ref [:a] :c 1}", {}, "{:a nil, :b nil, :c 1}",
     ['WARNING: Unable to resolve "#ref [:b]" at [:a]']),
    ("{:a #ref [:a]}", {}, "{:a nil}", ['WARNING: Unable to resolve "#ref [:a]" at [:a]']),
    ('{:hosts ["a" "b"] :first #ref [:hosts 0]}', {}, '{:hosts ["a" "b"], :first "a"}', []),
    ("{:x #merge [{:a 1 :b {:c 1}} {:b {:d 2}}]}", {}, "{:x {:a 1, :b {:d 2}}}", []),
    ("{:x #merge [{:a 1} nil]}", {}, "{:x {:a 1}}", []),
    ('{:s #include "s.edn"}', {"files": {"s.edn": '{:pw #profile {:dev "d" :prod "p"}}'}, "profile": "prod"},
     '{:s {:pw "p"}}', []),
    ('{:s #include "nope.edn"}', {"missing_include": "marker"}, '{:s {:aero/missing-include "nope.edn"}}', []),
    ('{:s #include "i.edn" :port 9}', {"files": {"i.edn": "{:a 1 :b #ref [:a]}"}}, "{:s {:a 1, :b 1}, :port 9}", []),
    ('{:s #include "i.edn" :a2 #ref [:s :a]}', {"files": {"i.edn": "{:a 1}"}}, "{:s {:a 1}, :a2 1}", []),
    ('{:s #include "i.edn" :port 9}', {"files": {"i.edn": "{:p #ref [:port]}"}}, "{:s {:p nil}, :port 9}",
     ['WARNING: Unable to resolve "#ref [:port]" at [:p]']),
    ('{:x #user {#{"alice" "bob"} 1 :default 0}}', {"user": "bob"}, "{:x 1}", []),
    ('{:x #hostname {"db1" 1 :default 0}}', {"env": {"HOSTNAME": "db1"}}, "{:x 1}", []),
    ('{:x #read-edn "{:a [1 2]}"}', {}, "{:x {:a [1 2]}}", []),
    ("{:x #or #profile {:dev [nil 2] :prod [3 4]}}", {"profile": "dev"}, "{:x 2}", []),
]


@pytest.mark.parametrize("text, opts, want, warnings", AERO, ids=[a[0][:40] for a in AERO])
def test_matches_aero(text, opts, want, warnings):
    assert rd(text, **opts) == (want, warnings)


@pytest.mark.parametrize("text, opts, java, message", [
    ("{:port #long #env PORT}", {}, "NumberFormatException", 'For input string: ""'),
    ('{:port #long "80a"}', {}, "NumberFormatException", 'For input string: "80a"'),
    ("{:x #profile {:dev 1 :prod #long #env NOPE}}", {"profile": "prod"}, "NumberFormatException",
     'For input string: ""'),
    ('{:s #include "nope.edn"}', {}, "IllegalArgumentException", "Cannot open <nil> as a Reader."),
    ("{:x #nope 1}", {}, "ExceptionInfo", "No reader for tag nope"),
])
def test_fails_as_aero_fails(text, opts, java, message):
    with pytest.raises(aero.AeroError) as e:
        aero.resolve(text, **opts)
    assert (e.value.java, e.value.aero_message) == (java, message)
    assert isinstance(e.value, labs.ConfigError) and "at [" in str(e.value)


@settings(max_examples=60)
@given(st.dictionaries(st.sampled_from(["PORT", "HOST", "X"]),
                       st.one_of(st.just(""), st.text(alphabet="0123456789ab", max_size=4)), max_size=3),
       st.sampled_from(["dev", "staging", "prod"]))
def test_or_default_never_throws_and_env_wins(env, profile):
    """#long #or [#env PORT 8080] is a number whenever PORT is unset or numeric."""
    text = "{:port #long #or [#env PORT 8080] :h #profile {:dev \"l\" :default #env HOST}}"
    port = env.get("PORT")
    if port is not None and not port.isdigit():
        with pytest.raises(aero.AeroError):
            aero.resolve(text, profile, env=env)
        return
    cfg = aero.resolve(text, profile, env=env).config
    assert cfg[kw("port")] == (int(port) if port else 8080)
    assert cfg[kw("h")] == ("l" if profile == "dev" else env.get("HOST"))


def test_same_inputs_same_result_and_parity():
    assert aero._parity(5) == aero._parity(5) != aero._parity(6)
    assert edn._parity(5) == edn._parity(5)
    assert schema._parity(5) == schema._parity(5)


def test_resolve_config_errors():
    with pytest.raises(labs.ConfigError, match="profile"):
        aero.resolve("{}", 3)
    with pytest.raises(labs.ConfigError, match="missing_include"):
        aero.resolve("{}", missing_include="maybe")
    with pytest.raises(labs.ConfigError, match="env must be a dict"):
        aero.resolve("{}", env=["PORT"])


# -- schema, drift, secrets --------------------------------------------------------------
S = schema.Schema("""[:map [:http [:map [:port [:int {:min 1 :max 65535}]]]]
                     [:db [:map [:url [:string {:min 1}]] [:password [:string {:min 1}]]]]
                     [:log-level [:enum :debug :info :warn]]]""")


@pytest.mark.parametrize("value, humanized", [
    # each expectation is what malli 0.20.1's humanize printed for the same value
    ('{:http {:port 80800} :db {:url ""} :log-level :loud}',
     '{:http {:port ["should be at most 65535"]}, :db {:url ["should be at least 1 character"], '
     ':password ["missing required key"]}, :log-level ["should be either :debug, :info or :warn"]}'),
    ('{:http {:port "8080"} :db nil :log-level :info}',
     '{:http {:port ["should be an integer"]}, :db ["invalid type"]}'),
    ('{:http {:port 0} :db {:url "x" :password nil}}',
     '{:http {:port ["should be at least 1"]}, :db {:password ["should be a string"]}, '
     ':log-level ["missing required key"]}'),
])
def test_humanize_matches_malli(value, humanized):
    assert to_edn(S.humanize(read_edn(value))) == humanized


def test_check_raises_with_every_key():
    good = read_edn('{:http {:port 8080} :db {:url "u" :password "p"} :log-level :info}')
    assert schema.check(S, good) is good and S.validate(good)
    with pytest.raises(schema.ConfigInvalid) as e:
        schema.check(S, read_edn('{:http {:port 80800} :db {:url "u" :password "p"} :log-level :info}'))
    assert "[:http :port] should be at most 65535 (got 80800)" in str(e.value)
    with pytest.raises(labs.ConfigError, match="unknown schema type"):
        schema.Schema("[:map [:a :integer]]")
    closed = schema.Schema("[:map {:closed true} [:a :int]]")
    assert to_edn(closed.humanize(read_edn("{:a 1 :b 2}"))) == '{:b ["disallowed key"]}'


def test_drift_and_secrets():
    a = read_edn('{:a 1 :db {:host "x" :password "p"} :t 800}')
    b = read_edn('{:a 1 :db {:host "y" :password "q"} :t 80 :new true}')
    rows = drift.drift(a, b, expected=[(kw("db"),)], names=("staging", "prod"))
    assert [(r["path"], r["expected"]) for r in rows] == [
        ("[:db :host]", True), ("[:db :password]", True), ("[:t]", False), ("[:new]", False)]
    assert rows[1]["staging"] == "(secret)" and rows[3]["staging"] == "(absent)"
    found = secrets.committed_secrets('{:db {:password #profile {:dev "devpass"\n'
                                      ' :prod #env DB_PASSWORD}}\n :api-key "sk_live_1" :name "shop"}')
    assert [(f["path"], f["line"]) for f in found] == [("[:db :password :dev]", 1), ("[:api-key]", 3)]
    assert all("live" not in f["value"] for f in found)


def test_parity_of_drift_and_secrets():
    assert drift._parity(2) == drift._parity(2) != drift._parity(3)
    assert secrets._parity(2) == secrets._parity(2)
