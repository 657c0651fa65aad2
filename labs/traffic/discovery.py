"""Service discovery: who is listed as an instance of a service, as seen by a client, and when.

A client never sees the fleet itself; it sees a *view* of it, and the view lags. This
module models the fleet (:class:`ServiceInstance`, :class:`Rollout`) and three views of it, each
with the semantics of the real system it is named after. Every view answers
``endpoints(now)``, the instance names a client would pick from at virtual time *now*
(ms), and records when each instance first appeared in an answer (``first_seen``).

**The fleet.** Each instance is its own kernel service (``sim.service(name, ...)``), so a
client addresses one instance, as a client-side load balancer does. An :class:`ServiceInstance`
accepts connections from *ready* until *exit*; before and after, a call to it is refused
(the kernel's crash fault: 503 "connection refused" after one network trip). *stop* is
when it is told to go (SIGTERM, the start of a rolling step's termination); between
*stop* and *exit* it still serves (a pre-stop sleep, a drain). A :class:`Rollout` builds
the plan of a rolling replacement and installs it in a simulation with the public fault
API (``sim.faults.crash``).

**Registry** (:class:`Registry`): self-registration with a heartbeat TTL check, as in
Consul (a check of type TTL: the service must ``PUT /v1/agent/check/pass/<id>`` at least
every *ttl*, or the check turns critical and ``/v1/health/service/<name>?passing`` stops
returning it) and Eureka (lease renewal every 30 s, lease expiry 90 s). An instance
registers when it is ready and heartbeats every *heartbeat* ms while its process lives; it
deregisters at *stop* only if it shuts down gracefully (*deregister_on_stop*, Eureka's
shutdown hook; a SIGKILL, an OOM kill or a lost node never deregisters). Otherwise it is
listed until its last heartbeat plus *ttl*. The *client* then sees the registry through
its own cache: with ``refresh=r`` it polls every *r* ms (Eureka's client fetches the
registry every 30 s, ``registryFetchIntervalSeconds``); with ``refresh=0`` it watches (a
Consul blocking query returns as soon as the list changes) and sees each change
*watch_delay* ms later. Left out: Eureka's server-side response cache and
self-preservation, Consul's ``deregister_critical_service_after`` reaper (it removes the
entry from the catalog; the passing-only health query already hides it), gossip.

**Platform DNS with the JVM cache** (:class:`DnsCache`): a Kubernetes headless Service
(``clusterIP: None``), whose name resolves to the addresses of the ready endpoints of its
EndpointSlices. The platform, not the application, changes the list: an endpoint becomes
ready when its pod is ready and stops being ready when the pod starts terminating
(``ready`` is never true for a terminating endpoint), each after *endpoint_delay* ms of
propagation (kubelet, API server, EndpointSlice controller, CoreDNS's watch). Instances
ready at time 0 were there before the run began, so they are published from the start. The JVM
caches a successful lookup for ``networkaddress.cache.ttl`` seconds (*cache_ttl*), a
*security* property: 30 s when no security manager is installed (the JDK's
``InetAddressCachePolicy.DEFAULT_POSITIVE``), -1 caches forever, 0 does not cache; an
entry is used while ``now <= resolved + ttl`` (``InetAddress.CachedLookup``: expired when
``expiryTime - now < 0``) and a lookup happens lazily, on the first call after expiry. The
JVM ignores the record's own DNS TTL. Left out: the negative cache
(``networkaddress.cache.negative.ttl``, 10 s), ``networkaddress.cache.stale.ttl`` (in JDK
25's ``java.security``, not in JDK 17's; 0 by default), CoreDNS's own ``cache`` plugin, and resolvers outside the JVM.

**Server-side balancing** (:class:`ServerSide`): the client calls one stable name (a
Kubernetes ClusterIP, a load balancer) and the proxy in the path (kube-proxy, an LB)
chooses among the ready endpoints with its own view, *endpoint_delay* ms behind. The
client's view is then always the one virtual address: ``endpoints(now)`` returns the
proxy's choice set, for a balancer that plays the proxy.

Sources: Consul docs, *Health checks* (TTL checks) and *Catalog/health HTTP API*; Netflix
Eureka ``LeaseInfo`` defaults (30 s renewal, 90 s duration) and
``DefaultEurekaClientConfig`` (30 s registry fetch); Kubernetes docs, *EndpointSlices*
and *DNS for Services and Pods*; OpenJDK ``java.security`` and
``sun.net.InetAddressCachePolicy`` (JDK 17 and 25).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..kernel.errors import ConfigError, _check_int, _check_number

__all__ = ["DiscoveryView", "DnsCache", "Registry", "Rollout", "ServerSide", "ServiceInstance"]

_INF = math.inf


@dataclass(frozen=True)
class ServiceInstance:
    """One process of a service: accepts connections in ``[ready, exit)``; told to go at *stop*."""

    name: str
    ready: float = 0.0
    stop: float = _INF
    exit: float = _INF

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"an instance needs a non-empty name, got {self.name!r}.")
        _check_number(f"{self.name}.ready", self.ready, low=0.0, fix="Times are virtual ms >= 0.")
        if self.stop != _INF:
            _check_number(f"{self.name}.stop", self.stop, low=self.ready,
                          fix="An instance is told to stop after it became ready.")
        if self.exit != _INF:
            _check_number(f"{self.name}.exit", self.exit, low=self.stop if self.stop != _INF
                          else self.ready, fix="The process exits at or after its stop signal.")
        elif self.stop != _INF:
            raise ConfigError(f"{self.name}: stop={self.stop} but exit is never; give exit=stop "
                              "(no drain) or a later time.")

    def alive(self, now: float) -> bool:
        """Does the process accept connections at *now*?"""
        return self.ready <= now < self.exit


class Rollout:
    """A rolling replacement: *replicas* old instances replaced one by one by new ones.

    Step *i* (0-based) starts at ``start + i * interval``: the new instance
    ``{service}-{replicas + i + 1}`` starts and is ready *startup* ms later (surge 1,
    unavailable 0, like a Deployment with ``maxSurge: 1, maxUnavailable: 0``); then the old
    instance ``{service}-{i + 1}`` is told to stop and exits *drain* ms later.
    """

    def __init__(self, service: str = "payments", replicas: int = 3, start: float = 10_000.0,
                 interval: float = 15_000.0, startup: float = 5_000.0, drain: float = 0.0) -> None:
        if not isinstance(service, str) or not service:
            raise ConfigError(f"service must be a non-empty name, got {service!r}.")
        self.service = service
        self.replicas = _check_int("replicas", replicas, low=1, fix="Use replicas=1 or more.")
        self.start = _check_number("start", start, low=0.0, fix="Pass when the rollout starts, in ms.")
        self.startup = _check_number("startup", startup, low=0.0,
                                     fix="Pass how long a new instance takes to become ready, in ms.")
        self.interval = _check_number("interval", interval, low=0.0, low_open=True,
                                      fix="Pass the time between two steps, in ms (> 0).")
        self.drain = _check_number("drain", drain, low=0.0,
                                   fix="Pass the time between the stop signal and the exit, in ms.")
        old, new = [], []
        for i in range(replicas):
            t = self.start + i * self.interval
            ready = t + self.startup
            old.append(ServiceInstance(f"{service}-{i + 1}", 0.0, ready, ready + self.drain))
            new.append(ServiceInstance(f"{service}-{replicas + i + 1}", ready))
        self.old: list[ServiceInstance] = old
        self.new: list[ServiceInstance] = new
        self.instances: list[ServiceInstance] = old + new

    @property
    def end(self) -> float:
        """When the last old instance has exited."""
        return max(i.exit for i in self.old)

    def names(self) -> list[str]:
        """Every instance name, old ones first."""
        return [i.name for i in self.instances]

    def install(self, sim, handler, **service_options) -> None:
        """Register one kernel service per instance and schedule its life with crash faults."""
        for inst in self.instances:
            sim.service(inst.name, handler, **service_options)
            if inst.ready > 0:
                sim.faults.crash(inst.name, at=0.0, restart_at=inst.ready)
            if inst.exit != _INF:
                sim.faults.crash(inst.name, at=inst.exit)

    def alive(self, name: str, now: float) -> bool:
        """Does instance *name* accept connections at *now*?"""
        for inst in self.instances:
            if inst.name == name:
                return inst.alive(now)
        raise ConfigError(f"no instance named {name!r} in this rollout; its instances are "
                          f"{self.names()}.")


def _fleet(instances) -> list[ServiceInstance]:
    if isinstance(instances, Rollout):
        return list(instances.instances)
    items = list(instances)
    if not items or not all(isinstance(i, ServiceInstance) for i in items):
        raise ConfigError("a view needs a Rollout or a non-empty list of ServiceInstance, got "
                          f"{instances!r}.")
    return items


class DiscoveryView:
    """What every view shares: ``endpoints(now)`` and when each instance was first seen."""

    def __init__(self, instances) -> None:
        self.instances = _fleet(instances)
        self.first_seen: dict[str, float] = {}
        self.lookups = 0
        self._last = -_INF

    def _answer(self, now: float) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def endpoints(self, now: float) -> list[str]:
        """The instance names a client would choose from at *now* (ms, never going back)."""
        now = _check_number("now", now, low=self._last if self._last != -_INF else 0.0,
                            fix="Pass ctx.now; a view's time must not go backwards.")
        self._last = now
        self.lookups += 1
        answer = self._answer(now)
        for name in answer:
            if name not in self.first_seen:
                self.first_seen[name] = now
        return answer

    def delay_to_see(self, instance: ServiceInstance) -> float | None:
        """ms from *instance* being ready to its first appearance in an answer (None: never)."""
        seen = self.first_seen.get(instance.name)
        return None if seen is None else max(0.0, seen - instance.ready)


class Registry(DiscoveryView):
    """A registry with heartbeat TTLs, seen through the client's cache (see the module doc)."""

    def __init__(self, instances, ttl: float = 30_000.0, heartbeat: float = 10_000.0,
                 refresh: float = 30_000.0, watch_delay: float = 50.0,
                 deregister_on_stop: bool = True) -> None:
        super().__init__(instances)
        self.heartbeat = _check_number("heartbeat", heartbeat, low=0.0, low_open=True,
                                       fix="Pass the heartbeat interval in ms, e.g. heartbeat=10_000.")
        self.ttl = _check_number("ttl", ttl, low=self.heartbeat,
                                 fix="The TTL must be at least one heartbeat interval, or a healthy "
                                     "instance would flap; two or three heartbeats tolerate a lost one.")
        self.refresh = _check_number("refresh", refresh, low=0.0,
                                     fix="Pass the client's poll interval in ms, or 0 to watch.")
        self.watch_delay = _check_number("watch_delay", watch_delay, low=0.0,
                                         fix="Pass the ms a watch takes to see a change.")
        self.deregister_on_stop = bool(deregister_on_stop)

    def leaves_at(self, inst: ServiceInstance) -> float:
        """When the registry stops listing *inst* (deregistration, or last heartbeat + ttl)."""
        if inst.exit == _INF:
            return _INF
        if self.deregister_on_stop:
            return inst.stop
        beats = math.floor((inst.exit - inst.ready) / self.heartbeat)
        last = inst.ready + beats * self.heartbeat
        if last >= inst.exit:          # a beat exactly at exit is not sent: the process is gone
            last -= self.heartbeat
        return last + self.ttl

    def listed(self, now: float) -> list[str]:
        """The registry's own answer at *now* (passing instances), before any client cache."""
        return [i.name for i in self.instances if i.ready <= now < self.leaves_at(i)]

    def _answer(self, now: float) -> list[str]:
        if self.refresh == 0:
            return self.listed(max(0.0, now - self.watch_delay))
        return self.listed(math.floor(now / self.refresh) * self.refresh)


