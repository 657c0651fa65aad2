"""Tests of labs.delivery pods, probes and JVM memory (Kubernetes' and HotSpot's semantics)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import (ConfigError, Exponential, JvmMemory, PodSpec, Pods, Probe, ProbeState,
                  Simulation, Uniform, default_max_heap)
from labs.delivery import pods as pods_module


# -- probes ---------------------------------------------------------------------------------
def test_probe_defaults_are_kubernetes_defaults():
    p = Probe()
    assert (p.initial_delay, p.period, p.timeout, p.success_threshold, p.failure_threshold) == (
        0.0, 10_000.0, 1_000.0, 1, 3)
    assert p.budget() == 30_000.0


def test_probe_state_flips_at_the_thresholds():
    st_ = ProbeState(Probe(failure_threshold=3, success_threshold=2), ok=True)
    assert [st_.record(False) for _ in range(3)] == [None, None, False]
    assert st_.record(False) is None             # already failed: reported once
    assert [st_.record(True), st_.record(True)] == [None, True]
    st_.record(False)
    assert st_.failures == 1 and st_.ok          # one failure is not a verdict


@pytest.mark.parametrize("make, match", [
    (lambda: Probe(period=500), "period"), (lambda: Probe(timeout=0), "timeout"),
    (lambda: Probe(failure_threshold=0), "failure_threshold"),
    (lambda: Probe(initial_delay=-1), "initial_delay"),
    (lambda: PodSpec(liveness_probe=Probe(success_threshold=2)), "must be 1"),
    (lambda: PodSpec(startup_probe=Probe(success_threshold=3)), "must be 1"),
    (lambda: PodSpec(readiness_probe="http"), "Probe"),
    (lambda: PodSpec(grace=-1), "grace"), (lambda: PodSpec(memory=512), "JvmMemory"),
    (lambda: PodSpec(threads=0), "threads"),
    (lambda: JvmMemory(limit_mib=0), "limit_mib"), (lambda: JvmMemory(max_ram_percentage=120), "max_ram"),
    (lambda: JvmMemory(gc_headroom=0.5), "gc_headroom"), (lambda: JvmMemory(threads=0), "threads"),
    (lambda: JvmMemory(xmx_mib=-5), "xmx_mib"),
])
def test_config_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


# -- JVM memory -------------------------------------------------------------------------------
def test_default_heap_follows_hotspot():
    """25 % of the limit, at least MaxHeapSize's default (~124.8 MiB); 50 % for small memory."""
    assert default_max_heap(1024) == 256.0
    assert default_max_heap(4096) == 1024.0
    assert default_max_heap(200) == 100.0                   # 50 % of 200 < 124.8: small memory
    assert default_max_heap(300) == pytest.approx(124.8)    # 25 % of 300 = 75 < MaxHeapSize
    assert default_max_heap(1024, 75) == 768.0


def test_xmx_wins_and_headroom():
    m = JvmMemory(limit_mib=1024, xmx_mib=900)
    assert m.max_heap_mib == 900 and m.headroom_mib() == 1024 - 900 - m.non_heap_mib
    assert JvmMemory(limit_mib=1024).headroom_mib() > 0


@given(limit=st.floats(16, 65_536), pct=st.floats(1, 100))
def test_default_heap_never_above_the_limit(limit, pct):
    """With no -Xmx the heap is never larger than the limit (only -Xmx can do that)."""
    assert 0 < default_max_heap(limit, pct) <= limit


# -- pods -------------------------------------------------------------------------------------
def _world(spec, warm=True, until=40_000, rate=20, restart_at=None, seed=3, hang=None,
           endpoint_delay=1_000.0):
    sim = Simulation(seed=seed)

    def orders(ctx, req):
        yield ctx.work(Exponential(20.0))
        return {"ok": True}

    pods = Pods(sim, "orders", orders, replicas=2, spec=spec, warm=warm,
                endpoint_delay=endpoint_delay)

    def front(ctx, req):
        return (yield from pods.call(ctx, req.body, timeout=5_000))

    sim.service("front", front, concurrency=256)
    if restart_at is not None:
        pods.rolling_restart(at=restart_at)
    if hang is not None:
        pods.hang(*hang)
    sim.load("front", rate=rate, duration=until)
    return pods, sim.run(until=until + 5_000)


