"""Tests of labs.resilience.gameday: random fault schedules from a named stream."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import ConfigError, FaultSchedule, FaultWindow, Simulation, random_schedule
from labs.resilience.gameday import _parity


def test_same_stream_same_day_and_windows_fit():
    a = random_schedule(random.Random(3), ["a", "b"], 60_000, count=6)
    b = random_schedule(random.Random(3), ["a", "b"], 60_000, count=6)
    assert a == b and len(a) == 6
    assert [w.at for w in a.windows] == sorted(w.at for w in a.windows)
    for w in a.windows:
        assert 5_000 <= w.at < w.until <= 60_000
        assert w.kind in ("slow", "flaky", "crash") and w.service in ("a", "b")


def test_named_streams_differ_and_apply_journals_faults():
    sim = Simulation(seed=1)
    day = random_schedule(sim.stream("gameday:x"), ["back"], 30_000, count=3)
    other = random_schedule(Simulation(seed=1).stream("gameday:y"), ["back"], 30_000, count=3)
    assert day != other
    sim.service("back", lambda ctx, req: {"ok": True})
    day.apply(sim)
    sim.load("back", rate=10, duration=30_000, arrivals="uniform")
    result = sim.run()
    notes = [r[12] for r in result.rows if r[2] == "fault"]
    assert len(notes) == 6                       # a start and an end per window
    assert "s  back" in day.describe()
    assert day.active(day.windows[0].at) and not day.active(0.0)


def test_parameters_follow_their_ranges():
    day = random_schedule(random.Random(5), ["s"], 100_000, count=40, kinds=["slow", "flaky"],
                          slow_ms=(100.0, 200.0), error_rate=(0.3, 0.4))
    for w in day.windows:
        if w.kind == "slow":
            assert 100 <= w.param <= 200
        else:
            assert 0.3 <= w.param <= 0.4


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 12), st.floats(20_000, 200_000))
def test_every_window_lies_inside_the_day(seed, count, duration):
    """Property: whatever the draws, windows start after the quiet time and end in the day."""
    day = random_schedule(random.Random(seed), ["a"], duration, count=count)
    assert len(day) == count
    assert all(5_000 <= w.at and w.until <= duration for w in day.windows)


def test_parity_is_deterministic():
    assert _parity(4) == _parity(4)


@pytest.mark.parametrize("call", [
    lambda: random_schedule("seed", ["a"], 60_000),
    lambda: random_schedule(random.Random(1), [], 60_000),
    lambda: random_schedule(random.Random(1), ["a"], 60_000, kinds=["partition"]),
    lambda: random_schedule(random.Random(1), ["a"], 0),
    lambda: random_schedule(random.Random(1), ["a"], 10_000, max_length=8_000),
    lambda: random_schedule(random.Random(1), ["a"], 60_000, min_length=5_000, max_length=1_000),
    lambda: random_schedule(random.Random(1), ["a"], 60_000, error_rate=(0.5, 1.5)),
    lambda: random_schedule(random.Random(1), ["a"], 60_000, slow_ms=(300.0,)),
    lambda: random_schedule(random.Random(1), ["a"], 60_000, count=-1),
])
def test_bad_parameters_raise_config_error(call):
    with pytest.raises(ConfigError):
        call()
