"""Unit and property tests of labs.breaker against Resilience4j 2.4.0's behaviour."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.resilience.breaker import BreakerConfig, CircuitBreaker


def small(**kw):
    base = dict(
        minimum_number_of_calls=4,
        sliding_window_size=4,
        permitted_number_of_calls_in_half_open_state=2,
        wait_duration_in_open_state=1000,
    )
    base.update(kw)
    return BreakerConfig(**base)


def feed(cb, outcomes, t0=0.0, duration=1.0):
    """Acquire and record each outcome ('s', 'e' or 'slow') 1 ms apart; return last time."""
    t = t0
    for o in outcomes:
        assert cb.acquire(t)
        if o == "e":
            cb.on_error(t, duration)
        elif o == "slow":
            cb.on_success(t, 10_000_000)
        else:
            cb.on_success(t, duration)
        t += 1
    return t


def open_breaker(cb):
    t = feed(cb, "eeee")
    assert cb.state == "OPEN"
    return t - 1  # time it opened


def test_defaults_match_resilience4j():
    """Defaults are CircuitBreakerConfig.ofDefaults() from REFERENCE.md §6."""
    c = BreakerConfig.of_defaults()
    assert c == BreakerConfig()
    assert c.failure_rate_threshold == 50.0
    assert c.slow_call_rate_threshold == 100.0
    assert c.slow_call_duration_threshold == 60_000
    assert c.wait_duration_in_open_state == 60_000
    assert c.permitted_number_of_calls_in_half_open_state == 10
    assert c.minimum_number_of_calls == 100
    assert c.sliding_window_size == 100
    assert c.sliding_window_type == "COUNT_BASED"
    assert c.max_wait_duration_in_half_open_state == 0
    assert c.automatic_transition_from_open_to_half_open_enabled is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.sliding_window_size = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("failure_rate_threshold", 0, "(0, 100]"),
        ("failure_rate_threshold", 100.5, "(0, 100]"),
        ("slow_call_rate_threshold", -1, "(0, 100]"),
        ("wait_duration_in_open_state", 0.5, ">= 1 ms"),
        ("permitted_number_of_calls_in_half_open_state", 0, ">= 1"),
        ("minimum_number_of_calls", 0, ">= 1"),
        ("sliding_window_size", 2.5, ">= 1"),
        ("sliding_window_type", "SESSION", "COUNT_BASED"),
        ("max_wait_duration_in_half_open_state", 0.5, ">= 1 ms"),
        ("slow_call_duration_threshold", 0, "> 0 ms"),
    ],
)
def test_config_errors_name_parameter_and_range(field, value, needle):
    """Invalid settings raise a ValueError naming the parameter and the accepted range."""
    with pytest.raises(ValueError) as e:
        BreakerConfig(**{field: value})
    assert field in str(e.value) and needle in str(e.value)


def test_rate_is_minus_one_below_minimum_calls():
    """Fewer buffered calls than minimum_number_of_calls → rates are -1 and it stays CLOSED."""
    cb = CircuitBreaker("b", small())
    feed(cb, "eee")
    m = cb.metrics(10)
    assert cb.state == "CLOSED"
    assert m.failure_rate == -1.0 and m.slow_call_rate == -1.0
    assert m.number_of_buffered_calls == 3 and m.number_of_failed_calls == 3


def test_opens_at_exactly_the_threshold_after_minimum_calls():
    """50 % failures with threshold 50 opens (>=), on the minimum-th call, not before."""
    cb = CircuitBreaker("b", small())
    feed(cb, "ses")
    assert cb.state == "CLOSED"
    feed(cb, "e", t0=3)
    assert cb.state == "OPEN"
    assert cb.metrics(4).failure_rate == 50.0


def test_stays_closed_just_below_threshold():
    """1 failure in 4 (25 %) with threshold 50 % stays CLOSED and reports 25.0."""
    cb = CircuitBreaker("b", small())
    feed(cb, "sses")
    assert cb.state == "CLOSED"
    assert cb.metrics(5).failure_rate == 25.0


def test_count_window_keeps_only_last_n_outcomes():
    """The COUNT_BASED window is a ring of the last N outcomes."""
    cb = CircuitBreaker("b", small(failure_rate_threshold=100.0))
    feed(cb, "esss" + "ssss")
    m = cb.metrics(20)
    assert m.number_of_buffered_calls == 4 and m.number_of_failed_calls == 0


def test_minimum_calls_clamped_to_count_window_size():
    """COUNT_BASED: effective minimum is min(minimum_number_of_calls, window size)."""
    cb = CircuitBreaker("b", small(minimum_number_of_calls=100, sliding_window_size=4))
    feed(cb, "eeee")
    assert cb.state == "OPEN"


def test_stays_open_for_the_wait_then_half_open():
    """OPEN rejects until strictly after the wait; the next acquire moves to HALF_OPEN."""
    cb = CircuitBreaker("b", small())
    opened = open_breaker(cb)
    assert not cb.acquire(opened + 500)
    assert not cb.acquire(opened + 1000)  # isAfter: not yet at exactly the end
    assert cb.state == "OPEN"
    assert cb.metrics(opened + 1000).number_of_not_permitted_calls == 2
    assert cb.acquire(opened + 1000.5)
    assert cb.state == "HALF_OPEN"


def test_half_open_permits_exactly_n_calls():
    """HALF_OPEN hands out exactly N permits and rejects the rest until it decides."""
    cb = CircuitBreaker("b", small(permitted_number_of_calls_in_half_open_state=3,
                                   minimum_number_of_calls=3, sliding_window_size=3))
    feed(cb, "eee")
    t = 5000.0
    results = [cb.acquire(t + i) for i in range(6)]
    assert results == [True, True, True, False, False, False]
    assert cb.metrics(t + 6).number_of_not_permitted_calls == 3


def test_half_open_closes_when_trials_succeed():
    """All N trial calls succeed → CLOSED with a fresh window."""
    cb = CircuitBreaker("b", small())
    opened = open_breaker(cb)
    t = opened + 2000
    assert cb.acquire(t) and cb.acquire(t)
    cb.on_success(t, 1)
    assert cb.state == "HALF_OPEN"  # decides only after N outcomes
    cb.on_success(t, 1)
    assert cb.state == "CLOSED"
    assert cb.metrics(t).number_of_buffered_calls == 0


def test_half_open_reopens_when_trial_rate_reaches_threshold():
    """1 failure of 2 trials = 50 % >= 50 % → back to OPEN, with a new wait."""
    cb = CircuitBreaker("b", small())
    opened = open_breaker(cb)
    t = opened + 2000
    assert cb.acquire(t) and cb.acquire(t)
    cb.on_success(t, 1)
    cb.on_error(t + 1, 1)
    assert cb.state == "OPEN"
    assert not cb.acquire(t + 1000)
    assert cb.acquire(t + 1002)


def test_slow_calls_open_the_breaker():
    """Slow-call rate at its threshold opens it even when every call succeeds."""
    cb = CircuitBreaker("b", small(slow_call_rate_threshold=50.0,
                                   slow_call_duration_threshold=100))
    feed(cb, ["s", "slow", "s", "slow"])
    assert cb.state == "OPEN"
    m = cb.metrics(10)
    assert m.failure_rate == 0.0 and m.slow_call_rate == 50.0
    assert m.number_of_slow_successful_calls == 2


def test_slow_means_strictly_longer_than_threshold():
    """A call lasting exactly the slow threshold is not slow (Resilience4j uses >)."""
    cb = CircuitBreaker("b", small(slow_call_duration_threshold=100))
    cb.acquire(0)
    cb.on_success(0, 100)
    cb.acquire(1)
    cb.on_success(1, 100.001)
    assert cb.metrics(2).number_of_slow_calls == 1


def test_time_based_window_forgets_old_buckets():
    """TIME_BASED keeps N epoch-second buckets; older outcomes drop out."""
    cfg = small(sliding_window_type="TIME_BASED", sliding_window_size=2,
                minimum_number_of_calls=3, failure_rate_threshold=100.0)
    cb = CircuitBreaker("b", cfg)
    for t in (100, 900, 1500):  # seconds 0, 0, 1
        cb.acquire(t)
        cb.on_error(t, 1)
    assert cb.state == "OPEN"  # 3 failures of 3 within seconds 0..1
    cb2 = CircuitBreaker("b2", cfg)
    for t in (100, 900):
        cb2.acquire(t)
        cb2.on_error(t, 1)
    assert cb2.metrics(1999).number_of_buffered_calls == 2
    assert cb2.metrics(2000).number_of_buffered_calls == 0  # second 0 evicted at second 2
    cb2.acquire(2000)
    cb2.on_error(2000, 1)
    assert cb2.state == "CLOSED"


def test_time_based_minimum_not_clamped_to_window_size():
    """TIME_BASED: minimum_number_of_calls may exceed the window size in seconds."""
    cb = CircuitBreaker("b", small(sliding_window_type="TIME_BASED", sliding_window_size=2,
                                   minimum_number_of_calls=5))
    feed(cb, "eeee")
    assert cb.state == "CLOSED"
    feed(cb, "e", t0=10)
    assert cb.state == "OPEN"


def test_automatic_transition_and_next_transition_time():
    """With automatic transition, next_transition_time() is the end of the wait."""
    cb = CircuitBreaker("b", small(automatic_transition_from_open_to_half_open_enabled=True))
    assert cb.next_transition_time() is None
    opened = open_breaker(cb)
    assert cb.next_transition_time() == opened + 1000
    cb.advance(opened + 999)
    assert cb.state == "OPEN"
    cb.advance(opened + 1000)
    assert cb.state == "HALF_OPEN"


def test_max_wait_in_half_open_reopens():
    """max_wait_duration_in_half_open_state forces HALF_OPEN → OPEN when trials hang."""
    cb = CircuitBreaker("b", small(max_wait_duration_in_half_open_state=300))
    opened = open_breaker(cb)
    t = opened + 1001
    assert cb.acquire(t)
    assert cb.next_transition_time() == t + 300
    cb.advance(t + 299)
    assert cb.state == "HALF_OPEN"
    cb.advance(t + 300)
    assert cb.state == "OPEN"


def test_listeners_see_transitions_and_events():
    """add_listener gets transitions only; add_event_listener gets every event."""
    cb = CircuitBreaker("b", small())
    transitions, events = [], []
    cb.add_listener(lambda *a: transitions.append(a))
    cb.add_event_listener(lambda now, name, frm, to: events.append(name))
    opened = open_breaker(cb)
    cb.acquire(opened + 1)
    assert transitions == [(opened, "STATE_TRANSITION", "CLOSED", "OPEN")]
    assert events == ["ERROR"] * 4 + ["FAILURE_RATE_EXCEEDED", "STATE_TRANSITION",
                                      "NOT_PERMITTED"]


def test_forced_disabled_metrics_only_and_reset():
    """Manual states behave as in Resilience4j; reset returns a fresh CLOSED breaker."""
    cb = CircuitBreaker("b", small())
    cb.transition_to("FORCED_OPEN", 0)
    assert not cb.acquire(1) and not cb.acquire(10**9)
    assert cb.metrics(10**9).number_of_not_permitted_calls == 2
    cb.transition_to("DISABLED", 10**9)
    feed(cb, "eeeeeeee", t0=10**9)
    assert cb.state == "DISABLED" and cb.metrics(2 * 10**9).number_of_buffered_calls == 0
    cb.transition_to("METRICS_ONLY", 2 * 10**9)
    feed(cb, "eeeeeeee", t0=2 * 10**9)
    assert cb.state == "METRICS_ONLY" and cb.metrics(3 * 10**9).failure_rate == 100.0
    seen = []
    cb.add_event_listener(lambda now, name, frm, to: seen.append((name, frm, to)))
    cb.reset(3 * 10**9)
    assert cb.state == "CLOSED"
    assert seen == [("STATE_TRANSITION", "METRICS_ONLY", "CLOSED"),
                    ("RESET", "CLOSED", "CLOSED")]
    with pytest.raises(ValueError, match="state"):
        cb.transition_to("AJAR", 3 * 10**9)


def test_time_must_not_go_backwards():
    """A now earlier than one already seen is a setup bug and raises."""
    cb = CircuitBreaker("b", small())
    cb.acquire(10)
    with pytest.raises(ValueError, match="backwards"):
        cb.acquire(5)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 6),
    steps=st.lists(
        st.tuples(st.sampled_from(["acq", "acq", "ok", "err", "err", "ign"]),
                  st.sampled_from([0.0, 1.0, 250.0, 1200.0])),
        max_size=80,
    ),
)
def test_half_open_never_permits_more_than_n(n, steps):
    """Property: outstanding permits granted in one HALF_OPEN episode never exceed N."""
    cb = CircuitBreaker("p", small(permitted_number_of_calls_in_half_open_state=n,
                                   minimum_number_of_calls=n, sliding_window_size=n))
    t = 0.0
    outstanding = 0
    granted_this_episode = 0
    released = 0
    for op, dt in steps:
        t += dt
        before = cb.state
        if op == "acq":
            ok = cb.acquire(t)
            if cb.state == "HALF_OPEN" and before != "HALF_OPEN":
                granted_this_episode, released = 0, 0
            if ok:
                outstanding += 1
                if cb.state == "HALF_OPEN":
                    granted_this_episode += 1
        elif outstanding:
            outstanding -= 1
            if op == "ok":
                cb.on_success(t, 1)
            elif op == "err":
                cb.on_error(t, 1)
            else:
                cb.on_ignored(t)
                if cb.state == "HALF_OPEN":
                    released += 1
        if cb.state == "HALF_OPEN":
            assert granted_this_episode - released <= n


@pytest.mark.parametrize("frm,to", [("CLOSED", "HALF_OPEN"), ("METRICS_ONLY", "OPEN"),
                                    ("METRICS_ONLY", "HALF_OPEN")])
def test_refuses_the_transitions_resilience4j_refuses(frm, to):
    """Resilience4j's StateTransition table has no CLOSED -> HALF_OPEN and no METRICS_ONLY ->
    OPEN/HALF_OPEN: transitionToHalfOpenState() on a fresh breaker throws
    IllegalStateTransitionException, and so does the simulator."""
    from labs.resilience.breaker import IllegalStateTransition
    cb = CircuitBreaker("b", small())
    if frm != "CLOSED":
        cb.transition_to(frm, 0)
    with pytest.raises(IllegalStateTransition, match=f"{frm} -> {to}"):
        cb.transition_to(to, 1)
    assert cb.state == frm


def test_allowed_manual_transitions():
    """Every other pair exists in Resilience4j and is accepted."""
    states = CircuitBreaker.STATES
    refused = {("CLOSED", "HALF_OPEN"), ("METRICS_ONLY", "OPEN"), ("METRICS_ONLY", "HALF_OPEN")}
    for frm in states:
        for to in states:
            if (frm, to) in refused:
                continue
            cb = CircuitBreaker("b", small())
            if frm == "HALF_OPEN":
                cb.transition_to("OPEN", 0)
            if frm != "CLOSED":
                cb.transition_to(frm, 0)
            cb.transition_to(to, 1)
            assert cb.state == to


def test_time_based_minimum_is_not_capped():
    """TIME_BASED: the minimum is minimumNumberOfCalls unchanged (not min(minimum, size)),
    so a trickle of failures below the minimum per window never opens the breaker."""
    cb = CircuitBreaker("b", BreakerConfig(sliding_window_type="TIME_BASED",
                                           sliding_window_size=10, minimum_number_of_calls=20))
    t = 0.0
    for _ in range(200):          # one failing call a second, for 200 s
        assert cb.acquire(t)
        cb.on_error(t, 1.0)
        t += 1000.0
    assert cb.state == "CLOSED" and cb.metrics(t).failure_rate == -1.0


def test_half_open_decides_after_min_of_minimum_and_permitted():
    """HALF_OPEN decides after min(minimum_number_of_calls, permitted) outcomes, by the
    thresholds: with 4 permits and a minimum of 4, 1 failure in 4 (25 %) closes it."""
    cb = CircuitBreaker("b", small(permitted_number_of_calls_in_half_open_state=4))
    opened = open_breaker(cb)
    t = feed(cb, "sse", t0=opened + 1001)
    assert cb.state == "HALF_OPEN"
    feed(cb, "s", t0=t)
    assert cb.state == "CLOSED"
    cb2 = CircuitBreaker("b", small(permitted_number_of_calls_in_half_open_state=4))
    opened = open_breaker(cb2)
    feed(cb2, "sees", t0=opened + 1001)   # 2 of 4 failed: 50 % >= 50 %
    assert cb2.state == "OPEN"
