"""Tests of labs.shedding."""

from __future__ import annotations

import pytest

from labs.resilience.shedding import CoDelPolicy, LoadShedder


def test_no_limits_admits_everything():
    """With every limit None, nothing is shed."""
    s = LoadShedder()
    assert all(s.admit(t, 10**6, 10**6, 10**6) for t in range(10))
    assert s.last_reason is None and s.shed == 0


@pytest.mark.parametrize(
    "kwargs,args,reason",
    [
        ({"max_in_flight": 10}, (9, 10, 0.0), "max_in_flight"),
        ({"max_queue": 5}, (5, 1, 0.0), "max_queue"),
        ({"max_queue_delay": 100}, (1, 1, 100.5), "max_queue_delay"),
    ],
)
def test_each_limit_sheds_with_its_reason(kwargs, args, reason):
    """Reaching a limit sheds and names the limit in last_reason."""
    s = LoadShedder(**kwargs)
    assert not s.admit(0, *args)
    assert s.last_reason == reason and s.shed_by_reason[reason] == 1


def test_just_under_limits_admits():
    """One below each limit (and a wait equal to max_queue_delay) is admitted."""
    s = LoadShedder(max_in_flight=10, max_queue=5, max_queue_delay=100)
    assert s.admit(0, 4, 9, 100.0)
    assert s.last_reason is None and s.admitted == 1


def test_errors():
    """Negative limits raise naming the parameter."""
    with pytest.raises(ValueError, match="max_queue"):
        LoadShedder(max_queue=-1)
    with pytest.raises(ValueError, match="max_queue_delay"):
        LoadShedder(max_queue_delay=-1.0)
    with pytest.raises(ValueError, match="interval"):
        CoDelPolicy(target=10, interval=5)


def test_codel_tightens_timeout_for_a_standing_queue():
    """Queue empty recently → interval allowed; not empty for > interval → target only."""
    c = CoDelPolicy(target=5, interval=100)
    c.observe(0, 0)
    c.observe(10, 3)
    assert not c.overloaded(100) and c.timeout(100) == 100
    assert not c.should_drop(100, 50)
    assert c.overloaded(101) and c.timeout(101) == 5
    assert c.should_drop(150, 6) and not c.should_drop(150, 5)
    c.observe(160, 0)
    assert c.timeout(200) == 100
    assert c.dropped == 1
