"""labs.traffic.mesh and labs.traffic.mesh_retry: proxies as hops, mesh retries, mTLS modes."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import Backoff, ConfigError, Mesh, MeshRetry, Proxy, RetryPolicy, Simulation


def _world(mode="sidecar", mesh_retry=None, app_attempts=1, seed=7, crash=True, mtls="PERMISSIVE",
           orders_meshed=True, waypoint=False, duration=4_000, rate=40):
    sim = Simulation(seed=seed)
    mesh = Mesh(sim, mode, retry=mesh_retry, mtls=mtls)
    app_retry = RetryPolicy(max_attempts=app_attempts, backoff=Backoff.fixed(5))

    def orders(ctx, req):
        yield ctx.work(1.0)
        resp = yield ctx.call("payments", req.body, timeout=400, retry=app_retry)
        return resp

    def payments(ctx, req):
        yield ctx.work(2.0)
        return {"ok": True}

    mesh.service("orders", orders, meshed=orders_meshed)
    mesh.service("payments", payments, node="node-2", waypoint=waypoint)
    if crash:
        mesh.crash_pod("payments", at=1_000, restart_at=3_000)
    sim.load("orders", rate=rate, duration=duration)
    return sim, mesh, sim.run()


# -- MeshRetry -------------------------------------------------------------------------
def test_istio_default_policy():
    r = MeshRetry.istio_default()
    assert r.attempts == 2 and r.max_requests == 3
    assert r.retry_on == "connect-failure,refused-stream,unavailable,cancelled"
    assert r.per_try_timeout is None and r.timeout is None and r.backoff == 25


def test_default_retries_refused_connections_but_not_503_or_timeouts():
    r = MeshRetry()
    assert r.retriable(503, "connection refused")
    assert not r.retriable(503, "upstream connect error")   # a 503 *response* (Istio >= 1.24)
    assert not r.retriable(500, "injected fault")
    assert not r.retriable(504, "timeout", per_try_timeout=True)


def test_conditions_follow_envoy():
    assert MeshRetry(retry_on="5xx").retriable(500)
    assert MeshRetry(retry_on="5xx").retriable(504, "timeout", per_try_timeout=True)
    assert MeshRetry(retry_on="gateway-error").retriable(503)
    assert not MeshRetry(retry_on="gateway-error").retriable(500)
    assert not MeshRetry(retry_on="reset").retriable(504, "timeout", per_try_timeout=True)
    assert MeshRetry(retry_on="reset").retriable(503, "connection reset by peer")
    assert MeshRetry(retry_on="503").retriable(503, "upstream connect error")
    assert not MeshRetry(retry_on="503").retriable(500)


def test_backoff_ranges_follow_envoy_source():
    r = MeshRetry()
    rng = random.Random(1)
    for retry, ceiling in ((1, 25), (2, 50), (3, 100), (4, 200), (5, 250), (9, 250)):
        draws = [r.backoff_ms(retry, rng) for _ in range(400)]
        assert min(draws) >= 0 and max(draws) < ceiling and max(draws) >= ceiling * 0.8
        assert all(isinstance(d, int) for d in draws)


@pytest.mark.parametrize("kwargs", [
    {"attempts": -1}, {"attempts": 1.5}, {"per_try_timeout": 0.5}, {"timeout": 0},
    {"backoff": 0}, {"retry_on": "5xx,sometimes"}, {"retry_on": 5}])
def test_mesh_retry_config_errors(kwargs):
    with pytest.raises(ConfigError):
        MeshRetry(**kwargs)


# -- Mesh ------------------------------------------------------------------------------
def test_sidecar_adds_two_proxy_passes_per_call():
    _, mesh, r = _world("sidecar", crash=False)
    assert mesh.proxies == ["orders-proxy", "orders-proxy-out", "payments-proxy", "payments-proxy-out"]
    trace = r.requests[0].trace_id
    servers = [row[3] for row in r.rows if row[2] == "span.start" and row[5] == trace
               and row[12] == "server"]
    assert servers == ["orders", "orders-proxy-out", "payments-proxy", "payments"]


def test_mesh_adds_latency_and_same_arrivals():
    results = {m: _world(m, crash=False)[2] for m in ("none", "sidecar", "ambient")}
    starts = {m: [q.start for q in r.requests] for m, r in results.items()}
    assert starts["none"] == starts["sidecar"] == starts["ambient"]
    p50 = {m: labs.percentile([q.latency for q in r.requests], 50) for m, r in results.items()}
    assert p50["none"] < p50["sidecar"]
    assert all(q.ok for r in results.values() for q in r.requests)


def test_retries_multiply_during_an_outage():
    attempts = {}
    for name, mesh_retry, app in (("app", MeshRetry.off(), 3), ("mesh", MeshRetry(), 1),
                                  ("both", MeshRetry(), 3)):
        _, mesh, r = _world("sidecar", mesh_retry=mesh_retry, app_attempts=app)
        calls = sum(1 for q in r.requests if 1_000 <= q.start < 3_000)
        attempts[name] = mesh.attempts(r, "payments", 1_000, 3_000) / calls
    assert attempts["app"] == pytest.approx(3.0, abs=0.05)
    assert attempts["mesh"] == pytest.approx(3.0, abs=0.05)
    assert attempts["both"] == pytest.approx(9.0, abs=0.3)


def test_ambient_without_waypoint_has_no_mesh_retries():
    _, mesh, r = _world("ambient", mesh_retry=MeshRetry(attempts=3, retry_on="connect-failure"))
    calls = sum(1 for q in r.requests if 1_000 <= q.start < 3_000)
    assert mesh.attempts(r, "payments", 1_000, 3_000) == calls
    _, mesh, r = _world("ambient", mesh_retry=MeshRetry(attempts=3, retry_on="connect-failure"),
                        waypoint=True)
    assert mesh.attempts(r, "payments", 1_000, 3_000) == pytest.approx(4 * calls, abs=8)


def test_strict_rejects_an_unmeshed_caller_permissive_hides_it():
    _, _, strict = _world(mtls="STRICT", orders_meshed=False, crash=False)
    assert not any(q.ok for q in strict.requests)
    assert strict.requests[0].reason.startswith("connection reset")
    _, _, permissive = _world(mtls="PERMISSIVE", orders_meshed=False, crash=False)
    assert all(q.ok for q in permissive.requests)
    plain = permissive.metrics.counter("payments-proxy", "mtls.plaintext")
    assert plain == len(permissive.requests)
    _, _, meshed = _world(mtls="STRICT", crash=False)
    assert all(q.ok for q in meshed.requests)


def test_route_timeout_includes_retries():
    # per-try 50 ms, route 120 ms, upstream never answers in time: at most 3 tries.
    sim = Simulation(seed=3)
    mesh = Mesh(sim, "sidecar", retry=MeshRetry(attempts=5, retry_on="5xx", per_try_timeout=50,
                                               timeout=120))

    def orders(ctx, req):
        resp = yield ctx.call("payments", None)
        return resp

    def payments(ctx, req):
        yield ctx.work(1_000.0)
        return {}

    mesh.service("orders", orders)
    mesh.service("payments", payments, concurrency=100)
    sim.load("orders", rate=10, duration=500)
    r = sim.run()
    assert all(q.status == 504 for q in r.requests)
    assert all(110 <= q.latency <= 135 for q in r.requests)
    assert mesh.attempts(r, "payments") <= 3 * len(r.requests)


def test_cost_table_totals():
    _, mesh, r = _world("sidecar", crash=False)
    rows = dict(mesh.cost_table(r, 4_000))
    assert rows["total"]["cpu requested (m)"] == 200.0
    assert rows["total"]["memory requested (MiB)"] == 256.0
    assert rows["orders-proxy"]["rps"] > 0


def test_same_seed_same_journal():
    a = _world("ambient", waypoint=True)[2].journal_hash()
    b = _world("ambient", waypoint=True)[2].journal_hash()
    assert a == b


def test_parity_is_deterministic():
    from labs.traffic import mesh
    assert mesh._parity(3) == mesh._parity(3) != mesh._parity(4)


@pytest.mark.parametrize("make", [
    lambda sim: Mesh(sim, "istio"),
    lambda sim: Mesh(sim, mtls="strict"),
    lambda sim: Mesh(sim, retry=RetryPolicy()),
    lambda sim: Mesh(sim, sidecar=Proxy.ztunnel()),
    lambda sim: Mesh(sim, waypoints=0),
    lambda sim: Mesh(sim).peer_authentication("DISABLE"),
    lambda sim: Mesh(sim).peer_authentication("STRICT", service="nobody"),
    lambda sim: Mesh(sim).crash_pod("nobody", at=0),
    lambda sim: Mesh(sim).service("a", lambda c, r: None, node=""),
    lambda sim: Mesh(sim, "ambient").service("a", lambda c, r: None, meshed=False, waypoint=True),
    lambda sim: Proxy("envoy"),
    lambda sim: Proxy("sidecar", cpu_per_krps=-1),
])
def test_mesh_config_errors(make):
    with pytest.raises(ConfigError):
        make(Simulation(seed=1))


# -- property: what reaches the server never exceeds the product of the two limits -----
@settings(max_examples=25, deadline=None)
@given(app=st.integers(1, 3), mesh_attempts=st.integers(0, 3), seed=st.integers(0, 50),
       mode=st.sampled_from(["sidecar", "ambient"]))
def test_attempts_are_bounded_by_the_product(app, mesh_attempts, seed, mode):
    retry = MeshRetry(attempts=mesh_attempts, retry_on="connect-failure,5xx")
    _, mesh, r = _world(mode, mesh_retry=retry, app_attempts=app, seed=seed, rate=20,
                        duration=2_000, waypoint=(mode == "ambient"))
    calls = len(r.requests)
    assert calls > 0
    assert mesh.attempts(r, "payments") <= calls * app * (1 + mesh_attempts)