def test_slow_start_without_startup_probe_crash_loops_with_back_off():
    pods, result = _world(PodSpec(start=40_000.0), warm=False, until=120_000, rate=5)
    kills = [t for t, p, w in pods.events if p == "orders-0" and "liveness" in w]
    assert kills[0] == pytest.approx(20_000, abs=5)          # probes at 0, 10, 20 s
    backoffs = [w for _t, p, w in pods.events if p == "orders-0" and w.startswith("back-off")]
    assert backoffs[:3] == ["back-off 10 s", "back-off 20 s", "back-off 40 s"]
    assert not any(r.ok for r in result.requests)


def test_startup_probe_holds_liveness_off():
    spec = PodSpec(start=40_000.0, startup_probe=Probe(failure_threshold=6))
    pods, result = _world(spec, warm=False, until=90_000, rate=5)
    assert pods.count("exit") == 0 and pods.count("startup probe passed") == 2
    assert any(r.ok for r in result.requests)


def test_oom_kill_is_137_and_heap_error_is_500():
    big = JvmMemory(limit_mib=512, xmx_mib=512, growth_per_request_mib=2.0)
    pods, _ = _world(PodSpec(memory=big))
    assert pods.count("OOMKilled") >= 1 and 137 in pods.pods[0].exit_codes + pods.pods[1].exit_codes
    small = JvmMemory(limit_mib=512, xmx_mib=100, live_mib=90, per_request_mib=20)
    _, result = _world(PodSpec(memory=small), rate=60)
    assert any(r.reason == "OutOfMemoryError: Java heap space" for r in result.requests)


def test_graceful_termination_drops_nothing_and_abrupt_drops():
    _, bad = _world(PodSpec(drain=False), restart_at=5_000)
    _, good = _world(PodSpec(drain=True, pre_stop=3_000), restart_at=5_000)
    assert sum(not r.ok for r in bad.requests) > 0
    assert sum(not r.ok for r in good.requests) == 0


def test_grace_period_covers_prestop_then_sigkill():
    """preStop longer than the grace period: SIGTERM at the grace period's end, then 137."""
    pods, _ = _world(PodSpec(pre_stop=60_000, grace=10_000, drain=True), restart_at=5_000, rate=0.001)
    old = [e for e in pods.events if e[1] == "orders-0"]
    term = next(t for t, _p, w in old if w == "terminating")
    sig = next(t for t, _p, w in old if w == "SIGTERM")
    assert sig - term == pytest.approx(10_000)


def test_hung_jvm_is_restarted_by_liveness():
    pods, _ = _world(PodSpec(), hang=(0, 10_000), until=60_000)
    kill = next(t for t, p, w in pods.events if p == "orders-0" and "liveness" in w)
    assert 10_000 < kill <= 10_000 + 30_000 + 1_100


def test_same_seed_same_journal_and_parity():
    spec = PodSpec(start=Uniform(2_000, 4_000), startup_probe=Probe(period=1_000))
    a = _world(spec, warm=False)[1].journal_hash()
    b = _world(spec, warm=False)[1].journal_hash()
    assert a == b
    assert pods_module._parity(3) == pods_module._parity(3)


def test_pods_config_errors():
    sim = Simulation(seed=1)
    with pytest.raises(ConfigError, match="handler"):
        Pods(sim, "x", None)
    with pytest.raises(ConfigError, match="spec"):
        Pods(sim, "y", lambda c, r: {}, spec="fast")
    p = Pods(sim, "z", lambda c, r: {}, replicas=1)
    with pytest.raises(ConfigError, match="index"):
        p.hang(3, at=0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1_000), pre_stop=st.sampled_from([0.0, 2_000.0]),
       drain=st.booleans())
def test_endpoints_never_hold_a_dead_container_longer_than_the_delay(seed, pre_stop, drain):
    """Invariant: a pod leaves the endpoints at most endpoint_delay after it stops being ready
    or starts terminating (the run ends at 25 s: later changes are not checked)."""
    pods, _ = _world(PodSpec(pre_stop=pre_stop, drain=drain), restart_at=3_000, seed=seed,
                     until=20_000)
    for pod in pods.pods:
        ev = [(t, w) for t, p, w in pods.events if p == pod.name]
        for t, w in ev:
            if (w == "terminating" or w.startswith("not ready")) and t + 1_000 < 25_000:
                out = [t2 for t2, w2 in ev if w2 == "out of endpoints" and t2 >= t]
                assert out and out[0] - t <= 1_000 + 1e-6
