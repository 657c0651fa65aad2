"""Tests of labs.ratelimit.TokenBucket."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.resilience.ratelimit import TokenBucket


def test_starts_full_and_refills_at_rate():
    """A new bucket grants a full burst, then rate tokens per second."""
    tb = TokenBucket(rate=10, burst=5)
    assert [tb.try_take(0) for _ in range(6)] == [True] * 5 + [False]
    assert tb.available(0) == 0
    assert tb.available(250) == pytest.approx(2.5)
    assert tb.available(10_000) == 5  # never above burst


def test_time_until():
    """time_until says when n tokens will be there; inf if n > burst."""
    tb = TokenBucket(rate=4, burst=2)
    assert tb.time_until(0, 2) == 0
    assert tb.try_take(0, 2)
    assert tb.time_until(0) == pytest.approx(250)
    assert tb.time_until(0, 3) == math.inf
    wait = tb.time_until(0, 2)
    assert not tb.try_take(wait - 1, 2)
    assert tb.try_take(wait, 2)


def test_errors():
    """Bad settings and time going backwards raise."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0.5)
    tb = TokenBucket(1, 1)
    tb.available(10)
    with pytest.raises(ValueError, match="backwards"):
        tb.available(5)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(0.5, 1000),
    burst=st.floats(1, 50),
    steps=st.lists(st.tuples(st.floats(0, 500), st.floats(0.1, 5)), min_size=1, max_size=120),
)
def test_never_grants_more_than_burst_plus_rate_t(rate, burst, steps):
    """Property: over any interval [t_i, t_j], granted <= burst + rate·(t_j − t_i)."""
    tb = TokenBucket(rate, burst)
    t = 0.0
    grants: list[tuple[float, float]] = []
    for dt, n in steps:
        t += dt
        if tb.try_take(t, n):
            grants.append((t, n))
    for i in range(len(grants)):
        total = 0.0
        for j in range(i, len(grants)):
            total += grants[j][1]
            span = grants[j][0] - grants[i][0]
            assert total <= burst + rate * span / 1000.0 + 1e-6
