"""Tests of labs.bulkhead (Resilience4j SemaphoreBulkhead semantics)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.resilience.bulkhead import Bulkhead


def test_defaults_match_resilience4j():
    """maxConcurrentCalls 25, maxWaitDuration 0."""
    b = Bulkhead()
    assert b.max_concurrent == 25 and b.max_wait == 0


def test_rejects_when_full_and_counts():
    """The (N+1)-th concurrent call is rejected; a release frees a slot."""
    b = Bulkhead(max_concurrent=2)
    events = []
    b.add_event_listener(lambda now, e: events.append(e))
    assert b.try_enter(0) and b.try_enter(0)
    assert not b.try_enter(1)
    assert b.in_use == 2 and b.rejected == 1 and b.available == 0
    b.release(2)
    assert b.try_enter(3)
    m = b.metrics()
    assert (m.permitted, m.rejected, m.finished, m.available_concurrent_calls) == (3, 1, 1, 0)
    assert events == ["CALL_PERMITTED", "CALL_PERMITTED", "CALL_REJECTED",
                      "CALL_FINISHED", "CALL_PERMITTED"]


def test_waiting_bulkhead_leaves_rejection_to_the_simulator():
    """With max_wait > 0 a full bulkhead returns False without counting a rejection."""
    b = Bulkhead(max_concurrent=1, max_wait=50)
    assert b.try_enter(0) and not b.try_enter(1)
    assert b.rejected == 0
    b.reject(51)
    assert b.rejected == 1


def test_errors():
    """Bad settings and unmatched releases raise with clear messages."""
    with pytest.raises(ValueError, match="max_concurrent"):
        Bulkhead(max_concurrent=-1)
    with pytest.raises(ValueError, match="max_wait"):
        Bulkhead(max_wait=-5)
    with pytest.raises(RuntimeError, match="release"):
        Bulkhead().release(0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 5), ops=st.lists(st.booleans(), max_size=100))
def test_never_exceeds_max_concurrent(n, ops):
    """Property: in_use never exceeds max_concurrent and equals permitted − finished."""
    b = Bulkhead(max_concurrent=n)
    for t, enter in enumerate(ops):
        if enter:
            b.try_enter(t)
        elif b.in_use:
            b.release(t)
        assert 0 <= b.in_use <= n
        assert b.in_use == b.permitted - b.finished
    assert b.peak_in_use <= n