class DnsCache(DiscoveryView):
    """A headless Service's DNS name, resolved through the JVM's address cache (module doc)."""

    def __init__(self, instances, cache_ttl: float = 30.0, endpoint_delay: float = 1_000.0) -> None:
        super().__init__(instances)
        if isinstance(cache_ttl, bool) or not isinstance(cache_ttl, (int, float)) or (
                cache_ttl < 0 and cache_ttl != -1):
            raise ConfigError(f"cache_ttl is networkaddress.cache.ttl in seconds: a number >= 0, or "
                              f"-1 for 'forever', got {cache_ttl!r}. The JDK's default is 30.")
        self.cache_ttl = float(cache_ttl)
        self.endpoint_delay = _check_number("endpoint_delay", endpoint_delay, low=0.0,
                                            fix="Pass the ms the platform takes to publish an "
                                                "endpoint change, e.g. 1_000.")
        self.resolved_at: float | None = None
        self._cached: list[str] = []
        self.resolutions = 0

    def ready_endpoints(self, now: float) -> list[str]:
        """What the DNS server answers at *now*: the ready endpoints, *endpoint_delay* late."""
        return _published(self.instances, now - self.endpoint_delay)

    def _answer(self, now: float) -> list[str]:
        at = self.resolved_at
        fresh = at is not None and (self.cache_ttl == -1 or now <= at + self.cache_ttl * 1000.0)
        if not fresh:
            self._cached = self.ready_endpoints(now)
            self.resolved_at = now
            self.resolutions += 1
        return list(self._cached)


