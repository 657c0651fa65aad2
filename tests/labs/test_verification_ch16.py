"""ch16's verification parts: consumer-driven contracts, and explore/shrink over fault plans."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import ConfigError, contracts, explore

C = contracts


def _contract(body):
    return C.Contract("orders", "payments", [C.Interaction("authorize", {"order": 1}, 200, body)])


# -- contracts -------------------------------------------------------------------------
def test_literal_values_match_exactly_and_extra_keys_are_allowed():
    c = _contract({"status": "authorized", "amount_cents": 4200})
    assert C.verify(c, lambda r: (200, {"status": "authorized", "amount_cents": 4200, "new": 1})) == []
    (m,) = C.verify(c, lambda r: (200, {"status": "authorized", "amount_cents": 99}))
    assert m.path == "$.amount_cents" and "4200" in m.expected
    (m,) = C.verify(c, lambda r: (200, {"status": "authorized"}))
    assert m.actual == "no such key"


def test_like_matches_types_recursively_and_booleans_are_not_numbers():
    c = _contract({"amount": C.like({"value": 1, "currency": "EUR"})})
    assert C.verify(c, lambda r: (200, {"amount": {"value": 99.5, "currency": "USD"}})) == []
    assert C.verify(c, lambda r: (200, {"amount": {"value": True, "currency": "USD"}}))
    assert C.verify(c, lambda r: (200, {"amount": {"value": "1", "currency": "USD"}}))


def test_each_like_and_term():
    c = _contract({"lines": C.each_like({"sku": C.like("book")}, min=2),
                   "code": C.term(r"[A-Z0-9]{6}", "A1B2C3")})
    ok = {"lines": [{"sku": "pen"}, {"sku": "cup"}], "code": "ZX81QL"}
    assert C.verify(c, lambda r: (200, ok)) == []
    bad = C.verify(c, lambda r: (200, {"lines": [{"sku": 3}], "code": "short"}))
    assert {m.path for m in bad} == {"$.lines", "$.lines[0].sku", "$.code"}


def test_status_exceptions_and_response_objects():
    c = _contract({"ok": True})
    (m,) = C.verify(c, lambda r: (500, {}))
    assert m.path == "status"
    (m,) = C.verify(c, lambda r: {}["missing"])
    assert "KeyError" in m.actual
    assert C.verify(c, lambda r: labs.Response(200, {"ok": True})) == []


def test_example_and_mock_come_from_the_same_definition():
    body = {"status": "authorized", "amount": C.like(4200), "lines": C.each_like({"sku": "b"}, 2),
            "code": C.term("[0-9]+", "12")}
    c = _contract(body)
    status, mocked = c.mock({"order": 1})
    assert status == 200 and mocked == {"status": "authorized", "amount": 4200,
                                        "lines": [{"sku": "b"}, {"sku": "b"}], "code": "12"}
    # a provider that answers exactly the mock always satisfies the contract
    assert C.verify(c, lambda r: (200, mocked)) == []


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
                           lambda kids: st.lists(kids, max_size=3)
                           | st.dictionaries(st.text(max_size=2), kids, max_size=3), max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(json_values, json_values)
def test_a_value_matches_itself_and_its_type_and_extra_keys_never_break(v, extra):
    """Reflexive: every value matches itself exactly and like itself; adding keys to an
    object response never creates a mismatch (the property that lets providers evolve)."""
    assert C.match(v, v) == []
    assert C.match(C.like(v), v) == []
    if isinstance(v, dict):
        bigger = dict(v)
        for k in (extra if isinstance(extra, dict) else {}):
            bigger.setdefault(f"new-{k}", extra[k])
        assert C.match(v, bigger) == []


def test_contract_errors():
    with pytest.raises(ConfigError, match="does not match its own pattern"):
        C.term("[0-9]+", "abc")
    with pytest.raises(ConfigError, match="valid regex"):
        C.term("[", "x")
    with pytest.raises(ConfigError, match="min"):
        C.each_like(1, min=-1)
    with pytest.raises(ConfigError, match="at least one"):
        C.Contract("a", "b", [])
    with pytest.raises(ConfigError, match="status"):
        C.Interaction("x", {}, 700)
    with pytest.raises(ConfigError, match="description"):
        C.Interaction("", {})
    with pytest.raises(ConfigError, match="no interaction"):
        _contract({}).mock({"order": 2})
    with pytest.raises(ConfigError, match="Contract"):
        C.verify({}, lambda r: (200, {}))


# -- explore and shrink ----------------------------------------------------------------
def _run(seed, plan, size=30):
    sim = labs.Simulation(seed=seed)
    charged: dict = {}

    def orders(ctx, req):
        reply = yield ctx.call("payments", req.body, timeout=40,
                               retry=labs.RetryPolicy(max_attempts=2, backoff=labs.Backoff.fixed(5)))
        return reply.body if reply.ok else labs.Response.error(503, "payments")

    def payments(ctx, req):
        yield ctx.work(5.0)
        charged[req.body["id"]] = charged.get(req.body["id"], 0) + 1
        return {"ok": True}

    sim.service("orders", orders)
    sim.service("payments", payments)
    explore.apply_plan(sim, plan)
    sim.load("orders", rate=50, duration=size * 20, arrivals="uniform")
    res = sim.run()
    res.charged = charged
    return res


def _once(res):
    return [f"{k} charged {n}" for k, n in res.charged.items() if n > 1]


def test_explore_finds_the_double_charge_and_shrink_makes_it_small():
    case = explore.explore(_run, _once, seeds=range(5), plans=6, services=["payments"],
                           horizon=600, kinds=("slow",))
    assert case is not None and case.violations and case.size == 30
    small = explore.shrink(_run, _once, case)
    assert small.violations and len(small.plan) == 1
    assert small.size <= case.size and small.tried > case.tried
    # the shrunk case replays exactly from its seed and plan
    assert _once(_run(small.seed, small.plan, small.size)) == small.violations


def test_explore_returns_none_when_the_invariant_always_holds():
    assert explore.explore(_run, lambda r: [], seeds=range(3), plans=2, services=["payments"],
                           horizon=300) is None


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 5))
def test_random_plans_are_well_formed_and_reproducible(seed, n):
    a = explore.random_plan(Random(seed), ["a", "b"], 1_000, max_faults=n)
    b = explore.random_plan(Random(seed), ["a", "b"], 1_000, max_faults=n)
    assert a == b and len(a) <= n
    for f in a:
        end = f.get("restart_at", f.get("until"))
        assert 0 <= f["at"] < end and f["service"] in ("a", "b")


def test_explore_errors():
    with pytest.raises(ConfigError, match="fault dicts"):
        explore.apply_plan(labs.Simulation(seed=1), "crash")
    with pytest.raises(ConfigError, match="kind"):
        explore.apply_plan(labs.Simulation(seed=1), [{"kind": "boom", "service": "a"}])
    with pytest.raises(ConfigError, match="random.Random"):
        explore.random_plan(None, ["a"], 100)
    with pytest.raises(ConfigError, match="kinds"):
        explore.random_plan(Random(1), ["a"], 100, kinds=("meteor",))
    with pytest.raises(ConfigError, match="None"):
        explore.explore(_run, lambda r: None, seeds=[1])
    with pytest.raises(ConfigError, match="failing Case"):
        explore.shrink(_run, _once, explore.Case(1, (), None, []))


@pytest.mark.parametrize("module", [contracts, explore])
def test_same_seed_same_digest(module):
    assert module._parity(2) == module._parity(2)
