"""Rollouts: a Deployment of pods, and rolling, blue-green and canary updates with analysis.

A :class:`Deployment` is a set of pods of one service, each pod a kernel service of its
own (``payments-v1-0``, ``payments-v2-3``...) running the handler of its *version*. Callers
reach the deployment the way a Kubernetes Service is reached: ``reply = yield from
payments.call(ctx, body)`` picks one **ready** endpoint (round robin; for a canary, by
traffic weight first) and calls it. A pod is created at some time, becomes ready after its
start-up time (drawn from the stream ``delivery:start:<name>``), and leaves the endpoints
at once when it is deleted; requests it already holds finish (graceful termination; the
failure of draining badly is chapter 18's, see :mod:`labs.delivery.pods`).

The strategies and their sources:

- :class:`RollingUpdate`: the Deployment controller's ``rolloutRolling``, in
  :func:`labs.delivery.fenceposts.sync_rolling`. **Kubernetes never rolls back by itself**: a rollout whose pods pass their readiness probe but fail
  requests completes. With *analysis*, this model adds what a pipeline adds in front of
  it: a watcher of the service's error rate that runs ``kubectl rollout undo``, which is
  one more rolling update, back to the previous ReplicaSet, under the same fenceposts.
- :class:`BlueGreen`: a full second set of pods (green) is started beside the live one
  (blue); once all are ready the Service's selector switches at once. Analysis keeps
  watching after the switch; on failure the selector switches back (instant while blue
  still exists). Blue is deleted *scale_down_delay* after the switch (Argo Rollouts'
  ``scaleDownDelaySeconds``, 30 s by default); a failure found later needs blue rebuilt.
- :class:`Canary`: Argo Rollouts' canary with a traffic router: each step sets a traffic
  *weight* for the new version (with ``ceil(replicas × weight / 100)`` canary pods, the
  weight applied once they are ready) and pauses; an analysis runs every *interval* during
  the pause on the **canary's** requests only; a failed measurement aborts: weight 0 at
  once, canary pods deleted. After the last step the new version is scaled to *replicas*,
  takes all traffic once ready, and the old pods are deleted.

:class:`Analysis`: a single measurement over its objective fails it; one on fewer than
*min_requests* requests is inconclusive.

:meth:`Deployment.lose` injects the failure a rollout has to survive on top of its own
deletions: a pod lost (an eviction, a node gone), replaced by its ReplicaSet.
:meth:`Deployment.fewest_ready` and :meth:`Deployment.peak` read back the capacity floor a
run kept and the pods it needed at once.

Left out: node capacity and ResourceQuota (surge pods always schedule),
``progressDeadlineSeconds``, probes (pods are ready at their start-up time; see chapter
18's parts). The controller reacts at once, advanced lazily from ``payments.call`` and :meth:`Deployment.finish`; each change is
journaled (kind ``state``) with the time it happened in ``value``.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from ..kernel.distributions import Distribution, as_distribution
from ..kernel.errors import ConfigError, _check_int, _check_number
from ..kernel.messages import Response
from .controllers import _Controllers
from .fenceposts import sync_rolling
from .strategies import Analysis, BlueGreen, Canary, RollingUpdate, RolloutReport

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation

__all__ = ["Deployment"]


class _Pod:
    __slots__ = ("name", "version", "created", "ready_at", "deleted", "served", "errors")

    def __init__(self, name: str, version: str, created: float, ready_at: float) -> None:
        self.name = name
        self.version = version
        self.created = created
        self.ready_at = ready_at
        self.deleted: float | None = None
        self.served = 0
        self.errors = 0

    def ready(self, t: float) -> bool:
        return self.deleted is None and self.ready_at <= t


class Deployment(_Controllers):
    """Pods of one service, by version; ``yield from dep.call(ctx, body)`` reaches a ready one."""

    def __init__(self, sim: Simulation, name: str, versions: dict[str, Callable], version: str,
                 replicas: int = 4, start: Distribution | float = 20_000.0,
                 concurrency: int = 4, queue: int = 50) -> None:
        if not isinstance(versions, dict) or not versions or not all(
                isinstance(k, str) and callable(v) for k, v in versions.items()):
            raise ConfigError(f"versions must be a dict of version name -> handler(ctx, req), got "
                              f"{versions!r}.")
        if version not in versions:
            raise ConfigError(f"version {version!r} is not one of {sorted(versions)!r}.")
        self._sim = sim
        self.name = name
        self.versions = dict(versions)
        self.replicas = _check_int("replicas", replicas, low=1, fix="Use replicas=1 or more.")
        self._start = as_distribution(start, "start")
        self.concurrency = _check_int("concurrency", concurrency, low=1)
        self.queue = _check_int("queue", queue, low=0)
        self._rng = sim.stream(f"delivery:start:{name}")
        self._split = sim.stream(f"delivery:split:{name}")
        self.pods: list[_Pod] = []
        self._seq = 0
        self._rr = 0
        self._now = 0.0
        self._events: list = []        # (t, seq, fn, arg)
        self._seq_events = 0
        self._outcomes: list = []      # (t, version, ok)
        self.history: list[tuple[float, str, str, str]] = []   # (t, what, pod, version)
        self.reports: list[RolloutReport] = []
        self._r: dict | None = None    # the rollout in progress
        self.stable = version
        self.active = version          # what the Service's selector points at (blue-green)
        self.weight = 0.0              # canary traffic weight, %
        for _ in range(self.replicas):
            self._create(version, 0.0, ready=True)

    def __repr__(self) -> str:
        return f"Deployment({self.name!r}, replicas={self.replicas}, stable={self.stable!r})"

    # -- pods ----------------------------------------------------------------------------
    def _create(self, version: str, t: float, ready: bool = False) -> _Pod:
        pod = _Pod(f"{self.name}-{version}-{self._seq}", version, t,
                   t if ready else t + max(0.0, float(self._start.sample(self._rng))))
        self._seq += 1
        handler = self.versions[version]

        def run(ctx, req, _pod=pod, _h=handler):
            out = _h(ctx, req)
            if hasattr(out, "send"):
                out = yield from out
            else:
                yield ctx.work(0)
            status = out.status if isinstance(out, Response) else 200
            _pod.served += 1
            ok = 200 <= status < 400
            _pod.errors += not ok
            self._outcomes.append((ctx.now, _pod.version, ok))
            return out

        self._sim.service(pod.name, run, concurrency=self.concurrency, queue=self.queue)
        self.pods.append(pod)
        self._log(t, "created", pod)
        if not ready:
            self._at(pod.ready_at, self._pod_ready, pod)
        return pod

    def _pod_ready(self, pod: _Pod) -> None:
        if pod.deleted is None:
            self._log(pod.ready_at, "ready", pod)
            self._sync(pod.ready_at)

    def _delete(self, pod: _Pod, t: float) -> None:
        if pod.deleted is None:
            pod.deleted = t
            self._log(t, "deleted", pod)

    def lose(self, at: float, version: str | None = None) -> None:
        """At virtual time *at*, lose one ready pod (of *version*, or of any; the oldest).

        An involuntary disruption, which nobody schedules: the pod leaves the endpoints at
        once, and its ReplicaSet, whose replica count did not change, creates a replacement
        of the same version at once, which takes the usual start-up time; the Deployment
        controller then syncs, as on every pod change. That is what a node-pressure
        eviction, or a pod deleted by hand, does. A failed node is slower on both counts (its pods
        leave the endpoints once the node controller marks the node unreachable, and are
        replaced only when evicted, 300 s later with the default tolerations), which only
        makes the dip longer. ``maxUnavailable`` budgets the rollout's *own* deletions: a
        loss during a rollout comes on top of them, and a PodDisruptionBudget does not
        prevent it (it limits only voluntary disruptions, such as a drain's evictions).
        A loss when no such pod is ready is journaled and does nothing. (Sources: the
        Kubernetes documentation's "Disruptions" and "Taints and Tolerations" pages.)
        """
        _check_number("at", at, low=0.0, fix="A time in virtual ms from the start.")
        if version is not None and version not in self.versions:
            raise ConfigError(f"version {version!r} is not one of {sorted(self.versions)!r}; "
                              "use one of them, or version=None for any pod.")
        self._at(float(at), self._lose, version)

    def _lose(self, version: str | None) -> None:
        t = self._now
        pods = self.ready(version, t)
        if not pods:
            self._log(t, "nothing to lose", None, version or "")
            return
        pod = pods[0]
        self._delete(pod, t)
        self._log(t, "lost", pod)
        self._create(pod.version, t)
        self._sync(t)

    def live(self, version: str | None = None) -> list[_Pod]:
        """Pods not deleted (of *version*, or all), oldest first."""
        return [p for p in self.pods if p.deleted is None and (version is None or p.version == version)]

    def ready(self, version: str | None = None, t: float | None = None) -> list[_Pod]:
        """Ready pods (of *version*, or all) at time *t* (default: the controller's now)."""
        t = self._now if t is None else t
        return [p for p in self.live(version) if p.ready_at <= t]

    def _log(self, t: float, what: str, pod: _Pod | None, version: str = "") -> None:
        v = pod.version if pod is not None else version
        n = pod.name if pod is not None else ""
        self.history.append((t, what, n, v))
        sim = self._sim
        sim.journal.add(sim.now, "state", self.name, n, "", "", "", 0, 0, 0, float(t),
                        f"{what} {v}".strip())

    # -- the controller's clock ----------------------------------------------------------
    def _at(self, t: float, fn, arg=None) -> None:
        heappush(self._events, (t, self._seq_next(), fn, arg))

    def _seq_next(self) -> int:
        self._seq_events += 1
        return self._seq_events

    def _advance(self, now: float) -> None:
        ev = self._events
        while ev and ev[0][0] <= now:
            t, _, fn, arg = heappop(ev)
            self._now = t
            fn(arg)
        self._now = max(self._now, now)

    def finish(self, until: float) -> None:
        """Run the controller up to *until* (call it after ``sim.run``, before reading reports)."""
        self._advance(until)

    # -- the Service ---------------------------------------------------------------------
    def endpoints(self) -> list[_Pod]:
        """Ready pods the Service sends to now, ignoring the canary split."""
        r = self._r
        if r is not None and r["kind"] == "blue-green":
            return self.ready(self.active)
        return self.ready()

    def _pick(self) -> _Pod | None:
        r = self._r
        if r is not None and r["kind"] == "canary":
            canary = self.ready(r["version"])
            stable = self.ready(self.stable)
            group = canary if (self.weight > 0 and canary and
                               self._split.random() * 100 < self.weight) else stable
            if not group:
                group = stable or canary
        else:
            group = self.endpoints()
        if not group:
            return None
        self._rr += 1
        return group[self._rr % len(group)]

    def call(self, ctx, body: Any = None, **kwargs):
        """Call one ready pod (``reply = yield from dep.call(ctx, body, timeout=...)``)."""
        self._advance(ctx.now)
        pod = self._pick()
        if pod is None:
            yield ctx.work(0)
            return Response(503, None, "no ready endpoints")
        return (yield ctx.call(pod.name, body, **kwargs))

    def rollout(self, version: str, at: float, strategy) -> None:
        """Start rolling out *version* at virtual time *at* with *strategy*."""
        if version not in self.versions:
            raise ConfigError(f"version {version!r} is not one of {sorted(self.versions)!r}.")
        if not isinstance(strategy, (RollingUpdate, BlueGreen, Canary)):
            raise ConfigError(f"strategy must be RollingUpdate(...), BlueGreen(...) or Canary(...), "
                              f"got {strategy!r}.")
        _check_number("at", at, low=0.0, fix="A time in virtual ms from the start.")
        self._at(float(at), self._begin, (version, strategy))

    def _begin(self, arg) -> None:
        version, strategy = arg
        t = self._now
        kind = {RollingUpdate: "rolling", BlueGreen: "blue-green", Canary: "canary"}[type(strategy)]
        self._r = {"kind": kind, "version": version, "strategy": strategy, "from": self.stable,
                   "started": t, "target": version, "decided": None, "clean": None,
                   "outcome": "in progress", "step": -1, "switched": None}
        self._log(t, f"rollout {kind}", None, version)
        if kind == "blue-green":
            for _ in range(self.replicas):
                self._create(version, t)
        elif kind == "canary":
            self._canary_step(0)
        if strategy.analysis is not None:
            self._at(t + strategy.analysis.interval, self._measure, t)
        self._sync(t)

    def _sync(self, t: float) -> None:
        r = self._r
        if r is None:
            return
        if r["kind"] == "rolling":
            self._sync_rolling(t)
        elif r["kind"] == "blue-green":
            self._sync_blue_green(t)
        else:
            self._sync_canary(t)
        self._check_clean(t)

    def _sync_rolling(self, t: float) -> None:
        if sync_rolling(self, self._r["target"], self._r["strategy"], t):
            self._done(t)

    def _done(self, t: float) -> None:
        r = self._r
        if r is None:
            return
        self._check_clean(t)
        rolled_back = r["decided"] is not None
        r["outcome"] = "rolled back" if rolled_back else "promoted"
        self.stable = r["from"] if rolled_back else r["version"]
        self.active = self.stable
        self.weight = 0.0
        self._log(t, r["outcome"], None, r["version"])
        new = [o for o in self._outcomes if o[1] == r["version"] and o[0] >= r["started"]]
        first = min((o[0] for o in new), default=None)
        self.reports.append(RolloutReport(
            r["kind"], r["version"], r["started"], r["outcome"], first, r["decided"],
            r["clean"] if rolled_back else None, t, len(new), sum(1 for o in new if not o[2])))
        self._r = None

    def report(self) -> RolloutReport | None:
        """The last rollout's report (a finished one, or the one in progress)."""
        r = self._r
        if r is None:
            return self.reports[-1] if self.reports else None
        new = [o for o in self._outcomes if o[1] == r["version"] and o[0] >= r["started"]]
        return RolloutReport(r["kind"], r["version"], r["started"], "in progress",
                             min((o[0] for o in new), default=None), r["decided"], r["clean"],
                             None, len(new), sum(1 for o in new if not o[2]))

    # -- reading a run -------------------------------------------------------------------
    def peak(self) -> int:
        """The most pods that existed at once (created, not yet deleted): what you pay for."""
        alive = best = 0
        for _t, what, _pod, _v in sorted(self.history, key=lambda h: (h[0], h[1] != "deleted")):
            if what == "created":
                alive += 1
            elif what == "deleted":
                alive -= 1
            best = max(best, alive)
        return best

    def fewest_ready(self, since: float = 0.0, until: float | None = None) -> int:
        """The fewest ready pods (any version) at any moment from *since* to *until*
        (default: the last change): the capacity floor a run actually kept."""
        pods = self.pods
        changes = {t for p in pods for t in (p.created, p.ready_at, p.deleted) if t is not None}
        end = max(changes | {since}) if until is None else until
        times = sorted({since} | {t for t in changes if since <= t <= end})
        return min(sum(1 for p in pods if p.ready_at <= t and (p.deleted is None or p.deleted > t))
                   for t in times)

    def capacity(self, until: float, step: float = 1_000.0) -> dict[str, list[tuple[float, int]]]:
        """Ready pods per version (and ``"serving"``: pods the Service sends to), sampled
        every *step* ms up to *until*, as ``{series: [(t in s, pods)]}``."""
        out: dict[str, list[tuple[float, int]]] = {v: [] for v in self.versions}
        t = 0.0
        while t <= until:
            for v in self.versions:
                out[v].append((t / 1000, sum(1 for p in self.pods if p.ready_at <= t and
                                             (p.deleted is None or p.deleted > t) and p.version == v)))
            t += step
        return {v: pts for v, pts in out.items() if any(n for _, n in pts)}


def _parity(seed: int) -> str:
    """A canary that catches a bad version: the digest of its journal."""
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)

    def version(bad: bool):
        def handler(ctx, req):
            yield ctx.work(5.0)
            return Response(500, None, "bug") if bad and req.body["id"] % 3 == 0 else {"ok": 1}
        return handler

    dep = Deployment(sim, "payments", {"v1": version(False), "v2": version(True)}, "v1",
                     replicas=4, start=2_000.0)
    sim.service("orders", lambda ctx, req: (yield from dep.call(ctx, req.body, timeout=500)),
                concurrency=64)
    dep.rollout("v2", at=1_000, strategy=Canary(steps=((25, 5_000),),
                                                analysis=Analysis(interval=1_000, min_requests=5)))
    sim.load("orders", rate=50, duration=10_000)
    result = sim.run(until=12_000)
    dep.finish(12_000)
    return result.journal_hash()
