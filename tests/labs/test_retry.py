"""Tests of labs.retry: backoff formulas (Brooker/AWS, Resilience4j), retry policy,
retry budget and SRE adaptive throttling."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import AdaptiveThrottle, Backoff, RetryBudget, RetryPolicy


def test_exponential_is_capped_power_of_multiplier():
    """exponential(base, cap) = min(cap, base·2^n), n = attempt."""
    b = Backoff.exponential(100, 1000)
    rng = random.Random(0)
    assert [b.delay(a, rng) for a in range(1, 6)] == [200, 400, 800, 1000, 1000]
    assert Backoff.exponential(100, 10_000, multiplier=3).delay(2, rng) == 900


def test_fixed_ignores_attempt():
    """fixed(ms) waits the same before every retry."""
    rng = random.Random(0)
    assert {Backoff.fixed(250).delay(a, rng) for a in range(1, 10)} == {250}


def test_full_jitter_mean_is_half_the_ceiling():
    """Full jitter: uniform(0, min(cap, base·2^n)); mean ≈ half of the ceiling."""
    b = Backoff.full_jitter(100, 5000)
    rng = random.Random(42)
    for attempt, ceiling in ((1, 200), (3, 800), (7, 5000)):
        draws = [b.delay(attempt, rng) for _ in range(20_000)]
        assert max(draws) <= ceiling and min(draws) >= 0
        assert statistics.fmean(draws) == pytest.approx(ceiling / 2, rel=0.02)
        assert min(draws) < ceiling * 0.01  # reaches down to 0, unlike equal jitter


def test_equal_jitter_stays_in_upper_half():
    """Equal jitter: v/2 + uniform(0, v/2), so never below half the ceiling."""
    b = Backoff.equal_jitter(100, 5000)
    rng = random.Random(1)
    draws = [b.delay(2, rng) for _ in range(5000)]
    assert 200 <= min(draws) < 210 and 390 < max(draws) <= 400
    assert statistics.fmean(draws) == pytest.approx(300, rel=0.02)


def test_decorrelated_uses_previous_delay():
    """Decorrelated: min(cap, uniform(base, previous·3)); None means previous = base."""
    b = Backoff.decorrelated(100, 1000)
    rng = random.Random(3)
    first = [b.delay(1, rng) for _ in range(2000)]
    assert 100 <= min(first) and max(first) <= 300
    later = [b.delay(5, rng, previous=900.0) for _ in range(2000)]
    assert max(later) == 1000  # capped: uniform(100, 2700) often exceeds 1000
    assert min(later) >= 100


def test_resilience4j_random_is_plus_minus_not_full_jitter():
    """ofExponentialRandomBackoff spreads ±factor around initial·mult^(attempt−1)."""
    b = Backoff.resilience4j_exponential_random(500, 1.5, 0.5)
    rng = random.Random(5)
    d1 = [b.delay(1, rng) for _ in range(5000)]
    assert 250 <= min(d1) < 260 and 740 < max(d1) <= 751  # 500 ± 250 (+1 quirk)
    assert all(d == int(d) for d in d1)  # truncated to whole ms like Java's (long) cast
    d3 = [b.delay(3, rng) for _ in range(5000)]  # 500 → 750 → 1125
    assert 562 <= min(d3) and max(d3) <= 1688
    capped = Backoff.resilience4j_exponential_random(500, 2.0, 0.5, max=600)
    assert max(capped.delay(4, rng) for _ in range(100)) == 600


def test_backoff_errors_name_parameter():
    """Bad settings raise ValueError naming the parameter and range."""
    with pytest.raises(ValueError, match="cap"):
        Backoff.full_jitter(100, 50)
    with pytest.raises(ValueError, match="randomization_factor"):
        Backoff.resilience4j_exponential_random(500, 1.5, 1.0)
    with pytest.raises(ValueError, match="multiplier"):
        Backoff.exponential(100, 1000, multiplier=0.5)
    with pytest.raises(ValueError, match="attempt"):
        Backoff.fixed(1).delay(0, random.Random(0))


backoffs = st.one_of(
    st.builds(Backoff.fixed, st.floats(0, 1e5)),
    st.builds(lambda b, k: Backoff.exponential(b, b * k), st.floats(0.1, 1e4), st.floats(1, 1e3)),
    st.builds(lambda b, k: Backoff.full_jitter(b, b * k), st.floats(0.1, 1e4), st.floats(1, 1e3)),
    st.builds(lambda b, k: Backoff.equal_jitter(b, b * k), st.floats(0.1, 1e4), st.floats(1, 1e3)),
    st.builds(lambda b, k: Backoff.decorrelated(b, b * k), st.floats(0.1, 1e4), st.floats(1, 1e3)),
    st.builds(lambda b, m, f, k: Backoff.resilience4j_exponential_random(b, m, f, max=b * k),
              st.floats(1, 1e4), st.floats(1, 3), st.floats(0, 0.99), st.floats(1, 1e3)),
)


@settings(max_examples=300, deadline=None)
@given(b=backoffs, attempts=st.integers(1, 200), seed=st.integers(0, 2**32))
def test_backoff_delays_within_zero_and_cap(b, attempts, seed):
    """Property: every delay is in [0, cap] (and within its attempt's ceiling)."""
    rng = random.Random(seed)
    prev = None
    for a in range(1, min(attempts, 40) + 1):
        d = b.delay(a, rng, prev)
        assert 0 <= d <= b.cap
        assert d <= b.ceiling(a)
        prev = d
    d = b.delay(attempts, rng, prev)
    assert 0 <= d <= b.cap and not math.isnan(d)


def test_retry_policy_defaults_match_resilience4j():
    """max_attempts 3 including the first call, fixed 500 ms wait."""
    p = RetryPolicy()
    rng = random.Random(0)
    assert p.max_attempts == 3 and p.delay(1, rng) == 500
    err = TimeoutError()
    assert p.should_retry(1, err) and p.should_retry(2, err)
    assert not p.should_retry(3, err)  # third call was the last
    assert not RetryPolicy(max_attempts=1).should_retry(1, err)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_retry_policy_predicate():
    """retry_on decides which responses are retried; default: exceptions and ok=False."""

    class Resp:
        def __init__(self, ok, status=200):
            self.ok, self.status = ok, status

    p = RetryPolicy()
    assert p.should_retry(1, Resp(False)) and not p.should_retry(1, Resp(True))
    only_503 = RetryPolicy(retry_on=lambda r: getattr(r, "status", None) == 503)
    assert only_503.should_retry(1, Resp(False, 503))
    assert not only_503.should_retry(1, Resp(False, 400))


def test_custom_predicate_never_retries_a_success():
    """A custom retry_on only chooses among failures; a successful call is never re-sent."""

    class Resp:
        ok, status, reason = True, 200, ""

    everything_but_open = RetryPolicy(retry_on=lambda r: r.reason != "circuit open")
    assert not everything_but_open.should_retry(1, Resp())


def test_retry_budget_limits_retries_to_ratio_plus_floor():
    """Retries allowed while retries <= ratio·requests + floor within the window."""
    b = RetryBudget(ratio=0.1, min_retries_per_second=0, window=10_000)
    for i in range(100):
        b.record_request(i)
    allowed = sum(b.try_retry(100 + i) for i in range(30))
    assert allowed == 10 and b.denied == 20
    # After the window passes, the old requests and retries no longer count.
    assert not b.can_retry(10_050)
    assert b.allowance(20_200) == 0 and not b.can_retry(20_200)


def test_retry_budget_floor_allows_quiet_clients_to_retry():
    """min_retries_per_second·window/1000 retries are allowed with no traffic."""
    b = RetryBudget(ratio=0.1, min_retries_per_second=1, window=10_000)
    assert sum(b.try_retry(float(i)) for i in range(20)) == 10


def test_adaptive_throttle_formula_and_rejection_rate():
    """p = max(0, (requests − K·accepts)/(requests + 1)); draws reject about p."""
    th = AdaptiveThrottle(k=2.0, window=120_000)
    for i in range(100):
        th.record(i, accepted=i < 20)
    assert th.reject_probability(100) == pytest.approx((100 - 40) / 101)
    healthy = AdaptiveThrottle()
    for i in range(100):
        healthy.record(i, accepted=True)
    assert healthy.reject_probability(100) == 0.0
    rng = random.Random(9)
    p = th.reject_probability(100)
    rejects = 0
    for _ in range(2000):
        rejects += th.should_reject(100, rng)
    # Local rejections count as requests, so p rises while the backend stays down.
    assert th.reject_probability(100) > p
    assert 0.6 < rejects / 2000 < 0.99


def test_adaptive_throttle_forgets_after_window():
    """Outcomes older than the window stop counting."""
    th = AdaptiveThrottle(window=1000)
    for i in range(50):
        th.record(i, accepted=False)
    assert th.reject_probability(100) > 0.9
    assert th.reject_probability(1100) == 0.0
