"""Tests of labs.traffic.gateway: fan-out, fallbacks, per-client limits, tail arithmetic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs.traffic.gateway import (ClientLimits, Part, _parity, fan_out, page_quantile_needs,
                                  share_of_pages_hit)


def _world(parts, slow=None, crash=None):
    sim = labs.Simulation(seed=3)
    pages = []

    def backend(ctx, req):
        yield ctx.work({"a": 10.0, "b": 30.0, "c": 20.0}[ctx.service])
        return {"from": ctx.service}

    def gateway(ctx, req):
        page = yield from fan_out(ctx, parts)
        pages.append(page)
        return page.body() if page.ok else labs.Response.error(502, "required part failed")

    for name in ("a", "b", "c"):
        sim.service(name, backend)
    if slow:
        sim.faults.slow(slow, at=0.0, extra=500.0)
    if crash:
        sim.faults.crash(crash, at=0.0)
    sim.service("gateway", gateway)
    sim.load("gateway", rate=5, duration=1_000, arrivals="uniform")
    sim.run()
    return pages


def test_parallel_not_sequential():
    """The page takes as long as its slowest part, not the sum."""
    pages = _world({"a": Part("a"), "b": Part("b"), "c": Part("c")})
    assert pages and all(30.0 <= p.latency < 45.0 for p in pages)   # max(10, 30, 20), not 60
    assert all(p.ok and not p.partial for p in pages)


def test_timeout_and_fallback_make_a_partial_page():
    pages = _world({"a": Part("a", timeout=50), "b": Part("b", timeout=50, fallback="none")},
                   slow="b")
    assert all(p.ok and p.partial for p in pages)
    assert all(p.parts["b"].value == "none" and p.parts["b"].status == 504 for p in pages)
    assert all(49.9 <= p.latency <= 50.1 for p in pages)


def test_required_part_fails_the_page():
    pages = _world({"a": Part("a"), "c": Part("c")}, crash="c")
    assert pages and not any(p.ok for p in pages)
    assert all(p.parts["c"].status == 503 for p in pages)


def test_client_limits_per_key_and_overrides():
    lim = ClientLimits(rate=10, burst=2, overrides={"vip": (100, 5)})
    assert [lim.allow("noisy", 0) for _ in range(3)] == [True, True, False]
    assert lim.allow("quiet", 0)                    # another client: its own bucket
    assert sum(lim.allow("vip", 0) for _ in range(10)) == 5
    assert lim.allow("noisy", 100)                  # 10/s refills one token in 100 ms
    assert lim.denied == {"noisy": 1, "vip": 5}


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(1, 500), burst=st.integers(1, 50),
       gaps=st.lists(st.floats(0, 200), min_size=1, max_size=200))
def test_a_client_never_gets_more_than_burst_plus_rate_t(rate, burst, gaps):
    """Invariant: over any run, one client is allowed at most burst + rate·t requests."""
    lim = ClientLimits(rate=rate, burst=burst)
    t = 0.0
    allowed = 0
    for g in gaps:
        t += g
        allowed += lim.allow("x", t)
        assert allowed <= burst + rate * t / 1000 + 1e-6


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0, 1), n=st.integers(1, 200))
def test_tail_arithmetic(p, n):
    assert 0.0 <= share_of_pages_hit(p, n) <= 1.0
    q = page_quantile_needs(0.99, n)
    assert q ** n == pytest.approx(0.99)
    assert share_of_pages_hit(p, n) >= share_of_pages_hit(p, 1) - 1e-12


def test_tail_at_scale_example():
    """Dean and Barroso: 100 servers, each slow 1 % of the time -> 63 % of requests slow."""
    assert share_of_pages_hit(0.01, 100) == pytest.approx(0.634, abs=1e-3)


def test_same_seed_same_run():
    assert _parity(2) == _parity(2)
    assert _parity(2) != _parity(3)


@pytest.mark.parametrize("make, match", [
    (lambda: Part(""), "service"),
    (lambda: Part("a", timeout=0), "timeout"),
    (lambda: ClientLimits(rate=0, burst=1), "rate"),
    (lambda: ClientLimits(rate=1, burst=0.5), "burst"),
    (lambda: ClientLimits(rate=1, burst=1, overrides={"x": 5}), "pair"),
    (lambda: page_quantile_needs(1.5, 3), "q"),
    (lambda: page_quantile_needs(0.99, 0), "n"),
    (lambda: share_of_pages_hit(-0.1, 3), "p"),
])
def test_config_errors(make, match):
    with pytest.raises(labs.ConfigError, match=match):
        make()


def test_fan_out_rejects_bad_parts():
    sim = labs.Simulation(seed=1)
    errors = []

    def gateway(ctx, req):
        try:
            yield from fan_out(ctx, {"a": "catalog"})
        except labs.ConfigError as e:
            errors.append(str(e))
        return {}

    sim.service("gateway", gateway)
    sim.load("gateway", rate=10, duration=150)
    sim.run()
    assert errors and "labs.Part" in errors[0]
