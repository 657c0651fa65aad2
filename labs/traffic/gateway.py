"""The API gateway's own parts: fan-out aggregation with per-call timeouts and fallbacks,
per-client rate limits, and the arithmetic of fan-out tail latency.

**Fan-out** (:func:`fan_out`): a gateway (or a Backend for Frontend) that builds one page
from several services starts every call at once and waits for all of them, each bounded
by its own timeout, as ``CompletableFuture.allOf`` over futures that each have
``completeOnTimeout(fallback, ...)`` or ``orTimeout(...)`` (JDK 9+). A part whose call
fails (an error status, a refused connection, a timeout) takes its *fallback* if it has
one (the page is then *partial*), or fails the page if it is *required*. The page waits
for the slowest part, so its latency is the maximum of the parts' latencies, each capped
by its timeout. Left out: cancelling the losing calls (the backends still do the work,
as they do with HTTP/1.1 when the client stops waiting), hedging, and streaming parts of
a page as they arrive.

**Per-client rate limits** (:class:`ClientLimits`): one token bucket
(:class:`labs.TokenBucket`: *rate* per second, *burst* capacity, starts full) per client
key, created on first use, as Envoy's local rate limit with descriptors or Kong's
rate-limiting plugin "per consumer" do. A request over its client's limit is answered 429
at once, before it costs the gateway a backend call. One global bucket instead (the
kernel's ``rate_limit=`` on a service) protects the backends but lets a noisy client take
the whole budget.

**Tail arithmetic** (:func:`page_quantile_needs`, :func:`share_of_pages_hit`): if each of
*n* independent calls is below its latency *x* with probability F(x), the page (the max of
the calls) is below *x* with probability F(x)ⁿ. So the page's q-quantile is each call's
q^(1/n)-quantile, and a share 1 − (1 − p)ⁿ of the pages meets at least one call in a
backend's slowest share *p*: Dean and Barroso's example, 1 − 0.99¹⁰⁰ ≈ 63 % of pages
slower than one server's p99 (J. Dean and L. A. Barroso, "The Tail at Scale", CACM 56(2),
2013).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..kernel.errors import ConfigError, _check_int, _check_number
from ..resilience.ratelimit import TokenBucket

__all__ = ["ClientLimits", "Page", "Part", "PartResult", "fan_out", "page_quantile_needs",
           "share_of_pages_hit"]

_MISSING = object()


@dataclass(frozen=True)
class Part:
    """One call of a page: *service*, its *timeout* (ms, None: none) and its *fallback*.

    ``fallback`` is the value the page uses when this call fails; leave it out for a
    *required* part (the page fails without it). ``body`` is sent with the call.
    """

    service: str
    timeout: float | None = None
    fallback: Any = _MISSING
    body: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.service, str) or not self.service:
            raise ConfigError(f"Part(service) must be a service name, got {self.service!r}.")
        if self.timeout is not None:
            _check_number(f"Part({self.service!r}).timeout", self.timeout, low=0.0, low_open=True,
                          fix="Pass the call's timeout in ms, e.g. timeout=80, or None for none.")

    @property
    def required(self) -> bool:
        """True when the part has no fallback: the page fails without it."""
        return self.fallback is _MISSING


@dataclass
class PartResult:
    """What one part gave the page: its *value*, whether it came from the *fallback*, why."""

    name: str
    ok: bool
    value: Any
    status: int
    reason: str
    latency: float
    fallback: bool = False


@dataclass
class Page:
    """The aggregate: the parts by name; ``ok`` unless a required part failed."""

    parts: dict = field(default_factory=dict)
    latency: float = 0.0

    @property
    def ok(self) -> bool:
        return all(p.ok or p.fallback for p in self.parts.values())

    @property
    def partial(self) -> bool:
        """True when the page is served but some part came from its fallback."""
        return self.ok and any(p.fallback for p in self.parts.values())

    def body(self) -> dict:
        """The page as a dict of each part's value (fallbacks included)."""
        return {name: p.value for name, p in self.parts.items()}


