"""The Kubernetes Horizontal Pod Autoscaler's algorithm, and a deployment it scales in a run.

**The algorithm** (Kubernetes ``pkg/controller/podautoscaler``: ``replica_calculator.go``
``GetResourceReplicas``, ``horizontal.go`` ``stabilizeRecommendationWithBehaviors`` and
``convertDesiredReplicasWithBehaviorRate``; defaults in ``pkg/apis/autoscaling/v2/defaults.go``
and the controller flags), in the order the controller applies it every *sync period*:

1. **Replica calculation** for a utilisation target: ``ratio = mean utilisation of the ready
   pods / target``. If ``|1 − ratio| <= tolerance`` (default **0.1**, flag
   ``--horizontal-pod-autoscaler-tolerance``) the recommendation is the current replica
   count; otherwise ``ceil(ratio × ready pods)``. Pods that are not ready yet are left out
   of the mean; on a scale-up they are then counted at **0 %** and the ratio recomputed over
   all pods, and if that new ratio is within the tolerance or points the other way, nothing
   changes (the conservative rule that stops a booting fleet from over-scaling).
2. **Stabilisation**: every recommendation is remembered with its time. The result is the
   current count clamped to ``[min of recommendations in the scale-up window, max of those
   in the scale-down window]``. Defaults: scale-up window **0 s**, scale-down window
   **300 s** (flag ``--horizontal-pod-autoscaler-downscale-stabilization``, 5m). So a
   scale-down happens only once every recommendation of the last five minutes agrees.
3. **Rate policies** (``behavior``): a scale-up may go at most to the largest (``selectPolicy:
   Max``) of ``periodStart + value`` (``Pods``) and ``ceil(periodStart × (1 + value/100))``
   (``Percent``), where ``periodStart`` is the replica count before the changes made in the
   policy's last ``periodSeconds``. Defaults: scale-up ``Pods 4 / 15 s`` and ``Percent 100 /
   15 s`` with ``Max``; scale-down ``Percent 100 / 15 s`` (truncated, not rounded). Then
   ``minReplicas``/``maxReplicas`` bound the result.

The loop runs every **15 s** (``--horizontal-pod-autoscaler-sync-period``). All times here are
virtual milliseconds, the settings keep the Kubernetes names in seconds.

**The deployment** (:class:`Autoscaling`) models a Deployment behind a load balancer as one
pooled service: ``concurrency = ready pods × pod_concurrency`` (an M/M/c view of the fleet).
A new pod becomes ready *startup* ms after the HPA asks for it (image pull, JVM start,
readiness probe); until then it takes no traffic and counts as not ready. Utilisation is
measured from the journal as busy slots over the last sync period, the way metrics-server
averages CPU. What it leaves out: per-pod queues and load-balancing imbalance, the CPU
initialisation period (pods are trusted once ready), JIT warm-up after readiness, missing
metrics, and custom or external metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError, _check_int, _check_number

__all__ = ["Autoscaling", "HorizontalPodAutoscaler", "ScalingPolicy", "ScalingRules"]


@dataclass(frozen=True)
class ScalingPolicy:
    """One HPA scaling policy: ``type`` "Pods" or "Percent", ``value``, ``period_seconds``."""

    type: str
    value: int
    period_seconds: int = 15

    def __post_init__(self) -> None:
        if self.type not in ("Pods", "Percent"):
            raise ConfigError(f"ScalingPolicy type must be 'Pods' or 'Percent', got {self.type!r}.")
        _check_int("value", self.value, low=1, fix="A policy allows a change of at least 1 (pod or %).")
        p = _check_int("period_seconds", self.period_seconds, low=1,
                       fix="Kubernetes accepts 1..1800 seconds.")
        if p > 1800:
            raise ConfigError(f"period_seconds must be <= 1800 (30 min), got {p}.")


@dataclass(frozen=True)
class ScalingRules:
    """``behavior.scaleUp`` or ``behavior.scaleDown``: window, ``select_policy``, policies.

    ``stabilization_window_seconds=None`` means the default: 0 for scale-up and the
    controller's downscale stabilisation (300 s) for scale-down.
    """

    policies: tuple[ScalingPolicy, ...] = ()
    select_policy: str = "Max"
    stabilization_window_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.select_policy not in ("Max", "Min", "Disabled"):
            raise ConfigError(f"select_policy must be 'Max', 'Min' or 'Disabled', got "
                              f"{self.select_policy!r}.")
        object.__setattr__(self, "policies", tuple(self.policies))
        if not all(isinstance(p, ScalingPolicy) for p in self.policies):
            raise ConfigError("policies must be ScalingPolicy objects, e.g. "
                              "(ScalingPolicy('Pods', 4, 15), ScalingPolicy('Percent', 100, 15)).")
        if self.select_policy != "Disabled" and not self.policies:
            raise ConfigError("ScalingRules needs at least one policy (or select_policy='Disabled').")
        w = self.stabilization_window_seconds
        if w is not None:
            _check_int("stabilization_window_seconds", w, low=0, fix="Use 0..3600 seconds.")
            if w > 3600:
                raise ConfigError(f"stabilization_window_seconds must be <= 3600, got {w}.")

    @classmethod
    def scale_up_default(cls) -> ScalingRules:
        """Kubernetes' default: +4 pods or +100 % per 15 s, whichever is more; no window."""
        return cls((ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)), "Max", 0)

    @classmethod
    def scale_down_default(cls) -> ScalingRules:
        """Kubernetes' default: −100 % per 15 s; the window comes from the controller (300 s)."""
        return cls((ScalingPolicy("Percent", 100, 15),), "Max", None)


