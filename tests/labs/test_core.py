"""Simulation: running, determinism and validation."""

import pytest

import labs


def _run(seed):
    sim = labs.Simulation(seed=seed)

    def front(ctx, req):
        yield ctx.work(1.0)
        r = yield ctx.call("back", req.body, timeout=20)
        return r

    def back(ctx, req):
        yield ctx.work(labs.Exponential(2.0))
        return req.body

    sim.service("front", front)
    sim.service("back", back)
    sim.network.loss = 0.05
    sim.load("front", rate=200, duration=500)
    return sim.run()


def test_same_seed_same_journal_hash():
    """Two runs with one seed produce byte-identical journals."""
    assert _run(3).journal_hash() == _run(3).journal_hash()


def test_different_seed_different_journal_hash():
    """A different seed changes the journal."""
    assert _run(3).journal_hash() != _run(4).journal_hash()


def test_reference_scenario_is_deterministic():
    """The golden reference scenario hashes the same twice and differently for another seed."""
    a, b, c = (labs.scenarios.reference(s, requests=100) for s in (7, 7, 8))
    assert a.journal_hash() == b.journal_hash() != c.journal_hash()


def test_run_until_stops_at_that_time(sim, echo):
    """``run(until=...)`` stops the clock exactly there."""
    sim.service("echo", echo)
    sim.load("echo", rate=100, duration=10_000)
    res = sim.run(until=1_000)
    assert res.end == 1_000
    assert all(e.t <= 1_000 for e in res.journal)


def test_run_can_continue(sim, echo):
    """A second ``run`` continues from where the first stopped."""
    sim.service("echo", echo)
    sim.load("echo", rate=100, duration=2_000)
    first = sim.run(until=1_000)
    second = sim.run()
    assert len(second.requests) > len(first.requests)


def test_duplicate_service_name_rejected(sim, echo):
    """Registering a name twice raises DuplicateServiceError."""
    sim.service("a", echo)
    with pytest.raises(labs.DuplicateServiceError, match="already registered"):
        sim.service("a", echo)


def test_unknown_load_target_suggests_name(sim, echo):
    """A typo in a load target is reported with the close name."""
    sim.service("payments", echo)
    sim.load("paymnts", rate=1, duration=10)
    with pytest.raises(labs.UnknownServiceError, match="Did you mean 'payments'"):
        sim.run()


def test_unknown_call_target_raises(sim):
    """ctx.call to an unregistered name raises with a suggestion (a bug, not a remote error)."""
    def bad(ctx, req):
        yield ctx.call("ordrs")
    sim.service("orders", bad)
    sim.load("orders", rate=10, duration=200, arrivals="uniform")   # surely one arrival
    with pytest.raises(labs.UnknownServiceError, match="orders"):
        sim.run()


def test_concurrency_below_one_rejected(sim, echo):
    """concurrency=0 is a ConfigError naming the parameter."""
    with pytest.raises(labs.ConfigError, match="concurrency"):
        sim.service("a", echo, concurrency=0)


def test_bad_seed_rejected():
    """A non-int seed is refused with an example of the right call."""
    with pytest.raises(labs.ConfigError, match="seed"):
        labs.Simulation(seed="7")


def test_handler_exception_raises_by_default(sim):
    """A bug in a handler shows its traceback instead of hiding as a 500."""
    def broken(ctx, req):
        yield ctx.work(1)
        raise KeyError("amount")
    sim.service("b", broken)
    sim.load("b", rate=10, duration=300, arrivals="uniform")   # surely one arrival
    with pytest.raises(KeyError):
        sim.run()


def test_handler_exception_can_become_500():
    """With handler_errors='500' a handler exception answers 500 and logs an error."""
    sim = labs.Simulation(seed=1, handler_errors="500")

    def broken(ctx, req):
        yield ctx.work(1)
        raise KeyError("amount")
    sim.service("b", broken)
    sim.load("b", rate=10, duration=300)
    res = sim.run()
    assert res.requests and all(r.status == 500 for r in res.requests)
    assert res.logs(level="error")


def test_ids_follow_w3c_shapes():
    """Trace ids are 32 hex chars and span ids 16, never all zero."""
    res = _run(5)
    for e in res.journal:
        if e.kind == "span.start":
            assert len(e.trace_id) == 32 and int(e.trace_id, 16) != 0
            assert len(e.span_id) == 16 and int(e.span_id, 16) != 0
