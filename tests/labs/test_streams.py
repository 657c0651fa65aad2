"""Common random numbers: each source of randomness has its own named stream, so two designs
run from one seed see the same arrivals and bodies, and adding a part changes no other draws."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import labs
from labs.kernel.streams import Streams, stream_seed


def _arrivals(result, target="orders"):
    return [(round(r.start, 9), r.trace_id) for r in result.requests if r.service == target]


def _bodies(sim_factory):
    seen = []

    def body(rng, i):
        b = {"id": i, "amount": rng.randint(1, 500)}
        seen.append(b)
        return b
    sim_factory(body).run()
    return seen


def _design_a(sim):
    def orders(ctx, req):
        yield ctx.work(labs.Exponential(mean=5))
        return {"ok": True}
    sim.service("orders", orders, concurrency=4)


def _design_b(sim):
    """A different design: orders calls payments with retries, on a lossy, slow network."""
    def orders(ctx, req):
        yield ctx.work(labs.Exponential(mean=2))
        reply = yield ctx.call("payments", req.body, timeout=20,
                               retry=labs.RetryPolicy(max_attempts=3,
                                                      backoff=labs.Backoff.full_jitter(5, 50)))
        return reply

    def payments(ctx, req):
        yield ctx.work(labs.LogNormal(median=8, sigma=0.8))
        return {"ok": ctx.rng.random() < 0.9}
    sim.service("orders", orders, concurrency=2)
    sim.service("payments", payments, concurrency=2)
    sim.network.link("orders", "payments", latency=labs.Exponential(mean=3), loss=0.05)
    sim.faults.slow("payments", at=200, until=600, extra=labs.Exponential(mean=50))


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_two_designs_see_identical_arrivals(seed):
    """The same seed gives two different designs exactly the same arrival times and traces."""
    runs = []
    for design in (_design_a, _design_b):
        sim = labs.Simulation(seed=seed, handler_errors="500")
        design(sim)
        sim.load("orders", rate=200, duration=1_000, timeout=500)
        runs.append(sim.run())
    a, b = (_arrivals(r) for r in runs)
    assert len(a) > 150 and a == b
    assert runs[0].journal_hash() != runs[1].journal_hash()   # the designs did differ


def test_two_designs_see_identical_bodies():
    """Request bodies come from the load's own stream, not from whatever the design drew."""
    def make(design):
        def factory(body):
            sim = labs.Simulation(seed=5, handler_errors="500")
            design(sim)
            sim.load("orders", rate=100, duration=500, body=body, timeout=500)
            return sim
        return factory
    assert _bodies(make(_design_a)) == _bodies(make(_design_b))


def test_adding_a_service_and_a_fault_changes_no_other_stream():
    """A new service with its own load, link and fault leaves the first load's arrivals, the
    first service's work and its link draws exactly as they were."""
    def world(extra: bool):
        sim = labs.Simulation(seed=11)
        _design_b(sim)
        if extra:
            def audit(ctx, req):
                yield ctx.work(labs.Exponential(mean=1))
                return {"ok": True}
            sim.service("audit", audit)
            sim.load("audit", rate=300, duration=1_000)
            sim.faults.flaky("audit", at=0, until=1_000, error_rate=0.3)
        sim.load("orders", rate=150, duration=1_000, timeout=500)
        return sim.run()
    base, more = world(False), world(True)
    assert _arrivals(base) == _arrivals(more)

    def orders_to_payments(result):
        return [(e.t, e.kind, e.trace_id) for e in result.journal
                if e.service in ("orders", "payments") and e.peer in ("orders", "payments")]
    assert len(orders_to_payments(base)) > 100
    assert orders_to_payments(base) == orders_to_payments(more)


def test_a_second_load_on_the_same_target_has_its_own_stream():
    """Loads on one target are numbered in the order they are added (#0, #1)."""
    sim = labs.Simulation(seed=3)
    sim.service("orders", lambda ctx, req: {"ok": True})
    first = sim.load("orders", rate=10, duration=100)
    second = sim.load("orders", rate=10, duration=100)
    assert (first.stream_name, second.stream_name) == ("load:orders#0", "load:orders#1")


def test_stream_seeds_are_fixed_values():
    """The derivation is part of the determinism contract: its values never change silently."""
    assert stream_seed(7, "load:orders#0") == stream_seed(7, "load:orders#0")
    assert stream_seed(7, "a") != stream_seed(7, "b") != stream_seed(8, "b")
    assert Random(stream_seed(0, "sim")).random() == Streams(0)("sim").random()
    # the recorded digest: sha256("labs-stream\0" "7\0" "sim")[:16]
    import hashlib
    assert stream_seed(7, "sim") == int.from_bytes(
        hashlib.sha256(b"labs-stream\x007\x00sim").digest()[:16], "big")


def test_a_stream_is_kept_within_a_run():
    """Asking twice for a name gives the same generator (draws continue, never restart)."""
    streams = Streams(1)
    assert streams("x") is streams("x")
    assert streams.names() == ["x"]
    with pytest.raises(labs.ConfigError, match="stream name"):
        streams("")


@given(seed=st.integers(min_value=0, max_value=2**63), name=st.text(min_size=1, max_size=20))
def test_same_seed_and_name_same_sequence(seed, name):
    """Property: a stream depends only on (seed, name)."""
    assert [Streams(seed)(name).random() for _ in range(3)] == \
           [Streams(seed)(name).random() for _ in range(3)]