class ServerSide(DiscoveryView):
    """A proxy in the path (kube-proxy, an LB) choosing among ready endpoints, a little late."""

    def __init__(self, instances, endpoint_delay: float = 1_000.0) -> None:
        super().__init__(instances)
        self.endpoint_delay = _check_number("endpoint_delay", endpoint_delay, low=0.0,
                                            fix="Pass the ms the proxy takes to see an endpoint "
                                                "change, e.g. 1_000.")

    def _answer(self, now: float) -> list[str]:
        return _published(self.instances, now - self.endpoint_delay)


def _published(instances, t: float) -> list[str]:
    """Ready, not terminating, at *t* (an instance ready at 0 was there before the run began)."""
    return [i.name for i in instances if (i.ready <= t or i.ready == 0) and t < i.stop]


def _parity(seed: int) -> str:
    """A rolling replacement behind a registry, a DNS cache and a proxy; the run's digest."""
    from ..kernel.core import Simulation
    from .balancing import RoundRobin

    sim = Simulation(seed=seed)
    plan = Rollout(replicas=2, start=1_000, interval=2_000, startup=500)
    views = [Registry(plan, ttl=1_500, heartbeat=500, refresh=1_000, deregister_on_stop=False),
             DnsCache(plan, cache_ttl=1, endpoint_delay=100), ServerSide(plan, endpoint_delay=100)]
    lb = RoundRobin()

    def payments(ctx, req):
        yield ctx.work(2.0)
        return {"ok": True}

    def orders(ctx, req):
        view = views[req.body["id"] % 3]
        return (yield from lb.call(ctx, view.endpoints(ctx.now), timeout=50))

    plan.install(sim, payments)
    sim.service("orders", orders)
    sim.load("orders", rate=40, duration=6_000, timeout=200)
    return sim.run().journal_hash()
