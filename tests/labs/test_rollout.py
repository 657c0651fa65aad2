"""Tests of labs.delivery: Kubernetes fenceposts, Deployment rollouts, a pod lost, expand and contract."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import (Analysis, AppVersion, BlueGreen, Canary, ConfigError, Deployment, Response,
                  RollingUpdate, Simulation, check_plan, resolve_fenceposts)
from labs.delivery import rollout


# -- fenceposts -----------------------------------------------------------------------------
def test_fenceposts_defaults_and_rounding():
    """25 %/25 % by default; surge rounds up, unavailable down; both 0 -> unavailable 1."""
    assert resolve_fenceposts(4) == (1, 1)
    assert resolve_fenceposts(10) == (3, 2)
    assert resolve_fenceposts(3) == (1, 0)
    assert resolve_fenceposts(1, 0, "25%") == (0, 1)       # both resolve to 0
    assert resolve_fenceposts(1, "1%", "99%") == (1, 0)
    assert resolve_fenceposts(5, 2, 0) == (2, 0)
    assert resolve_fenceposts(0) == (0, 1)


@pytest.mark.parametrize("args, match", [
    ((4, 0, 0), "both be 0"), ((4, "0%", 0), "both be 0"), ((4, "25", "25%"), "percentage"),
    ((4, -1, 1), ">= 0"), ((4, 1, "101%"), "100%"), ((-1,), "replicas"), ((4, 1.5, 1), "percentage"),
])
def test_fenceposts_config_errors(args, match):
    with pytest.raises(ConfigError, match=match):
        resolve_fenceposts(*args)


# -- a small world ----------------------------------------------------------------------------
def _world(strategy, bug=0.3, seed=3, replicas=4, start=2_000.0, rate=40, until=40_000):
    sim = Simulation(seed=seed)

    def good(ctx, req):
        yield ctx.work(5.0)
        return {"ok": True}

    def bad(ctx, req):
        yield ctx.work(5.0)
        if req.body["id"] % 100 < bug * 100:
            return Response(500, None, "bug")
        return {"ok": True}

    dep = Deployment(sim, "payments", {"v1": good, "v2": bad}, "v1", replicas=replicas,
                     start=start)

    def front(ctx, req):
        return (yield from dep.call(ctx, req.body, timeout=500))

    sim.service("orders", front, concurrency=64)
    if strategy is not None:
        dep.rollout("v2", at=1_000, strategy=strategy)
    sim.load("orders", rate=rate, duration=until)
    result = sim.run(until=until + 1_000)
    dep.finish(until + 1_000)
    return dep, result


def test_rolling_update_without_analysis_completes_even_with_a_bug():
    """Kubernetes never rolls back by itself: a bad version that passes readiness ships."""
    dep, result = _world(RollingUpdate())
    rep = dep.report()
    assert rep.outcome == "promoted" and rep.decided is None
    assert {p.version for p in dep.live()} == {"v2"} and len(dep.live()) == 4
    assert rep.new_errors > 0


def test_rolling_update_steps_follow_the_controller():
    """4 replicas, 25 %/25 %: one surge pod, one old pod deleted at once, then one more."""
    dep, _ = _world(RollingUpdate(), bug=0.0)
    at_start = [h for h in dep.history if h[0] == 1_000.0]
    assert [h[1] for h in at_start] == ["rollout rolling", "created", "deleted", "created"]


def test_rolling_update_with_analysis_undoes():
    dep, result = _world(RollingUpdate(analysis=Analysis(interval=2_000, min_requests=10)))
    rep = dep.report()
    assert rep.outcome == "rolled back" and rep.decided is not None
    assert {p.version for p in dep.live()} == {"v1"} and len(dep.live()) == 4
    assert rep.clean is not None and rep.clean >= rep.decided


def test_blue_green_switches_at_once_and_back():
    dep, _ = _world(BlueGreen(analysis=Analysis(interval=2_000, min_requests=10)))
    rep = dep.report()
    assert rep.outcome == "rolled back"
    assert rep.clean == rep.decided            # instant: the old pods are still there
    assert dep.peak() == 8


def test_blue_green_without_old_pods_rebuilds_them():
    dep, _ = _world(BlueGreen(analysis=Analysis(interval=2_000, min_requests=10),
                              scale_down_delay=0))
    rep = dep.report()
    assert rep.outcome == "rolled back" and rep.clean > rep.decided


def test_canary_aborts_on_canary_errors_and_promotes_a_good_release():
    steps = [(25, 5_000), (50, 5_000)]
    an = Analysis(interval=1_000, window=4_000, min_requests=10, max_error_rate=0.05)
    bad, _ = _world(Canary(steps=steps, analysis=an))
    assert bad.report().outcome == "rolled back" and bad.weight == 0.0
    assert not bad.live("v2")
    good, _ = _world(Canary(steps=steps, analysis=an), bug=0.0)
    rep = good.report()
    assert rep.outcome == "promoted" and {p.version for p in good.live()} == {"v2"}


def test_canary_weight_splits_traffic():
    """With a 25 % weight and no analysis, about a quarter of requests reach the canary."""
    dep, _ = _world(Canary(steps=[(25, 30_000)], analysis=None), bug=0.0, until=20_000)
    served = {v: sum(p.served for p in dep.pods if p.version == v) for v in ("v1", "v2")}
    share = served["v2"] / (served["v1"] + served["v2"])
    assert 0.1 < share < 0.3    # the canary only takes traffic once its pod is ready


def test_no_ready_endpoint_answers_503():
    sim = Simulation(seed=1)
    dep = Deployment(sim, "p", {"v1": lambda ctx, req: {"ok": 1}}, "v1", replicas=1)
    dep.pods[0].ready_at = 10_000.0     # not ready yet

    def front(ctx, req):
        return (yield from dep.call(ctx, req.body))

    sim.service("front", front)
    sim.load("front", rate=10, duration=1_000)
    result = sim.run()
    assert all(r.status == 503 and r.reason == "no ready endpoints" for r in result.requests)


def test_same_seed_same_journal():
    a = _world(Canary(analysis=Analysis(interval=1_000, min_requests=5)))[1].journal_hash()
    b = _world(Canary(analysis=Analysis(interval=1_000, min_requests=5)))[1].journal_hash()
    assert a == b
    assert rollout._parity(5) == rollout._parity(5)


@pytest.mark.parametrize("make, match", [
    (lambda: Analysis(max_error_rate=1.5), "max_error_rate"),
    (lambda: Analysis(interval=0), "interval"),
    (lambda: Analysis(min_requests=0), "min_requests"),
    (lambda: Analysis(window=-1), "window"),
    (lambda: RollingUpdate(max_surge=0, max_unavailable=0), "both be 0"),
    (lambda: BlueGreen(scale_down_delay=-1), "scale_down_delay"),
    (lambda: Canary(steps=[]), "at least one step"),
    (lambda: Canary(steps=[(50, 1_000), (10, 1_000)]), "only grow"),
    (lambda: Canary(steps=[(150, 1_000)]), "weight"),
    (lambda: Canary(steps=[5]), "pairs"),
    (lambda: Canary(analysis="2%"), "Analysis"),
])
def test_strategy_config_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_deployment_config_errors():
    sim = Simulation(seed=1)
    h = lambda ctx, req: {}
    with pytest.raises(ConfigError, match="versions"):
        Deployment(sim, "p", {}, "v1")
    with pytest.raises(ConfigError, match="not one of"):
        Deployment(sim, "p", {"v1": h}, "v9")
    dep = Deployment(sim, "p", {"v1": h}, "v1", replicas=1)
    with pytest.raises(ConfigError, match="strategy"):
        dep.rollout("v1", at=0, strategy="rolling")
    with pytest.raises(ConfigError, match="not one of"):
        dep.rollout("v2", at=0, strategy=RollingUpdate())


@settings(max_examples=25, deadline=None)
@given(replicas=st.integers(1, 7),
       surge=st.sampled_from([0, 1, 2, "25%", "50%", "100%"]),
       unavailable=st.sampled_from([0, 1, "25%", "50%"]),
       seed=st.integers(0, 50), bug=st.sampled_from([0.0, 0.5]))
def test_rolling_update_respects_the_fenceposts(replicas, surge, unavailable, seed, bug):
    """At every moment: pods <= replicas + surge and ready pods >= replicas - unavailable,
    during the rollout and during an undo; the rollout always ends with *replicas* pods."""
    if surge in (0, "0%") and unavailable in (0, "0%"):
        return
    s, u = resolve_fenceposts(replicas, surge, unavailable)
    an = Analysis(interval=1_000, min_requests=3) if bug else None
    dep, _ = _world(RollingUpdate(surge, unavailable, an), bug=bug, seed=seed,
                    replicas=replicas, start=labs.Uniform(500, 3_000), rate=10, until=20_000)
    times = sorted({h[0] for h in dep.history} | {p.ready_at for p in dep.pods})
    for t in times:
        alive = [p for p in dep.pods if p.created <= t and (p.deleted is None or p.deleted > t)]
        ready = [p for p in alive if p.ready_at <= t]
        assert len(alive) <= replicas + s, (t, len(alive))
        assert len(ready) >= replicas - u, (t, len(ready))
    assert dep.report().outcome in ("rolled back", "promoted")   # finished either way
    assert len(dep.live()) == replicas


# -- a pod lost ------------------------------------------------------------------------------
def _lossy(strategy, lose, seed=3, replicas=4, bug=0.0, until=30_000):
    """_world, with pods lost at the (at, version) pairs of *lose*."""
    orig = Deployment.rollout

    def rollout_and_lose(self, version, at, strategy):
        orig(self, version, at, strategy)
        for when, v in lose:
            self.lose(when, v)

    Deployment.rollout = rollout_and_lose
    try:
        return _world(strategy, bug=bug, seed=seed, replicas=replicas, until=until)
    finally:
        Deployment.rollout = orig


def test_a_lost_pod_is_replaced_by_its_replicaset():
    """No rollout: the oldest ready pod goes, a pod of the same version replaces it and is
    ready after the start-up time; capacity dips by one meanwhile."""
    sim = Simulation(seed=1)
    dep = Deployment(sim, "p", {"v1": lambda ctx, req: {}}, "v1", replicas=3, start=2_000.0)
    first = dep.pods[0]
    dep.lose(5_000, "v1")
    dep.finish(10_000)
    assert first.deleted == 5_000.0
    assert [p.version for p in dep.live()] == ["v1"] * 3
    replacement = dep.live()[-1]
    assert (replacement.created, replacement.ready_at) == (5_000.0, 7_000.0)
    assert ("lost" in [h[1] for h in dep.history])
    assert dep.fewest_ready() == 2 and dep.fewest_ready(since=7_000) == 3
    assert dep.fewest_ready(until=4_999) == 3


def test_a_loss_with_no_ready_pod_does_nothing():
    sim = Simulation(seed=1)
    dep = Deployment(sim, "p", {"v1": lambda ctx, req: {}, "v2": lambda ctx, req: {}}, "v1",
                     replicas=2)
    dep.lose(1_000, "v2")
    dep.finish(2_000)
    assert len(dep.pods) == 2 and dep.history[-1][1] == "nothing to lose"


def test_a_loss_comes_on_top_of_max_unavailable():
    """4 replicas, 25 %/25 %: the rollout keeps 3 ready; an old pod lost as it starts
    leaves 2 (maxUnavailable budgets only the rollout's own deletions); with
    maxUnavailable 0 the same loss leaves 3."""
    assert _world(RollingUpdate())[0].fewest_ready() == 3
    assert _lossy(RollingUpdate(), [(1_001, "v1")])[0].fewest_ready() == 2
    dep, _ = _lossy(RollingUpdate(max_surge=1, max_unavailable=0), [(1_001, "v1")])
    assert dep.fewest_ready() == 3
    assert dep.report().outcome == "promoted" and len(dep.live("v2")) == 4


@settings(max_examples=25, deadline=None)
@given(replicas=st.integers(2, 7),
       surge=st.sampled_from([0, 1, 2, "25%", "50%"]),
       unavailable=st.sampled_from([0, 1, "25%", "50%"]),
       at=st.integers(1_000, 12_000), version=st.sampled_from(["v1", "v2", None]),
       seed=st.integers(0, 50))
def test_one_lost_pod_costs_at_most_one_pod_below_the_floor(replicas, surge, unavailable, at,
                                                              version, seed):
    """With one pod lost at any moment of a rolling update: pods never exceed
    replicas + surge, ready pods never drop below replicas - unavailable - 1, and the
    rollout still completes with *replicas* pods of the new version."""
    if surge in (0, "0%") and unavailable in (0, "0%"):
        return
    s, u = resolve_fenceposts(replicas, surge, unavailable)
    dep, _ = _lossy(RollingUpdate(surge, unavailable), [(at, version)], seed=seed,
                    replicas=replicas, until=40_000)
    assert dep.peak() <= replicas + s
    assert dep.fewest_ready() >= replicas - u - 1
    assert dep.report().outcome == "promoted"
    assert [p.version for p in dep.live()] == ["v2"] * replicas


def test_same_seed_same_losses_same_journal():
    a = _lossy(RollingUpdate(), [(1_001, "v1"), (6_000, None)], seed=9)[1].journal_hash()
    b = _lossy(RollingUpdate(), [(1_001, "v1"), (6_000, None)], seed=9)[1].journal_hash()
    assert a == b != _world(RollingUpdate(), bug=0.0, seed=9)[1].journal_hash()


@pytest.mark.parametrize("args, match", [((-1,), "at"), ((1_000, "v9"), "not one of"),
                                          (("soon",), "at")])
def test_lose_config_errors(args, match):
    sim = Simulation(seed=1)
    dep = Deployment(sim, "p", {"v1": lambda ctx, req: {}}, "v1", replicas=2)
    with pytest.raises(ConfigError, match=match):
        dep.lose(*args)


# -- expand and contract -----------------------------------------------------------------------
V = {"v1": AppVersion("v1", {"amount"}, {"amount"}),
     "v2": AppVersion("v2", {"amount"}, {"amount", "minor"}),
     "v3": AppVersion("v3", {"minor"}, {"amount", "minor"}),
     "v4": AppVersion("v4", {"minor"}, {"minor"})}
GOOD = [("add", "minor"), ("deploy", "v2"), ("backfill", "minor"), ("deploy", "v3"),
        ("deploy", "v4"), ("drop", "amount")]


def test_expand_contract_good_plan_passes():
    assert check_plan({"amount"}, "v1", V, GOOD) == []


@pytest.mark.parametrize("plan, words", [
    ([("deploy", "v2"), ("add", "minor")], "does not exist"),
    ([("add", "minor"), ("deploy", "v3")], "rows written by v1 have no minor"),
    ([("add", "minor"), ("deploy", "v2"), ("deploy", "v3")], "not backfilled"),
    ([("add", "minor"), ("backfill", "minor")], "does not write minor"),
    ([("add", "minor"), ("deploy", "v2"), ("backfill", "minor"), ("deploy", "v3"),
      ("drop", "amount")], "amount, which does not exist"),
    ([("add", "minor"), ("deploy", "v2"), ("backfill", "minor"), ("deploy", "v4")],
     "rows written by v4 have no amount"),
])
def test_expand_contract_finds_what_breaks(plan, words):
    problems = check_plan({"amount"}, "v1", V, plan)
    assert any(words in p for p in problems), problems


def test_expand_contract_config_errors():
    with pytest.raises(ConfigError, match="running version"):
        check_plan({"amount"}, "v9", V, [])
    with pytest.raises(ConfigError, match="kind"):
        check_plan({"amount"}, "v1", V, [("rename", "x")])
    with pytest.raises(ConfigError, match="pair"):
        check_plan({"amount"}, "v1", V, ["add"])
    with pytest.raises(ConfigError, match="unknown version"):
        check_plan({"amount"}, "v1", V, [("deploy", "v7")])