@dataclass
class HorizontalPodAutoscaler:
    """The HPA's decision for a utilisation target (``averageUtilization``, as a fraction).

    Call :meth:`decide` once per sync period with the current replica count and the ready
    pods' utilisations; it returns the new replica count and remembers what it needs
    (recommendations, scale events) for the stabilisation window and rate policies.
    """

    target: float = 0.8
    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = 0.1
    scale_up: ScalingRules = field(default_factory=ScalingRules.scale_up_default)
    scale_down: ScalingRules = field(default_factory=ScalingRules.scale_down_default)
    downscale_stabilization_seconds: int = 300
    sync_period_seconds: float = 15.0

    def __post_init__(self) -> None:
        _check_number("target", self.target, low=0.0, low_open=True,
                      fix="target is the average utilisation to aim for, as a fraction: 0.8 for 80 %.")
        _check_int("min_replicas", self.min_replicas, low=1, fix="Use min_replicas=1 or more.")
        _check_int("max_replicas", self.max_replicas, low=self.min_replicas,
                   fix=f"max_replicas must be >= min_replicas ({self.min_replicas}).")
        _check_number("tolerance", self.tolerance, low=0.0, fix="Kubernetes' default is 0.1 (10 %).")
        _check_int("downscale_stabilization_seconds", self.downscale_stabilization_seconds, low=0,
                   fix="Kubernetes' default is 300 (5 minutes).")
        _check_number("sync_period_seconds", self.sync_period_seconds, low=0.0, low_open=True,
                      fix="Kubernetes' default is 15 seconds.")
        for name in ("scale_up", "scale_down"):
            if not isinstance(getattr(self, name), ScalingRules):
                raise ConfigError(f"{name} must be a ScalingRules, e.g. ScalingRules.{name}_default().")
        self._recommendations: list[tuple[float, int]] = []
        self._up_events: list[tuple[float, int]] = []
        self._down_events: list[tuple[float, int]] = []

    # -- 1. the replica calculation (replica_calculator.go) ------------------------------
    def recommend(self, current: int, utilisations: Sequence[float], unready: int = 0) -> int:
        """``GetResourceReplicas``: the raw recommendation, before stabilisation and policies."""
        if not utilisations:
            return current
        ready = len(utilisations)
        ratio = (sum(utilisations) / ready) / self.target
        if not (unready > 0 and ratio > 1.0):
            if abs(1.0 - ratio) <= self.tolerance:
                return current
            return math.ceil(ratio * ready)
        new_ratio = sum(utilisations) / ((ready + unready) * self.target)
        if abs(1.0 - new_ratio) <= self.tolerance or new_ratio < 1.0:
            return current
        new = math.ceil(new_ratio * (ready + unready))
        return current if new < current else new

    # -- 2. stabilisation and 3. rate policies (horizontal.go) ---------------------------
    def _window(self, rules: ScalingRules, up: bool) -> float:
        w = rules.stabilization_window_seconds
        if w is None:
            w = 0 if up else self.downscale_stabilization_seconds
        return w * 1000.0

    def _stabilise(self, now: float, current: int, desired: int) -> int:
        up_cut = now - self._window(self.scale_up, True)
        down_cut = now - self._window(self.scale_down, False)
        up_rec = down_rec = desired
        for t, rec in self._recommendations:
            if t > up_cut:
                up_rec = min(up_rec, rec)
            if t > down_cut:
                down_rec = max(down_rec, rec)
        keep = max(self._window(self.scale_up, True), self._window(self.scale_down, False))
        self._recommendations = [(t, r) for t, r in self._recommendations if t > now - keep]
        self._recommendations.append((now, desired))
        out = current
        if out < up_rec:
            out = up_rec
        if out > down_rec:
            out = down_rec
        return out

    @staticmethod
    def _changed(events, now: float, period_s: int) -> int:
        cut = now - period_s * 1000.0
        return sum(n for t, n in events if t > cut)

    def _limit(self, now: float, current: int, rules: ScalingRules, up: bool) -> int:
        if rules.select_policy == "Disabled":
            return current
        pick = max if (rules.select_policy == "Max") == up else min
        result = None
        for p in rules.policies:
            start = (current - self._changed(self._up_events, now, p.period_seconds)
                     + self._changed(self._down_events, now, p.period_seconds))
            if up:
                prop = (start + p.value if p.type == "Pods"
                        else math.ceil(start * (1 + p.value / 100)))
            else:
                prop = (start - p.value if p.type == "Pods"
                        else int(start * (1 - p.value / 100)))
            result = prop if result is None else pick(result, prop)
        return result

    def decide(self, now: float, current: int, utilisations: Sequence[float], unready: int = 0) -> int:
        """One sync: the replica count the HPA sets at virtual time *now* (ms)."""
        _check_number("now", now, low=0.0, fix="now is virtual ms.")
        _check_int("current", current, low=0, fix="current is the replica count (spec.replicas).")
        if current == 0:                      # scaling is disabled at 0 replicas
            return 0
        if current > self.max_replicas:
            desired = self.max_replicas
        elif current < self.min_replicas:
            desired = self.min_replicas
        else:
            raw = self.recommend(current, utilisations, unready)
            desired = self._stabilise(now, current, raw)
            if desired > current:
                limit = max(current, self._limit(now, current, self.scale_up, True))
                desired = min(desired, min(self.max_replicas, limit))
            elif desired < current:
                limit = min(current, self._limit(now, current, self.scale_down, False))
                desired = max(desired, max(self.min_replicas, limit))
        if desired > current:
            self._up_events.append((now, desired - current))
        elif desired < current:
            self._down_events.append((now, current - desired))
        return desired