def fan_out(ctx, parts: dict):
    """Call every part at once and wait for all; use as ``page = yield from fan_out(ctx, parts)``.

    *parts* maps a name to a :class:`Part`. Returns a :class:`Page`. Every call starts
    before the first wait, so the page takes as long as its slowest part (each capped by
    its timeout), not the sum.
    """
    if not isinstance(parts, dict) or not parts:
        raise ConfigError(f"fan_out needs a non-empty dict of name -> Part, got {parts!r}.")
    for name, part in parts.items():
        if not isinstance(part, Part):
            raise ConfigError(f"fan_out: parts[{name!r}] must be a labs.Part, got {part!r}. "
                              "Write e.g. Part('pricing', timeout=80).")
    start = ctx.now
    pending = [(name, part, ctx.call(part.service, part.body, timeout=part.timeout))
               for name, part in parts.items()]
    page = Page()
    for name, part, event in pending:
        resp = yield event
        latency = ctx.now - start
        if resp.ok:
            page.parts[name] = PartResult(name, True, resp.body, resp.status, resp.reason, latency)
        elif part.required:
            page.parts[name] = PartResult(name, False, None, resp.status, resp.reason, latency)
        else:
            page.parts[name] = PartResult(name, False, part.fallback, resp.status,
                                          resp.reason or str(resp.status), latency, fallback=True)
    page.latency = ctx.now - start
    return page


class ClientLimits:
    """A token bucket per client key: ``allow(client, now)`` spends one token or says no."""

    def __init__(self, rate: float, burst: float, overrides: dict | None = None) -> None:
        _check_number("rate", rate, low=0.0, low_open=True,
                      fix="Pass each client's sustained limit in requests per second, e.g. 20.")
        _check_number("burst", burst, low=1.0, fix="Pass the bucket size, at least 1 request.")
        self.rate = float(rate)
        self.burst = float(burst)
        self.overrides = {}
        for key, value in (overrides or {}).items():
            if not (isinstance(value, tuple) and len(value) == 2):
                raise ConfigError(f"overrides[{key!r}] must be a (rate, burst) pair, got {value!r}.")
            self.overrides[key] = (_check_number(f"overrides[{key!r}] rate", value[0], low=0.0,
                                                 low_open=True, fix="Use a rate > 0."),
                                   _check_number(f"overrides[{key!r}] burst", value[1], low=1.0,
                                                 fix="Use a burst >= 1."))
        self.buckets: dict[str, TokenBucket] = {}
        self.denied: dict[str, int] = {}

    def allow(self, client: str, now: float) -> bool:
        """True (and one token spent) if *client* is within its limit at *now* (ms)."""
        bucket = self.buckets.get(client)
        if bucket is None:
            rate, burst = self.overrides.get(client, (self.rate, self.burst))
            bucket = self.buckets[client] = TokenBucket(rate, burst)
        if bucket.try_take(now):
            return True
        self.denied[client] = self.denied.get(client, 0) + 1
        return False


def page_quantile_needs(q: float, n: int) -> float:
    """The per-call quantile that a page of *n* parallel calls needs for its own *q*-quantile."""
    _check_number("q", q, low=0.0, high=1.0, low_open=True, fix="Pass a quantile such as 0.99.")
    _check_int("n", n, low=1, fix="Pass the number of parallel calls, 1 or more.")
    return q ** (1.0 / n)


def share_of_pages_hit(p: float, n: int) -> float:
    """The share of pages with at least one of *n* calls in a backend's slowest share *p*."""
    _check_number("p", p, low=0.0, high=1.0, fix="Pass a share such as 0.01 for a backend's p99.")
    _check_int("n", n, low=1, fix="Pass the number of parallel calls, 1 or more.")
    return 1.0 - (1.0 - p) ** n


def _parity(seed: int) -> str:
    """A gateway fanning out to three services with a slow one, a fallback and client limits."""
    from ..kernel.core import Simulation
    from ..kernel.distributions import Exponential
    from ..kernel.messages import Response

    sim = Simulation(seed=seed)
    limits = ClientLimits(rate=30, burst=5)
    parts = {"product": Part("catalog", timeout=50), "price": Part("pricing", timeout=50),
             "stock": Part("inventory", timeout=30, fallback={"stock": "unknown"})}

    def backend(ctx, req):
        yield ctx.work(Exponential(mean=8.0))
        return {"from": ctx.service}

    def gateway(ctx, req):
        if not limits.allow(req.body["client"], ctx.now):
            return Response.error(429, "rate limited")
        page = yield from fan_out(ctx, parts)
        return page.body() if page.ok else Response.error(502, "a required part failed")

    for name in ("catalog", "pricing", "inventory"):
        sim.service(name, backend)
    sim.faults.slow("inventory", at=500, until=1_500, extra=40.0)
    sim.service("gateway", gateway, concurrency=16)
    sim.load("gateway", rate=60, duration=2_000, body=lambda rng, i: {"client": "a" if i % 3 else "b"})
    return sim.run().journal_hash()
