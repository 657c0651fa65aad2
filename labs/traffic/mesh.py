"""A service mesh: proxies as hops with their own latency and cost, mTLS policy, ambient mode.

:class:`Mesh` registers the shop's services on a :class:`labs.Simulation` and puts proxies
in the path of their calls, the way a mesh does it in Kubernetes: transparently. A handler
still writes ``yield ctx.call("payments", body, retry=..., timeout=...)``; the mesh routes
that call through the proxies, so the application's own timeout and retry wrap whatever
the proxies do (the proxies' retries are invisible to it, as they are in production).

Three data planes (``mode``):

- ``"none"``: calls go straight from service to service.
- ``"sidecar"`` (Istio's sidecar mode): every pod of a meshed service gets an Envoy proxy
  with as many instances as the service. One Envoy serves both directions; the
  simulator models its two halves as two services, ``"<service>-proxy"`` (inbound: what
  callers reach) and ``"<service>-proxy-out"`` (outbound: what the application's own
  calls go through), so that a pod's crash (:meth:`Mesh.crash_pod`) can refuse its
  inbound connections without tying the application's outbound calls to that pod.
  :meth:`Mesh.cost_table` bills the two halves as one sidecar. A call
  ``orders → payments`` goes ``orders → orders-proxy-out → payments-proxy → payments``:
  two proxy passes per call. The hops between an application and its own sidecar are
  loopback (no network latency). The **caller's** sidecar applies the route's
  :class:`~labs.traffic.mesh_retry.MeshRetry` (Envoy's router runs on the client side).
- ``"ambient"`` (Istio ambient mode, GA in 1.24): one **ztunnel** per node
  (``"ztunnel-<node>"``), an L4 proxy that does mTLS (HBONE) but no HTTP, and, only for
  services that opt in with ``waypoint=True`` (Istio's ``istio.io/use-waypoint``), a
  **waypoint** Envoy (``"waypoint"``, one per namespace) that does L7 policy, retries
  included. Without a waypoint, ambient mode has **no mesh retries** at all.

**mTLS** (Istio ``PeerAuthentication``, ``security/v1beta1/peer_authentication.proto``):
a meshed caller always speaks mTLS to a meshed server (auto mTLS, ``enableAutoMtls``); a
caller that is not meshed can only speak plaintext. The *server's* mode decides:
``STRICT`` ("TLS with client cert must be presented") resets the plaintext connection,
so the unmeshed caller sees ``503 "connection reset ..."``; ``PERMISSIVE`` ("can be either
plaintext or mTLS") accepts it, and counts it in the metric ``mtls.plaintext`` of the
server's proxy and a ``"plaintext accepted"`` warning in its log (fields ``source``,
``workload``), the only traces it leaves (Istio's standard metrics similarly label each
request with ``connection_security_policy``). ``UNSET`` inherits; here the mesh-wide
default is ``PERMISSIVE`` as in Istio. ``DISABLE`` is not modelled.

**Failures seen through proxies**: an Envoy proxy (sidecar, waypoint) that cannot connect
upstream answers its caller with an HTTP ``503 "upstream connect error"``, so a second
proxy further back sees a 503 *response*, not a connection failure (and Istio's default
retry policy does not retry it). A ztunnel, being L4, resets the connection instead.

**Cost** (:meth:`Mesh.cost_table`): each proxy's :class:`~labs.traffic.proxy.Proxy` profile
(requests and usage, with their sources) times how many run and what they handled.

Randomness: each proxy draws its latency from ``sim.stream("traffic:mesh:<proxy>")`` and
its retry backoff from ``sim.stream("traffic:mesh:retry:<proxy>")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..kernel.errors import ConfigError, _check_int, _check_number
from ..kernel.messages import Response
from .mesh_retry import MeshRetry
from .proxy import Proxy

__all__ = ["Mesh", "MTLS_MODES"]

MTLS_MODES = ("STRICT", "PERMISSIVE")
_MODES = ("none", "sidecar", "ambient")
_REFUSED = "connection refused"
_RESET = "connection reset by peer"
_STRICT_RESET = "connection reset (plaintext refused: STRICT mTLS)"
_UPSTREAM = "upstream connect error"


class _MeshContext:
    """What a meshed handler sees: the real ``ctx``, with ``call`` routed through proxies."""

    __slots__ = ("_ctx", "_mesh")

    def __init__(self, ctx, mesh: Mesh) -> None:
        self._ctx = ctx
        self._mesh = mesh

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)

    def call(self, target: str, body: Any = None, **kwargs):
        """``ctx.call`` as the application writes it; the mesh decides the first hop."""
        hop, payload = self._mesh._first_hop(self._ctx.service, target, body)
        return self._ctx.call(hop, payload, **kwargs)


class Mesh:
    """Services with a data plane in between; ``mesh.service(...)`` instead of ``sim.service``.

    *mode* is ``"none"``, ``"sidecar"`` or ``"ambient"``; *retry* the default
    :class:`MeshRetry` of every route (Istio's default policy when None); *mtls* the
    mesh-wide ``PeerAuthentication`` mode; *sidecar*, *ztunnel*, *waypoint* the
    :class:`Proxy` profiles; *waypoints* the waypoint's instances.
    """

    def __init__(self, sim, mode: str = "sidecar", retry: MeshRetry | None = None,
                 mtls: str = "PERMISSIVE", sidecar: Proxy | None = None,
                 ztunnel: Proxy | None = None, waypoint: Proxy | None = None,
                 waypoints: int = 1) -> None:
        if mode not in _MODES:
            raise ConfigError(f"mode must be one of {_MODES}, got {mode!r}.")
        if retry is not None and not isinstance(retry, MeshRetry):
            raise ConfigError(f"retry must be a MeshRetry (or None for Istio's default), got {retry!r}.")
        self.sim = sim
        self.mode = mode
        self.retry = MeshRetry() if retry is None else retry
        self.mtls = _check_mtls(mtls)
        self.sidecar = sidecar or Proxy.envoy_sidecar()
        self.ztunnel = ztunnel or Proxy.ztunnel()
        self.waypoint = waypoint or Proxy.waypoint()
        for name, p, kind in (("sidecar", self.sidecar, "sidecar"), ("ztunnel", self.ztunnel, "ztunnel"),
                              ("waypoint", self.waypoint, "waypoint")):
            if not isinstance(p, Proxy) or p.kind != kind:
                raise ConfigError(f"{name} must be a Proxy of kind {kind!r} (Proxy.{'envoy_sidecar' if kind == 'sidecar' else kind}()), got {p!r}.")
        self.waypoints = _check_int("waypoints", waypoints, low=1, fix="Use waypoints=1 or more.")
        self._apps: dict[str, dict] = {}      # name -> {meshed, node, waypoint, retry, mtls, instances}
        self._proxies: dict[str, Proxy] = {}  # proxy service name -> profile
        self._bills: dict[str, tuple] = {}    # cost-table row -> (profile, instances, services)

    # -- building ------------------------------------------------------------------------
    def service(self, name: str, handler: Callable, meshed: bool = True, node: str = "node-1",
                waypoint: bool = False, retry: MeshRetry | None = None, mtls: str | None = None,
                instances: int = 1, **kwargs):
        """Register service *name* (``sim.service`` arguments pass through) and its proxies.

        *meshed*: has a sidecar (sidecar mode) or is enrolled (ambient); *node*: where its
        pods run (ambient's ztunnel is per node); *waypoint*: use the namespace's waypoint
        (ambient; needed for any L7 policy); *retry*: this route's :class:`MeshRetry` (a
        VirtualService for this host); *mtls*: this workload's ``PeerAuthentication`` mode.
        """
        if not isinstance(node, str) or not node:
            raise ConfigError(f"node must be a non-empty str such as 'node-1', got {node!r}.")
        if retry is not None and not isinstance(retry, MeshRetry):
            raise ConfigError(f"retry must be a MeshRetry or None, got {retry!r}.")
        if waypoint and self.mode == "ambient" and not meshed:
            raise ConfigError(f"{name!r} uses a waypoint but is not meshed: only enrolled workloads "
                              "can use a waypoint. Pass meshed=True or waypoint=False.")
        mesh = self

        def meshed_handler(ctx, req, _h=handler):
            return _h(_MeshContext(ctx, mesh), req)

        svc = self.sim.service(name, meshed_handler if self.mode != "none" else handler,
                               instances=instances, **kwargs)
        self._apps[name] = {"meshed": bool(meshed) and self.mode != "none", "node": node,
                            "waypoint": bool(waypoint) and self.mode == "ambient",
                            "retry": retry, "mtls": None if mtls is None else _check_mtls(mtls),
                            "instances": instances}
        if self.mode == "sidecar" and meshed:
            handler = self._sidecar_handler(name)
            self._add_proxy(f"{name}-proxy", self.sidecar, instances, handler)
            self._add_proxy(f"{name}-proxy-out", self.sidecar, instances, handler, bill=f"{name}-proxy")
            self.sim.network.link(name, f"{name}-proxy", latency=0.0)
            self.sim.network.link(name, f"{name}-proxy-out", latency=0.0)
        elif self.mode == "ambient" and meshed:
            zt = f"ztunnel-{node}"
            if zt not in self._proxies:
                self._add_proxy(zt, self.ztunnel, 1, self._ztunnel_handler(node))
            self.sim.network.link(name, zt, latency=0.0)
            if waypoint and "waypoint" not in self._proxies:
                self._add_proxy("waypoint", self.waypoint, self.waypoints, self._waypoint_handler())
        return svc

    def peer_authentication(self, mode: str, service: str | None = None) -> None:
        """Set the ``PeerAuthentication`` mode mesh-wide, or for one *service*'s workloads."""
        mode = _check_mtls(mode)
        if service is None:
            self.mtls = mode
        else:
            self._app(service)["mtls"] = mode

    def crash_pod(self, service: str, at: float, restart_at: float | None = None,
                  instance: int | None = None) -> None:
        """Crash *service*'s pods (all, or pod number *instance*) from *at* to *restart_at*.

        In sidecar mode a pod is its sidecar (``"<service>-proxy"``, instance *i*) in front
        of the application. The simulator spreads requests over a service's instances on
        its own, so it cannot pin application instance *i* behind sidecar *i*: one pod's
        crash is therefore modelled where callers meet it, at its sidecar (new connections
        refused, requests in flight in that pod lost); a crash of every pod crashes the
        application too. Without sidecars the application's instance *i* crashes.
        """
        self._app(service)
        proxy = f"{service}-proxy"
        if proxy in self._proxies:
            self.sim.faults.crash(proxy, at, restart_at, instance)
            if instance is None:
                self.sim.faults.crash(service, at, restart_at)
                self.sim.faults.crash(f"{proxy}-out", at, restart_at)
        else:
            self.sim.faults.crash(service, at, restart_at, instance)

    def _add_proxy(self, name: str, profile: Proxy, instances: int, handler,
                   bill: str | None = None) -> None:
        self._proxies[name] = profile
        label = bill or name
        if label in self._bills:
            p, n, names = self._bills[label]
            self._bills[label] = (p, n, names + [name])
        else:
            self._bills[label] = (profile, instances, [name])
        self.sim.service(name, handler, concurrency=100_000, queue=0, instances=instances)

    def _app(self, name: str) -> dict:
        try:
            return self._apps[name]
        except KeyError:
            raise ConfigError(f"{name!r} is not a service of this mesh; register it with "
                              f"mesh.service({name!r}, handler). Known: {sorted(self._apps)}.") from None

    # -- routing -------------------------------------------------------------------------
    def _meshed(self, name: str) -> bool:
        app = self._apps.get(name)
        return bool(app and app["meshed"])

    def _first_hop(self, caller: str, target: str, body: Any) -> tuple[str, Any]:
        """Where a call from *caller*'s application to *target* goes first, and with what."""
        if target not in self._apps or self.mode == "none":
            return target, body
        env = {"to": target, "src": caller, "body": body}
        if self._meshed(caller):
            env["dir"] = "out"
            if self.mode == "sidecar":
                return f"{caller}-proxy-out", env
            return f"ztunnel-{self._apps[caller]['node']}", env
        if not self._meshed(target):
            return target, body
        env["dir"], env["mtls"] = "in", False       # plaintext, captured on the server side
        return self._inbound(target), env

    def _inbound(self, target: str) -> str:
        if self.mode == "sidecar":
            return f"{target}-proxy"
        return f"ztunnel-{self._apps[target]['node']}"

    def _policy(self, target: str) -> MeshRetry:
        r = self._apps[target]["retry"]
        return self.retry if r is None else r

    def _pass(self, ctx, name: str):
        lat = self._proxies[name].latency.sample(self.sim.stream(f"traffic:mesh:{name}"))
        return ctx.work(lat)

    def _admit(self, ctx, env: dict, target: str):
        """The server side's mTLS decision: None (accepted) or the reset the caller sees."""
        if env.get("mtls", True):
            return None
        mode = self._apps[target]["mtls"] or self.mtls
        if mode == "STRICT":
            ctx.count("mtls.rejected")
            ctx.log("plaintext rejected", level="warn", source=env["src"], workload=target)
            return Response(503, None, _STRICT_RESET)
        ctx.count("mtls.plaintext")
        ctx.log("plaintext accepted", level="warn", source=env["src"], workload=target)
        return None

    def _to_app(self, ctx, target: str, env: dict):
        """Deliver to the local application over loopback."""
        resp = yield ctx.call(target, env["body"])
        return resp

    def _l7(self, ctx, name: str, hop: str, payload: Any, policy: MeshRetry):
        """Envoy's router: attempts, per-try and route timeouts, jittered backoff."""
        rng = self.sim.stream(f"traffic:mesh:retry:{name}")
        deadline = None if policy.timeout is None else ctx.now + policy.timeout
        retry = 0
        while True:
            tmo, by_route = policy.per_try_timeout, False
            if deadline is not None:
                left = deadline - ctx.now
                if left <= 0:
                    return Response(504, None, "upstream request timeout")
                if tmo is None or left <= tmo:
                    tmo, by_route = left, True
            resp = yield ctx.call(hop, payload, timeout=tmo)
            if resp.ok:
                return resp
            timed_out = resp.status == 504 and resp.reason == "timeout"
            if timed_out and by_route:
                return Response(504, None, "upstream request timeout")
            if retry >= policy.attempts or not policy.retriable(resp.status, resp.reason, timed_out):
                return _as_http(resp)
            retry += 1
            ctx.count("mesh.retries")
            delay = policy.backoff_ms(retry, rng)
            if deadline is not None and ctx.now + delay >= deadline:
                yield ctx.sleep(deadline - ctx.now)             # the route timer fires first
                return Response(504, None, "upstream request timeout")
            if delay > 0:
                yield ctx.sleep(delay)

    def _sidecar_handler(self, owner: str):
        name = f"{owner}-proxy"

        def sidecar(ctx, req):
            env = req.body
            yield self._pass(ctx, name)
            if env["dir"] == "in":
                refused = self._admit(ctx, env, owner)
                if refused is not None:
                    return refused
                resp = yield from self._to_app(ctx, owner, env)
                return _as_http(resp)
            target = env["to"]
            if self._meshed(target):
                hop, payload = f"{target}-proxy", {**env, "dir": "in", "mtls": True}
            else:
                hop, payload = target, env["body"]             # auto mTLS: plaintext to a non-mesh pod
            resp = yield from self._l7(ctx, name, hop, payload, self._policy(target))
            return resp

        return sidecar

    def _ztunnel_handler(self, node: str):
        name = f"ztunnel-{node}"

        def ztunnel(ctx, req):
            env = req.body
            yield self._pass(ctx, name)
            target = env["to"]
            if env["dir"] == "in":
                refused = self._admit(ctx, env, target)
                if refused is not None:
                    return refused
                resp = yield from self._to_app(ctx, target, env)
                return resp
            if self._apps[target]["waypoint"]:
                hop, payload = "waypoint", {**env, "dir": "wp"}
            elif self._meshed(target):
                hop, payload = self._inbound(target), {**env, "dir": "in", "mtls": True}
            else:
                hop, payload = target, env["body"]
            resp = yield ctx.call(hop, payload)
            if resp.reason == _REFUSED:                        # L4: the app's connection is reset
                return Response(resp.status, resp.body, _RESET)
            return resp

        return ztunnel

    def _waypoint_handler(self):
        def waypoint(ctx, req):
            env = req.body
            yield self._pass(ctx, "waypoint")
            target = env["to"]
            payload = {**env, "dir": "in", "mtls": True}
            resp = yield from self._l7(ctx, "waypoint", self._inbound(target), payload,
                                       self._policy(target))
            return resp

        return waypoint

    # -- reading a run -------------------------------------------------------------------
    @property
    def proxies(self) -> list[str]:
        """Names of the proxy services this mesh added (both halves of each sidecar)."""
        return list(self._proxies)

    def attempts(self, result, service: str, start: float = 0.0, end: float = float("inf")) -> int:
        """Requests sent toward *service*'s pods (refused ones included) in ``[start, end)``.

        This is what the server side had to deal with: in sidecar mode the requests that
        reached its sidecar from elsewhere, otherwise the requests sent to the application.
        """
        self._app(service)
        proxy = f"{service}-proxy"
        if proxy in self._proxies:
            return sum(1 for r in result.rows if r[2] == "send" and r[4] == proxy
                       and r[3] != service and r[12] == "request" and start <= r[0] < end)
        return sum(1 for r in result.rows if r[2] == "send" and r[4] == service
                   and r[12] == "request" and start <= r[0] < end)

    def cost_table(self, result, duration: float) -> list[tuple[str, dict]]:
        """Per proxy: instances, requests/s, CPU used and requested, memory used and requested.

        *duration* (ms) is the span of traffic the rate is computed over. The last row sums
        every proxy: the mesh's bill for this workload. Use ``labs.viz.table(rows)``.
        """
        _check_number("duration", duration, low=0.0, low_open=True, fix="Pass the traffic's length in ms.")
        handled: dict[str, int] = dict.fromkeys(self._proxies, 0)
        for r in result.rows:
            if r[2] == "span.start" and r[12] == "server" and r[3] in handled:
                handled[r[3]] += 1
        rows, total = [], {"instances": 0, "rps": 0.0, "cpu used (m)": 0.0, "cpu requested (m)": 0.0,
                           "memory used (MB)": 0.0, "memory requested (MiB)": 0.0}
        for name, (p, n, names) in self._bills.items():
            rps = sum(handled[x] for x in names) * 1000.0 / duration
            row = {"instances": n, "rps": round(rps, 1),
                   "cpu used (m)": round(p.cpu_per_krps * rps / 1000.0, 1),
                   "cpu requested (m)": p.request_cpu * n,
                   "memory used (MB)": p.memory_mb * n,
                   "memory requested (MiB)": p.request_memory * n}
            rows.append((name, row))
            for k in total:
                total[k] += row[k]
        rows.append(("total", {k: round(v, 1) if isinstance(v, float) else v for k, v in total.items()}))
        return rows


def _as_http(resp: Response) -> Response:
    """What an Envoy proxy answers downstream when it could not reach its upstream."""
    if resp.reason in (_REFUSED, _RESET):
        return Response(503, None, _UPSTREAM)
    return resp


def _check_mtls(mode: object) -> str:
    if mode not in MTLS_MODES:
        raise ConfigError(f"mTLS mode must be 'STRICT' or 'PERMISSIVE' (PeerAuthentication "
                          f"spec.mtls.mode), got {mode!r}.")
    return mode  # type: ignore[return-value]


def _parity(seed: int) -> str:
    """orders → payments through sidecars, app and mesh retries, a crash: the journal's hash."""
    from ..kernel.core import Simulation
    from ..resilience.backoff import Backoff
    from ..resilience.retry import RetryPolicy

    sim = Simulation(seed=seed)
    mesh = Mesh(sim, "sidecar", retry=MeshRetry(attempts=2, retry_on="connect-failure,5xx"))
    app_retry = RetryPolicy(max_attempts=2, backoff=Backoff.fixed(10))

    def orders(ctx, req):
        yield ctx.work(1.0)
        resp = yield ctx.call("payments", req.body, timeout=200, retry=app_retry)
        return resp

    def payments(ctx, req):
        yield ctx.work(3.0)
        return {"ok": True}

    mesh.service("orders", orders)
    mesh.service("payments", payments, instances=2)
    mesh.crash_pod("payments", at=200, restart_at=400)
    sim.load("orders", rate=50, duration=600)
    return sim.run().journal_hash()
