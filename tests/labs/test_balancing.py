"""Tests of labs.traffic.balancing: round robin, random, least outstanding, power of two."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs.traffic.balancing import (LeastOutstanding, PowerOfTwo, RandomChoice, RoundRobin,
                                    _parity)

NAMES = ["a", "b", "c", "d"]


def test_round_robin_in_turn_and_exclude():
    rr = RoundRobin()
    assert [rr.pick(NAMES) for _ in range(6)] == ["a", "b", "c", "d", "a", "b"]
    assert rr.pick(NAMES, exclude=("a", "b", "c", "d")) is None
    assert rr.pick(["only"]) == "only"


def test_least_outstanding_and_ties():
    lo = LeastOutstanding()
    lo.outstanding.update({"a": 3, "b": 1, "c": 1, "d": 5})
    assert lo.pick(NAMES) == "b"     # start at a: first of the tied minimum in turn
    assert lo.pick(NAMES) == "b"     # start at b
    assert lo.pick(NAMES) == "c"     # start at c


def test_power_of_two_prefers_the_less_busy():
    p2c = PowerOfTwo(random.Random(1))
    p2c.outstanding.update({"a": 100, "b": 0})
    assert all(p2c.pick(["a", "b"]) == "b" for _ in range(50))


def test_random_is_from_the_given_stream():
    a = [RandomChoice(random.Random(5)).pick(NAMES) for _ in range(1)]
    b = [RandomChoice(random.Random(5)).pick(NAMES) for _ in range(1)]
    assert a == b


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 12), counts=st.data(), seed=st.integers(0, 10 ** 6))
def test_p2c_never_picks_the_busiest_unless_tied(n, counts, seed):
    """Invariant: power of two choices never picks a strict maximum of outstanding calls."""
    names = [f"i{j}" for j in range(n)]
    out = counts.draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    p2c = PowerOfTwo(random.Random(seed))
    p2c.outstanding.update(dict(zip(names, out)))
    top = max(out)
    for _ in range(20):
        choice = p2c.pick(names)
        if out.count(top) == 1:
            assert p2c.outstanding[choice] < top


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 10), calls=st.integers(0, 200))
def test_round_robin_is_fair(n, calls):
    """Invariant: over any number of calls on a fixed list, counts differ by at most one."""
    names = [f"i{j}" for j in range(n)]
    rr = RoundRobin()
    for _ in range(calls):
        rr.pick(names)
    counts = [rr.picked.get(x, 0) for x in names]
    assert max(counts) - min(counts) <= 1


def test_call_counts_outstanding_and_names_the_instance():
    sim = labs.Simulation(seed=2)
    lb = LeastOutstanding()
    seen = []

    def slow(ctx, req):
        yield ctx.work(50.0)
        return {"ok": True}

    def caller(ctx, req):
        reply = yield from lb.call(ctx, ["a", "b"], timeout=10)
        seen.append((reply.status, reply.service))
        return reply

    sim.service("a", slow)
    sim.service("b", slow)
    sim.service("c", caller)
    sim.load("c", rate=10, duration=500)
    sim.run()
    assert seen and all(status == 504 and svc in ("a", "b") for status, svc in seen)
    assert lb.outstanding == {"a": 0, "b": 0}


def test_no_endpoints_is_a_503():
    sim = labs.Simulation(seed=2)
    got = []

    def caller(ctx, req):
        reply = yield from RoundRobin().call(ctx, [])
        got.append((reply.status, reply.reason))
        return reply

    sim.service("c", caller)
    sim.load("c", rate=10, duration=300)
    sim.run()
    assert got and set(got) == {(503, "no endpoints")}


def test_same_seed_same_run():
    assert _parity(5) == _parity(5)


@pytest.mark.parametrize("make, match", [
    (lambda: RandomChoice(7), "random.Random"),
    (lambda: PowerOfTwo(None), "stream"),
    (lambda: RoundRobin().pick("a"), "list"),
])
def test_config_errors(make, match):
    with pytest.raises(labs.ConfigError, match=match):
        make()