class Autoscaling:
    """A service scaled by a :class:`HorizontalPodAutoscaler` while the simulation runs.

    ``scaling = Autoscaling(sim, "orders", hpa, pod_concurrency=4, startup=30_000,
    replicas=2)``, then ``result = scaling.run(until=...)`` instead of ``sim.run``. The service
    must already be registered (with ``instances=1``); its concurrency is set to ready pods ×
    *pod_concurrency*. ``scaling.history`` holds one row per sync: ``(t_ms, replicas, ready,
    utilisation, desired)``. :meth:`kill` removes a ready pod at a time (a crash or an
    eviction); the Deployment then starts a replacement, which takes *startup* ms.
    """

    def __init__(self, sim, service: str, hpa: HorizontalPodAutoscaler, pod_concurrency: int = 4,
                 startup: float = 30_000.0, replicas: int | None = None) -> None:
        if service not in sim.services:
            raise ConfigError(f"unknown service {service!r}: register it with sim.service(...) "
                              "before Autoscaling(sim, ...).")
        if not isinstance(hpa, HorizontalPodAutoscaler):
            raise ConfigError(f"hpa must be a HorizontalPodAutoscaler, got {hpa!r}.")
        self.sim = sim
        self.service = service
        self.hpa = hpa
        self.pod_concurrency = _check_int("pod_concurrency", pod_concurrency, low=1,
                                          fix="Each pod has at least one worker thread.")
        self.startup = _check_number("startup", startup, low=0.0,
                                     fix="startup is ms from 'pod asked for' to 'pod ready'.")
        n = hpa.min_replicas if replicas is None else _check_int(
            "replicas", replicas, low=1, fix="Start with at least one replica.")
        self.ready = n
        self.pending: list[float] = []          # ready times of pods that are starting
        self.history: list[tuple[float, int, int, float, int]] = []
        self._kills: list[float] = []
        self._row = 0
        self._busy = 0.0
        self._inflight = 0
        self._last = 0.0
        self._set_capacity()

    @property
    def replicas(self) -> int:
        """spec.replicas: ready pods plus pods still starting."""
        return self.ready + len(self.pending)

    def kill(self, at: float) -> None:
        """Lose one ready pod at virtual time *at* (ms); a replacement starts at once."""
        self._kills.append(_check_number("at", at, low=0.0, fix="at is virtual ms."))
        self._kills.sort()

    def _set_capacity(self) -> None:
        self.sim.services[self.service].concurrency = max(1, self.ready) * self.pod_concurrency

    def _note(self, now: float, text: str, value: float) -> None:
        self.sim.journal.add(now, "state", self.service, "", "", "", "", 0, 0, self.replicas,
                             float(value), text, (("source", "hpa"),))

    def _measure(self, now: float) -> None:
        """Integrate busy slots from the journal rows added since the last call."""
        rows = self.sim.journal.rows
        name = self.service
        busy, inflight, last = self._busy, self._inflight, self._last
        for i in range(self._row, len(rows)):
            r = rows[i]
            if r[3] == name and r[12] == "server" and (r[2] == "span.start" or r[2] == "span.end"):
                busy += inflight * (r[0] - last)
                last = r[0]
                inflight += 1 if r[2] == "span.start" else -1
        busy += inflight * (now - last)
        self._row, self._busy, self._inflight, self._last = len(rows), busy, inflight, now

    def run(self, until: float):
        """Run the simulation to *until* (ms), syncing the HPA every sync period; a Result."""
        sim = self.sim
        until = _check_number("until", until, low=sim.now, low_open=True, fix="until is virtual ms.")
        period = self.hpa.sync_period_seconds * 1000.0
        next_sync = (math.floor(sim.now / period) + 1) * period
        window_start = sim.now
        self._measure(sim.now)
        self._busy = 0.0
        while sim.now < until:
            upcoming = [next_sync, until] + self.pending[:1] + self._kills[:1]
            t = min(upcoming)
            if t > sim.now:
                sim.run(until=t)
            while self.pending and self.pending[0] <= sim.now:
                self.pending.pop(0)
                self.ready += 1
                self._set_capacity()
                self._note(sim.now, "pod ready", self.ready)
            while self._kills and self._kills[0] <= sim.now:
                self._kills.pop(0)
                if self.ready > 0:
                    self.ready -= 1
                    self.pending.append(sim.now + self.startup)
                    self.pending.sort()
                    self._set_capacity()
                    self._note(sim.now, "pod lost", self.ready)
            if sim.now >= next_sync:
                self._measure(sim.now)
                span = max(sim.now - window_start, 1e-9)
                cap = max(1, self.ready) * self.pod_concurrency
                util = self._busy / (cap * span)
                before = self.replicas
                desired = self.hpa.decide(sim.now, before, [util] * self.ready, len(self.pending))
                if desired > before:
                    self.pending.extend([sim.now + self.startup] * (desired - before))
                    self.pending.sort()
                elif desired < before:
                    drop = before - desired
                    while drop and self.pending:     # cancel pods still starting first
                        self.pending.pop()
                        drop -= 1
                    self.ready = max(0, self.ready - drop)
                    self._set_capacity()
                if desired != before:
                    self._note(sim.now, f"replicas {before}->{desired}", util)
                self.history.append((sim.now, before, self.ready, util, desired))
                self._busy = 0.0
                window_start = sim.now
                next_sync += period
        return sim.run(until=until) if sim.now < until else _result(sim)


def _result(sim):
    from ..kernel.result import Result
    return Result(sim)


def _parity(seed: int) -> str:
    """A small ramp scaled by the default HPA: the journal's hash."""
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)
    work = sim.stream("delivery:autoscaler:work")

    def api(ctx, req):
        yield ctx.work(work.expovariate(1 / 20.0))
        return {"ok": True}

    sim.service("api", api, concurrency=4, queue=200)
    sim.load("api", schedule=[(0, 50), (30_000, 300)], duration=90_000, timeout=1_000)
    scaling = Autoscaling(sim, "api", HorizontalPodAutoscaler(target=0.6, max_replicas=8),
                          pod_concurrency=4, startup=20_000, replicas=1)
    return scaling.run(until=90_000).journal_hash()
