"""Tests of labs.traffic.discovery: the fleet, the registry, the JVM DNS cache, the proxy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs.traffic.discovery import (DnsCache, Registry, Rollout, ServerSide, ServiceInstance,
                                    _parity)


def test_rollout_plan():
    """Surge one, unavailable zero: each new instance is ready when its old one stops."""
    plan = Rollout("payments", replicas=3, start=10_000, interval=15_000, startup=5_000, drain=2_000)
    assert plan.names() == [f"payments-{i}" for i in range(1, 7)]
    assert [(i.ready, i.stop, i.exit) for i in plan.old] == [
        (0.0, 15_000.0, 17_000.0), (0.0, 30_000.0, 32_000.0), (0.0, 45_000.0, 47_000.0)]
    assert [i.ready for i in plan.new] == [15_000.0, 30_000.0, 45_000.0]
    assert plan.end == 47_000.0
    assert plan.alive("payments-1", 16_999) and not plan.alive("payments-1", 17_000)
    assert not plan.alive("payments-4", 14_999) and plan.alive("payments-4", 15_000)


def test_rollout_install_refuses_outside_life():
    """Installed instances refuse connections before they are ready and after they exit."""
    sim = labs.Simulation(seed=1)
    plan = Rollout(replicas=1, start=100, interval=1_000, startup=100)

    def ok(ctx, req):
        return {"ok": True}

    plan.install(sim, ok)

    def probe(ctx, req):
        a = yield ctx.call("payments-1")
        b = yield ctx.call("payments-2")
        return {"old": a.status, "new": b.status}

    sim.service("probe", probe)
    sim.load("probe", rate=1_000 / 150, duration=600, arrivals="uniform")
    res = sim.run()
    seen = [(round(r.start), r.status) for r in res.requests]
    assert seen  # the probe ran
    refused = [row for row in res.rows if row[2] == "reject" and row[12] == "connection refused"]
    # before 200 ms payments-2 refuses; from 200 ms payments-1 refuses
    assert all((row[3] == "payments-2" and row[0] < 201) or (row[3] == "payments-1" and row[0] >= 200)
               for row in refused)


def test_registry_ttl_after_kill():
    """A killed instance is listed until its last heartbeat plus the TTL; a graceful one leaves at stop."""
    inst = ServiceInstance("a", ready=0, stop=25_000, exit=25_000)
    reg = Registry([inst], ttl=15_000, heartbeat=10_000, refresh=0, watch_delay=0,
                   deregister_on_stop=False)
    assert reg.leaves_at(inst) == 20_000 + 15_000     # last beat at 20 s
    assert reg.listed(34_999) == ["a"] and reg.listed(35_000) == []
    on_the_beat = ServiceInstance("b", ready=0, stop=20_000, exit=20_000)
    assert reg.leaves_at(on_the_beat) == 10_000 + 15_000   # no beat from a process gone at 20 s
    reg.deregister_on_stop = True
    assert reg.leaves_at(inst) == 25_000


def test_registry_client_poll_and_watch():
    """A polling client sees the list as of its last poll; a watching one, watch_delay late."""
    new = ServiceInstance("new", ready=12_000)
    poll = Registry([new], ttl=30_000, heartbeat=10_000, refresh=30_000)
    assert poll.endpoints(29_999) == [] and poll.endpoints(30_000) == ["new"]
    assert poll.delay_to_see(new) == 18_000
    watch = Registry([new], ttl=30_000, heartbeat=10_000, refresh=0, watch_delay=50)
    assert watch.endpoints(12_049) == [] and watch.endpoints(12_050) == ["new"]


def test_dns_cache_is_lazy_and_ttl_inclusive():
    """The JVM caches an answer for cache_ttl s from the lookup; it is still used at exactly ttl."""
    a = ServiceInstance("a", ready=0, stop=5_000, exit=5_000)
    b = ServiceInstance("b", ready=5_000)
    dns = DnsCache([a, b], cache_ttl=30, endpoint_delay=1_000)
    assert dns.endpoints(1_000) == ["a"]
    assert dns.endpoints(31_000) == ["a"]            # now <= resolved + ttl: still cached
    assert dns.endpoints(31_001) == ["b"]            # expired: a fresh lookup
    assert dns.resolutions == 2
    forever = DnsCache([a, b], cache_ttl=-1)
    assert forever.endpoints(0) == ["a"] and forever.endpoints(10 ** 9) == ["a"]
    never = DnsCache([a, b], cache_ttl=0, endpoint_delay=0)
    assert never.endpoints(4_999) == ["a"] and never.endpoints(5_000) == ["b"]


def test_server_side_lags_by_endpoint_delay():
    a = ServiceInstance("a", ready=0, stop=5_000, exit=5_000)
    proxy = ServerSide([a], endpoint_delay=1_000)
    assert proxy.endpoints(5_999) == ["a"] and proxy.endpoints(6_000) == []


@settings(max_examples=200, deadline=None)
@given(hb=st.integers(100, 20_000), k=st.floats(1.0, 5.0), refresh=st.integers(0, 30_000),
       exit_at=st.integers(1, 200_000), probe=st.integers(0, 400_000))
def test_registry_never_lists_longer_than_its_bound(hb, k, refresh, exit_at, probe):
    """Invariant: a killed instance is never listed after exit + ttl + refresh (or watch delay)."""
    inst = ServiceInstance("x", ready=0, stop=exit_at, exit=exit_at)
    reg = Registry([inst], ttl=hb * k, heartbeat=hb, refresh=refresh, deregister_on_stop=False)
    bound = exit_at + reg.ttl + (refresh if refresh else reg.watch_delay)
    if probe >= bound:
        assert reg.endpoints(probe) == []
    # and it is listed right up to its last heartbeat while alive (no false removal)
    assert reg.leaves_at(inst) >= exit_at


@settings(max_examples=200, deadline=None)
@given(ttl=st.integers(0, 60), times=st.lists(st.integers(0, 200_000), min_size=1, max_size=30))
def test_dns_answer_is_never_older_than_ttl(ttl, times):
    """Invariant: every answer comes from a lookup at most cache_ttl seconds old."""
    insts = [ServiceInstance(f"i{j}", ready=j * 10_000, stop=j * 10_000 + 30_000,
                             exit=j * 10_000 + 30_000) for j in range(1, 15)]
    dns = DnsCache(insts, cache_ttl=ttl, endpoint_delay=0)
    for now in sorted(times):
        answer = dns.endpoints(now)
        assert now - dns.resolved_at <= ttl * 1000
        assert answer == dns.ready_endpoints(dns.resolved_at)


def test_same_seed_same_run():
    assert _parity(3) == _parity(3)
    assert _parity(3) != _parity(4)


@pytest.mark.parametrize("make, match", [
    (lambda: Rollout(replicas=0), "replicas"),
    (lambda: Rollout(interval=0), "interval"),
    (lambda: Rollout(drain=-1), "drain"),
    (lambda: Registry(Rollout(), heartbeat=0), "heartbeat"),
    (lambda: Registry(Rollout(), heartbeat=10_000, ttl=5_000), "ttl"),
    (lambda: Registry(Rollout(), refresh=-5), "refresh"),
    (lambda: DnsCache(Rollout(), cache_ttl=-2), "networkaddress.cache.ttl"),
    (lambda: DnsCache(Rollout(), endpoint_delay=-1), "endpoint_delay"),
    (lambda: DnsCache([], cache_ttl=30), "Rollout"),
    (lambda: ServiceInstance("a", ready=10, stop=5, exit=5), "stop"),
    (lambda: ServiceInstance("a", ready=0, stop=5), "exit"),
])
def test_config_errors(make, match):
    with pytest.raises(labs.ConfigError, match=match):
        make()


def test_time_must_not_go_back():
    view = ServerSide(Rollout())
    view.endpoints(100)
    with pytest.raises(labs.ConfigError, match="backwards"):
        view.endpoints(50)
