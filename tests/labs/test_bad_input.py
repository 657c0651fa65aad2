"""What would hang a browser tab or fail far from its cause is refused where it is written,
with a ConfigError that says what is wrong and how to fix it."""

from __future__ import annotations

import math

import pytest

import labs


def _sim():
    sim = labs.Simulation(seed=1)
    sim.service("b", lambda ctx, req: {"ok": True})
    return sim


def _run_handler(handler):
    sim = _sim()
    sim.service("a", handler)
    sim.load("a", rate=10, duration=1_000, arrivals="uniform")
    return sim.run()


def _caller(**kw):
    def handler(ctx, req):
        reply = yield ctx.call("b", **kw)
        return reply
    return handler


@pytest.mark.parametrize("kw, words", [
    ({"rate": math.inf}, "rate must be a finite number"),
    ({"rate": math.nan}, "rate must be a number"),
    ({"rate": 10, "duration": math.inf}, "duration must be a finite number"),
    ({"rate": 10, "start": math.inf}, "start must be a finite number"),
    ({"schedule": [(0, 10), (100, math.inf)]}, "rate must be a finite number"),
])
def test_load_refuses_infinite_or_nan_numbers(kw, words):
    with pytest.raises(labs.ConfigError, match=words):
        _sim().load("b", **kw)


@pytest.mark.parametrize("ms, words", [(math.inf, "finite"), (math.nan, "must be a number"),
                                       (-1, ">= 0"), ("3", "must be a number")])
def test_work_refuses_what_would_never_end(ms, words):
    def handler(ctx, req):
        yield ctx.work(ms)
        return {"ok": True}
    with pytest.raises(labs.ConfigError, match=words):
        _run_handler(handler)


@pytest.mark.parametrize("kw, words", [
    ({"retry": 3}, r"retry=.*RetryPolicy"),
    ({"breaker": "payments"}, r"breaker=.*CircuitBreaker"),
    ({"bulkhead": 10}, r"bulkhead=.*Bulkhead"),
    ({"budget": 0.1}, r"budget=.*RetryBudget"),
    ({"timeout": math.inf}, "timeout must be a finite number"),
])
def test_call_refuses_wrong_parts_at_the_call(kw, words):
    with pytest.raises(labs.ConfigError, match=words):
        _run_handler(_caller(**kw))


def test_call_accepts_the_real_parts():
    result = _run_handler(_caller(retry=labs.RetryPolicy(max_attempts=2), bulkhead=labs.Bulkhead(5),
                                  budget=labs.RetryBudget(),
                                  breaker=labs.CircuitBreaker("b", labs.BreakerConfig())))
    assert len(result.requests) > 5


@pytest.mark.parametrize("handler", [lambda req: {"ok": True}, lambda: None,
                                     lambda ctx, req, extra: None])
def test_a_handler_with_the_wrong_arguments_is_refused_at_registration(handler):
    with pytest.raises(labs.ConfigError, match=r"two arguments, handler\(ctx, req\)"):
        labs.Simulation(seed=1).service("a", handler)


def test_a_handler_with_defaults_or_varargs_is_fine():
    sim = labs.Simulation(seed=1)
    sim.service("a", lambda ctx, req, extra=1: {"ok": True})
    sim.service("c", lambda *args: {"ok": True})


def test_load_and_faults_after_run_are_refused():
    sim = _sim()
    sim.load("b", rate=10, duration=100)
    sim.run()
    with pytest.raises(labs.ConfigError, match="after sim.run"):
        sim.load("b", rate=10, duration=100)
    with pytest.raises(labs.ConfigError, match="after sim.run"):
        sim.faults.crash("b", at=10, restart_at=20)
    with pytest.raises(labs.ConfigError, match="after sim.run"):
        sim.faults.slow("b", at=10, until=20)


def test_a_breaker_reused_across_simulations_is_refused():
    breaker = labs.CircuitBreaker("b", labs.BreakerConfig())
    _run_handler(_caller(breaker=breaker))
    with pytest.raises(labs.ConfigError, match="fresh CircuitBreaker"):
        _run_handler(_caller(breaker=breaker))


def test_a_fault_at_infinity_is_refused():
    with pytest.raises(labs.ConfigError, match="finite"):
        _sim().faults.crash("b", at=math.inf)
