"""Pods on a node: container start, probes, restarts, OOM kills and graceful termination.

:class:`Pods` runs *replicas* pods of one service. Each pod is a kernel service of its own
(``orders-0``...) whose concurrency is the container's request threads, and callers reach
the ready ones through ``reply = yield from pods.call(ctx, body)``, as through a Service.
A **kubelet** drives each pod in virtual time, with Kubernetes' semantics (sources: the
*Pod Lifecycle* and *Container Lifecycle Hooks* pages of kubernetes.io, and the API's
field docs in ``k8s.io/api/core/v1``):

- **Start.** A container runs its JVM for *start* ms (drawn from the stream
  ``delivery:jvm-start:<name>``) before its HTTP server answers; until then connections
  are refused, and probes fail.
- **Probes** (:mod:`labs.delivery.probes`) are real HTTP requests sent by the kubelet
  through the pod's request threads, so under load they wait in the same queue as
  customers and can time out. A startup probe holds liveness and readiness off until it
  passes; failing startup or liveness restarts the container; readiness moves the pod in
  and out of the Service's endpoints.
- **Endpoints** follow readiness after *endpoint_delay* ms: the EndpointSlice update and
  every node's kube-proxy rule update take time (an estimate to set, not a default).
- **Restarts** (``restartPolicy: Always``) wait an exponential back-off, 10 s, 20 s, 40 s...
  capped at 300 s, reset after 10 minutes of running without trouble.
- **Memory** (:class:`labs.delivery.jvm.JvmMemory`): when the container's memory passes its
  limit, the kernel's OOM killer ends it: exit code 137, reason ``OOMKilled``, requests in
  flight lost. When only the heap is too small, the request fails with a 500
  (``OutOfMemoryError``) and the JVM lives on.
- **Termination** (a pod deleted, e.g. by a rolling restart): the pod leaves the
  endpoints (after *endpoint_delay*), and at the same time the kubelet runs the
  ``preStop`` hook (*pre_stop* ms of sleep), then sends SIGTERM. The grace period
  (``terminationGracePeriodSeconds``, 30 s by default) **starts before preStop** and
  covers both; whatever still runs at its end is SIGKILLed (exit 137). On SIGTERM an
  application with *drain* stops accepting connections, finishes what it holds and exits
  (143, as the JVM does on SIGTERM); one without exits at once, dropping what it holds.

Requests killed with their container answer ``502 "connection reset"`` when their handler
would have finished (a few ms late: the kernel has no way to cut a handler short), and the
slot they held is not reused by the restarted container's requests in the meantime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kernel.context import Context
from ..kernel.distributions import Distribution, Uniform, as_distribution
from ..kernel.errors import ConfigError, _check_int, _check_number
from ..kernel.messages import Request, Response
from .jvm import JvmMemory
from .probes import Probe, ProbeState, _check_kind

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation

__all__ = ["PodSpec", "Pods"]

BACKOFF_START = 10_000.0
BACKOFF_CAP = 300_000.0
BACKOFF_RESET = 600_000.0


@dataclass(frozen=True)
class PodSpec:
    """A pod template: JVM start time, probes, shutdown and memory. Times in ms."""

    start: Any = field(default_factory=lambda: Uniform(8_000, 12_000))
    startup_probe: Probe | None = None
    liveness_probe: Probe | None = field(default_factory=Probe)
    readiness_probe: Probe | None = field(default_factory=Probe)
    grace: float = 30_000.0
    pre_stop: float = 0.0
    drain: bool = True
    memory: JvmMemory | None = None
    threads: int = 8
    queue: int = 100
    probe_work: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_distribution(self.start, "start"))
        for kind in ("startup", "liveness", "readiness"):
            _check_kind(kind, getattr(self, f"{kind}_probe"))
        _check_number("grace", self.grace, low=0.0,
                      fix="terminationGracePeriodSeconds in ms, e.g. grace=30_000 (the default).")
        _check_number("pre_stop", self.pre_stop, low=0.0, fix="A preStop sleep in ms, e.g. 5_000.")
        if self.memory is not None and not isinstance(self.memory, JvmMemory):
            raise ConfigError(f"memory must be a JvmMemory(...) or None, got {self.memory!r}.")
        _check_int("threads", self.threads, low=1, fix="Request threads per pod, e.g. 8.")
        _check_int("queue", self.queue, low=0)
        _check_number("probe_work", self.probe_work, low=0.0)


class _Pod:
    __slots__ = ("name", "index", "epoch", "state", "listening_at", "started", "ready",
                 "in_endpoints", "terminating", "accepting", "in_flight", "committed",
                 "restarts", "backoff", "ran_since", "probes", "exit_codes", "deleted_at", "hung")

    def __init__(self, name: str, index: int) -> None:
        self.name = name
        self.index = index
        self.epoch = 0
        self.state = "waiting"
        self.listening_at = float("inf")
        self.started = False
        self.ready = False
        self.in_endpoints = False
        self.terminating = False
        self.accepting = False
        self.in_flight = 0
        self.committed = 0.0
        self.restarts = 0
        self.backoff = 0.0
        self.ran_since = 0.0
        self.probes: dict[str, ProbeState] = {}
        self.exit_codes: list[int] = []
        self.deleted_at: float | None = None
        self.hung = False


class Pods:
    """*replicas* pods running *handler*; ``yield from pods.call(ctx, body)`` reaches a ready one.

    With *warm* (the default) the first pods have been running for a while when the run
    starts: started, ready and in the endpoints. With ``warm=False`` they all start at 0.
    """

    def __init__(self, sim: Simulation, name: str, handler: Callable, replicas: int = 3,
                 spec: PodSpec | None = None, endpoint_delay: float = 1_000.0,
                 warm: bool = True) -> None:
        if not callable(handler):
            raise ConfigError(f"handler must be a function handler(ctx, req), got {handler!r}.")
        self._sim = sim
        self.name = name
        self.handler = handler
        self.spec = spec = PodSpec() if spec is None else spec
        if not isinstance(spec, PodSpec):
            raise ConfigError(f"spec must be a PodSpec(...), got {spec!r}.")
        self.replicas = _check_int("replicas", replicas, low=1, fix="Use replicas=1 or more.")
        self.endpoint_delay = _check_number("endpoint_delay", endpoint_delay, low=0.0,
                                            fix="How long (ms) an endpoint change takes to reach "
                                                "every node, e.g. 1_000.")
        self._start = spec.start
        self._rng = sim.stream(f"delivery:jvm-start:{name}")
        sim.service(f"kubelet-{name}", lambda ctx, req: {}, concurrency=1)
        req = Request(0, 0, None, f"kubelet-{name}", f"kubelet-{name}", "%032x" % 1, "", None, 1, 0.0)
        self._k = Context(sim, f"kubelet-{name}", 0, req, "%016x" % 1)
        self.pods: list[_Pod] = []
        self.events: list[tuple[float, str, str]] = []     # (t, pod, what)
        self._rr = 0
        self._restart_at: list[float] = []
        for _ in range(replicas):
            pod = self._new_pod(boot=not warm)
            if warm:            # running for a while already: started, ready, in the endpoints
                self._run_container(pod, warm=True)

    def __repr__(self) -> str:
        return f"Pods({self.name!r}, replicas={self.replicas})"

    # -- time ----------------------------------------------------------------------------
    def _after(self, delay: float, fn, *args) -> None:
        self._k.work(max(0.0, delay)).callbacks.append(lambda _e: fn(*args))

    @property
    def now(self) -> float:
        return self._sim.now

    def _log(self, pod: _Pod, what: str) -> None:
        self.events.append((self.now, pod.name, what))
        sim = self._sim
        sim.journal.add(sim.now, "state", self.name, pod.name, "", "", "", 0, 0, 0, 0.0, what)

    # -- lifecycle -------------------------------------------------------------------------
    def _new_pod(self, boot: bool = True) -> _Pod:
        pod = _Pod(f"{self.name}-{len(self.pods)}", len(self.pods))
        self.pods.append(pod)
        self._sim.service(pod.name, self._serve(pod), concurrency=self.spec.threads,
                          queue=self.spec.queue)
        if boot:
            self._after(0.0, self._run_container, pod)
        return pod

    def _run_container(self, pod: _Pod, warm: bool = False) -> None:
        if pod.deleted_at is not None:
            return
        spec = self.spec
        pod.epoch += 1
        pod.state = "running"
        pod.started = spec.startup_probe is None or warm
        pod.ready = warm
        pod.in_endpoints = warm
        pod.accepting = True
        pod.in_flight = 0
        pod.committed = 0.0
        pod.ran_since = self.now
        pod.probes = {}
        pod.hung = False
        epoch = pod.epoch
        if warm:
            pod.listening_at = self.now
            self._log(pod, "running and ready")
            self._start_probes(pod, epoch)
            for st in pod.probes.values():
                st.ok = True
            return
        pod.listening_at = self.now + max(0.0, float(self._start.sample(self._rng)))
        self._log(pod, "container started" if pod.restarts == 0 else f"container restarted ({pod.restarts})")
        if spec.startup_probe is not None:
            pod.probes["startup"] = ProbeState(spec.startup_probe)
            self._after(spec.startup_probe.initial_delay, self._probe, pod, "startup", epoch)
        else:
            self._start_probes(pod, epoch)
        if spec.readiness_probe is None:
            self._after(0.0, self._set_ready, pod, epoch, True)
        self._after(pod.listening_at - self.now, self._listening, pod, epoch)

    def _listening(self, pod: _Pod, epoch: int) -> None:
        if pod.epoch == epoch and pod.state == "running":
            self._log(pod, "JVM started, listening")

    def _start_probes(self, pod: _Pod, epoch: int) -> None:
        for kind in ("liveness", "readiness"):
            probe = getattr(self.spec, f"{kind}_probe")
            if probe is not None:
                pod.probes[kind] = ProbeState(probe, ok=(kind == "liveness"))
                self._after(probe.initial_delay, self._probe, pod, kind, epoch)

    def _probe(self, pod: _Pod, kind: str, epoch: int) -> None:
        if pod.epoch != epoch or pod.state != "running" or kind not in pod.probes:
            return
        if kind == "startup" and pod.started:
            return
        probe = pod.probes[kind].probe
        ev = self._k.call(pod.name, {"probe": kind}, timeout=probe.timeout)
        ev.callbacks.append(lambda e: self._probe_result(pod, kind, epoch, e.value))
        self._after(probe.period, self._probe, pod, kind, epoch)

    def _probe_result(self, pod: _Pod, kind: str, epoch: int, resp: Response) -> None:
        if pod.epoch != epoch or pod.state != "running":
            return
        ok = 200 <= resp.status < 400
        flip = pod.probes[kind].record(ok)
        if kind == "startup":
            if flip is True:
                pod.started = True
                self._log(pod, "startup probe passed")
                self._start_probes(pod, epoch)
            elif flip is False:
                self._kill(pod, "startup probe failed", 137)
        elif kind == "liveness":
            if flip is False:
                self._kill(pod, f"liveness probe failed ({resp.reason or resp.status})", 137)
        elif flip is not None:
            self._set_ready(pod, epoch, flip, resp.reason or str(resp.status))

    def _set_ready(self, pod: _Pod, epoch: int, ready: bool, why: str = "") -> None:
        if pod.epoch != epoch or pod.ready == ready:
            return
        pod.ready = ready
        self._log(pod, "ready" if ready else f"not ready ({why})")
        want = ready and not pod.terminating
        self._after(self.endpoint_delay, self._endpoint, pod, epoch, want)

    def _endpoint(self, pod: _Pod, epoch: int, want: bool) -> None:
        if want and (pod.epoch != epoch or not pod.ready or pod.terminating):
            return
        if pod.in_endpoints != want:
            pod.in_endpoints = want
            self._log(pod, "in endpoints" if want else "out of endpoints")

    def _kill(self, pod: _Pod, why: str, code: int) -> None:
        """The container dies now: requests it holds are lost; restart after the back-off."""
        if pod.state != "running":
            return
        pod.epoch += 1
        pod.state = "exited"
        pod.accepting = False
        pod.exit_codes.append(code)
        if pod.ready:
            pod.ready = False
            self._after(self.endpoint_delay, self._endpoint, pod, pod.epoch, False)
        self._log(pod, f"{why}: exit {code}")
        if pod.terminating:
            pod.state = "terminated"
            return
        if self.now - pod.ran_since >= BACKOFF_RESET:
            pod.backoff = 0.0
        pod.backoff = BACKOFF_START if pod.backoff == 0 else min(BACKOFF_CAP, 2 * pod.backoff)
        pod.restarts += 1
        self._log(pod, f"back-off {pod.backoff / 1000:g} s")
        self._after(pod.backoff, self._run_container, pod)

    def hang(self, index: int, at: float) -> None:
        """Inject a deadlock: from *at*, pod *index*'s JVM accepts connections and never
        answers (requests and probes alike), until the container is restarted."""
        _check_int("index", index, low=0)
        if index >= len(self.pods):
            raise ConfigError(f"index must be below {len(self.pods)} (the pods so far), got {index}.")
        _check_number("at", at, low=0.0)
        pod = self.pods[index]

        def go() -> None:
            if pod.state == "running":
                pod.hung = True
                self._log(pod, "JVM hung (deadlock)")

        self._after(at - self.now, go)

    # -- termination -----------------------------------------------------------------------
    def delete(self, pod: _Pod) -> None:
        """Delete *pod* now (a rolling restart, a scale-down): the termination sequence."""
        if pod.terminating:
            return
        pod.terminating = True
        pod.deleted_at = self.now
        self._log(pod, "terminating")
        self._after(self.endpoint_delay, self._endpoint, pod, pod.epoch, False)
        epoch = pod.epoch
        grace = self.spec.grace
        self._after(min(self.spec.pre_stop, grace), self._sigterm, pod, epoch)
        self._after(grace, self._sigkill, pod, epoch)

    def _sigterm(self, pod: _Pod, epoch: int) -> None:
        if pod.epoch != epoch or pod.state != "running":
            pod.state = "terminated"
            return
        self._log(pod, "SIGTERM")
        if not self.spec.drain or pod.in_flight == 0:
            self._kill(pod, "exited on SIGTERM", 143)
        else:
            pod.accepting = False        # a graceful stop: no new connections, finish the rest

    def _sigkill(self, pod: _Pod, epoch: int) -> None:
        if pod.epoch == epoch and pod.state == "running":
            self._kill(pod, "grace period over, SIGKILL", 137)

    def rolling_restart(self, at: float) -> None:
        """``kubectl rollout restart`` at *at*: one new pod at a time, the old one deleted
        once the new one is in the endpoints (maxSurge 1, maxUnavailable 0)."""
        _check_number("at", at, low=0.0)
        self._after(at - self.now, self._restart_next, list(p for p in self.pods if not p.terminating))

    def _restart_next(self, old: list) -> None:
        if not old:
            self._log(self.pods[-1], "rolling restart done")
            return
        new = self._new_pod()

        def wait() -> None:
            if new.in_endpoints:
                self.delete(old[0])
                self._restart_next(old[1:])
            else:
                self._after(100.0, wait)

        self._after(100.0, wait)

    # -- serving ---------------------------------------------------------------------------
    def _serve(self, pod: _Pod):
        spec = self.spec
        mem = spec.memory
        handler = self.handler

        def serve(ctx, req):
            epoch = pod.epoch
            body = req.body
            if pod.state != "running" or ctx.now < pod.listening_at or (
                    not pod.accepting and not (isinstance(body, dict) and "probe" in body)):
                yield ctx.work(0)
                return Response(503, None, "connection refused")
            if pod.hung:                 # holds its thread until the container is restarted
                while pod.epoch == epoch:
                    yield ctx.work(500.0)
                return Response(502, None, "connection reset")
            if isinstance(body, dict) and "probe" in body:
                yield ctx.work(spec.probe_work)
                if pod.epoch != epoch:
                    return Response(502, None, "connection reset")
                if body["probe"] == "readiness" and (pod.terminating or not pod.accepting):
                    return Response(503, None, "shutting down")
                return {"status": "UP"}
            pod.in_flight += 1
            if mem is not None:
                pod.committed = mem.committed_heap(pod.in_flight, pod.committed)
                pod.committed = min(mem.max_heap_mib, pod.committed + mem.growth_per_request_mib)
                if mem.rss(pod.committed) > mem.limit_mib:
                    self._kill(pod, "OOMKilled", 137)
                    yield ctx.work(0)
                    return Response(502, None, "connection reset")
                if not mem.heap_fits(pod.in_flight):
                    pod.in_flight -= 1
                    yield ctx.work(0)
                    return Response(500, None, "OutOfMemoryError: Java heap space")
            out = handler(ctx, req)
            if hasattr(out, "send"):
                out = yield from out
            if pod.epoch != epoch:
                return Response(502, None, "connection reset")
            pod.in_flight -= 1
            if pod.state == "running" and not pod.accepting and pod.in_flight == 0 and pod.terminating:
                self._kill(pod, "drained, exited on SIGTERM", 143)
            return out

        return serve

    def call(self, ctx, body: Any = None, **kwargs):
        """Call one pod in the Service's endpoints (``reply = yield from pods.call(ctx, body)``)."""
        ready = [p for p in self.pods if p.in_endpoints]
        if not ready:
            yield ctx.work(0)
            return Response(503, None, "no ready endpoints")
        self._rr += 1
        pod = ready[self._rr % len(ready)]
        return (yield ctx.call(pod.name, body, **kwargs))

    # -- reading a run ---------------------------------------------------------------------
    def in_endpoints_over_time(self, until: float, step: float = 1_000.0) -> list[tuple[float, int]]:
        """[(t in s, pods in the endpoints)], from the journaled events."""
        changes = [(t, -1 if what == "out of endpoints" else +1) for t, _p, what in self.events
                   if what in ("in endpoints", "out of endpoints", "running and ready")]
        out, n, i, t = [], 0, 0, 0.0
        while t <= until:
            while i < len(changes) and changes[i][0] <= t:
                n += changes[i][1]
                i += 1
            out.append((t / 1000, n))
            t += step
        return out

    def count(self, what: str) -> int:
        """How many events contain *what* (e.g. ``"OOMKilled"``, ``"liveness probe failed"``)."""
        return sum(1 for _t, _p, w in self.events if what in w)


def _parity(seed: int) -> str:
    """A slow JVM with a startup probe, an OOM kill, and a rolling restart with draining."""
    from ..kernel.core import Simulation
    from ..kernel.distributions import Exponential

    sim = Simulation(seed=seed)

    def orders(ctx, req):
        yield ctx.work(Exponential(20.0))
        return {"ok": True}

    spec = PodSpec(start=Uniform(4_000, 6_000), startup_probe=Probe(period=2_000, failure_threshold=5),
                   pre_stop=2_000, memory=JvmMemory(limit_mib=512, xmx_mib=400, growth_per_request_mib=0.5))
    pods = Pods(sim, "orders", orders, replicas=2, spec=spec)

    def front(ctx, req):
        return (yield from pods.call(ctx, req.body, timeout=2_000))

    sim.service("front", front, concurrency=64)
    pods.rolling_restart(at=15_000)
    sim.load("front", rate=40, duration=30_000)
    return sim.run(until=32_000).journal_hash()
