"""Tests of labs.delivery.autoscaler: the Kubernetes HPA's algorithm and a scaled service."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import (Autoscaling, ConfigError, HorizontalPodAutoscaler, ScalingPolicy, ScalingRules,
                  Simulation)
from labs.delivery.autoscaler import _parity


def test_defaults_match_kubernetes():
    h = HorizontalPodAutoscaler()
    assert h.tolerance == 0.1 and h.sync_period_seconds == 15.0
    assert h.downscale_stabilization_seconds == 300
    assert h.scale_up.policies == (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
    assert h.scale_up.select_policy == "Max" and h.scale_up.stabilization_window_seconds == 0
    assert h.scale_down.policies == (ScalingPolicy("Percent", 100, 15),)
    assert h.scale_down.stabilization_window_seconds is None


def test_replica_calculation_ceil_and_tolerance():
    h = HorizontalPodAutoscaler(target=0.8)
    assert h.recommend(4, [0.9] * 4) == 5            # ratio 1.125 -> ceil(4.5)
    assert h.recommend(4, [0.88] * 4) == 4           # ratio 1.1: within tolerance (<=)
    assert h.recommend(4, [0.4] * 4) == 2            # ratio 0.5 -> 2


def test_unready_pods_count_as_zero_on_scale_up():
    h = HorizontalPodAutoscaler(target=0.5)
    # 2 ready at 100 %, 2 starting: ratio 2.0 -> over 4 pods 1.0 -> within tolerance, no change
    assert h.recommend(4, [1.0, 1.0], unready=2) == 4
    # 2 ready at 100 %, 1 starting: 2/(3*0.5) = 1.33 -> ceil(4.0) = 4
    assert h.recommend(3, [1.0, 1.0], unready=1) == 4


def test_scale_up_is_limited_by_policies():
    h = HorizontalPodAutoscaler(target=0.1, max_replicas=100)
    # wants ceil(2 * 10) = 20; default policies allow max(2 + 4, 2 * 2) = 6
    assert h.decide(15_000, 2, [1.0, 1.0]) == 6
    # 10 s later, in the same 15 s period: the period started at 2, so still 6 at most
    assert h.decide(25_000, 6, [1.0] * 6) == 6
    # next period: max(6 + 4, 12) = 12
    assert h.decide(45_000, 6, [1.0] * 6) == 12


def test_scale_down_waits_for_the_stabilization_window():
    h = HorizontalPodAutoscaler(target=0.5, max_replicas=20)
    assert h.decide(0, 10, [0.5] * 10) == 10          # recommendation 10 remembered
    t = 15_000
    while t < 300_000:                                 # low load, but 10 is in the window
        assert h.decide(t, 10, [0.1] * 10) == 10
        t += 15_000
    # at 300 s the first recommendation is exactly 300 s old: outside (strictly after cutoff)
    assert h.decide(300_000, 10, [0.1] * 10) == 2


def test_bounds_and_disabled():
    h = HorizontalPodAutoscaler(min_replicas=2, max_replicas=5)
    assert h.decide(0, 9, [1.0] * 9) == 5
    assert h.decide(0, 1, [0.1]) == 2
    assert h.decide(0, 0, []) == 0
    off = HorizontalPodAutoscaler(scale_up=ScalingRules((), "Disabled", 0), target=0.1)
    assert off.decide(0, 2, [1.0, 1.0]) == 2


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 30), st.lists(st.floats(0, 1), min_size=1, max_size=30),
       st.floats(0.1, 0.95))
def test_decision_stays_within_bounds_and_rate(current, utils, target):
    """Property: the result is within [min, max] and never more than the default rate allows."""
    h = HorizontalPodAutoscaler(target=target, min_replicas=1, max_replicas=40)
    out = h.decide(0, current, utils[:current])
    assert 1 <= out <= 40
    assert out <= max(current + 4, 2 * current)


def _run(seed):
    sim = Simulation(seed=seed)
    work = sim.stream("test:work")

    def api(ctx, req):
        yield ctx.work(work.expovariate(1 / 20.0))
        return {"ok": True}

    sim.service("api", api, concurrency=4, queue=100)
    sim.load("api", schedule=[(0, 50), (20_000, 400)], duration=60_000, timeout=1_000)
    scaling = Autoscaling(sim, "api", HorizontalPodAutoscaler(target=0.6, max_replicas=10),
                          pod_concurrency=4, startup=10_000, replicas=1)
    scaling.kill(40_000)
    return scaling.run(until=60_000), scaling


def test_autoscaling_scales_up_under_load_and_replaces_a_lost_pod():
    result, scaling = _run(1)
    assert scaling.history[0][1] == 1
    assert max(r[4] for r in scaling.history) >= 3
    notes = [r[12] for r in result.rows if r[2] == "state"]
    assert "pod lost" in notes and "pod ready" in notes
    assert result.rows[-1][0] <= 60_000


def test_same_seed_same_journal():
    assert _run(5)[0].journal_hash() == _run(5)[0].journal_hash()
    assert _parity(2) == _parity(2)


@pytest.mark.parametrize("call", [
    lambda: ScalingPolicy("Nodes", 1, 15),
    lambda: ScalingPolicy("Pods", 0, 15),
    lambda: ScalingPolicy("Pods", 1, 0),
    lambda: ScalingPolicy("Pods", 1, 3600),
    lambda: ScalingRules((), "Max", 0),
    lambda: ScalingRules((ScalingPolicy("Pods", 1),), "Fastest", 0),
    lambda: ScalingRules((ScalingPolicy("Pods", 1),), "Max", 4000),
    lambda: HorizontalPodAutoscaler(target=0),
    lambda: HorizontalPodAutoscaler(min_replicas=5, max_replicas=2),
    lambda: HorizontalPodAutoscaler(tolerance=-0.1),
    lambda: HorizontalPodAutoscaler(sync_period_seconds=0),
    lambda: HorizontalPodAutoscaler(scale_up="fast"),
    lambda: Autoscaling(Simulation(seed=1), "nobody", HorizontalPodAutoscaler()),
])
def test_bad_parameters_raise_config_error(call):
    with pytest.raises(ConfigError):
        call()
