"""Hypothesis properties of whole runs: outcomes, latencies, journal order, determinism."""

from hypothesis import given, settings
from hypothesis import strategies as st

import labs


def _world(seed, loss, rate, timeout, crash):
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(2.0)
    sim.network.loss = loss

    def front(ctx, req):
        yield ctx.work(labs.Exponential(1.0))
        r = yield ctx.call("back", req.body, timeout=timeout,
                           retry=labs.RetryPolicy(max_attempts=2, backoff=labs.Backoff.fixed(3)))
        return r

    def back(ctx, req):
        yield ctx.work(labs.Exponential(3.0))
        return {}

    sim.service("front", front, concurrency=4, queue=5)
    sim.service("back", back, concurrency=2, queue=3)
    if crash:
        sim.faults.crash("back", at=100, restart_at=200)
    sim.load("front", rate=rate, duration=400, timeout=200)
    return sim.run()


worlds = st.builds(_world, st.integers(0, 10_000), st.sampled_from([0.0, 0.1, 0.5]),
                   st.integers(10, 300), st.sampled_from([20, 50]), st.booleans())


@settings(max_examples=25, deadline=None)
@given(worlds)
def test_every_request_gets_exactly_one_outcome(res):
    """With a client timeout, every request has one answer, whatever the faults."""
    assert labs.checkers.every_request_answered(res) == []
    assert all(r.outcome != "unfinished" for r in res.requests)


@settings(max_examples=25, deadline=None)
@given(worlds)
def test_latency_never_negative_and_bounded_by_timeout(res):
    """Client latency is >= 0 and never exceeds the client timeout."""
    assert all(0 <= r.latency <= 200 + 1e-9 for r in res.requests)


@settings(max_examples=25, deadline=None)
@given(worlds)
def test_journal_times_non_decreasing_and_spans_closed(res):
    """The journal is ordered and every span ends (crashes close spans too)."""
    assert labs.checkers.journal_ordered(res) == []
    assert labs.checkers.spans_closed(res) == []


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_same_seed_same_hash(seed):
    """Any seed replays byte for byte."""
    a = _world(seed, 0.1, 100, 20, True)
    b = _world(seed, 0.1, 100, 20, True)
    assert a.journal_hash() == b.journal_hash()
