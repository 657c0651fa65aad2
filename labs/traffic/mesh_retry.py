"""Mesh retries: Istio's ``HTTPRetry`` as Envoy's router carries it out.

A retry policy in a service mesh lives in the *caller's* proxy (the sidecar next to the
client, or the waypoint in ambient mode), and the application does not see it: it sees one
response, after however many attempts the proxy made. That is why retries configured in
the application *and* in the mesh multiply: :class:`MeshRetry` makes the mesh's side
explicit so a lab can count what reaches the server.

Semantics, with their sources (read for this module in Istio's and Envoy's sources):

- **Defaults** (``istio/api`` ``networking/v1alpha3/virtual_service.proto``, ``HTTPRetry``
  and ``HTTPRoute.retries``; ``istio/istio`` ``pilot/pkg/networking/core/route/retry/
  retry.go``): with no retry policy on a route, Istio programs ``attempts: 2`` (*retries*,
  so at most 1 + 2 = 3 requests) on ``connect-failure,refused-stream,unavailable,
  cancelled``. Since Istio 1.24 the default no longer retries an HTTP 503 (release note
  50506: "potentially unsafe"); ``retry.go`` still appends ``retriable-status-codes`` but
  with an empty code list, so it matches nothing. ``attempts: 0`` disables retries.
- **perTryTimeout** is unset by default, which the API documents as "same value as request
  ``timeout`` of the HTTP route, which means no timeout"; the route ``timeout`` itself is
  "disabled" by default. The route timeout **includes** all retries and backoffs (Envoy,
  ``router_filter.rst``: "This is by design to avoid an exponential retry/timeout
  explosion"); when it expires the proxy answers 504 and does not retry.
- **Which failures are retried** (Envoy ``source/common/router/retry_state_impl.cc``):
  ``connect-failure`` retries a failed connection (here: 503 "connection refused", a
  crashed pod); ``5xx`` retries any 5xx *and* resets and per-try timeouts;
  ``gateway-error`` retries 502, 503, 504 and per-try timeouts; ``reset`` retries resets
  and refused connections but **not** a per-try timeout (Envoy retries a non-hedged per-try
  timeout only under ``5xx`` or ``gateway-error``); HTTP status codes given in
  ``retry_on`` ("503") are retried when the upstream *answered* with them.
  ``refused-stream`` (HTTP/2 ``REFUSED_STREAM``), ``unavailable`` and ``cancelled`` (gRPC
  statuses) never occur in this simulator, which speaks neither HTTP/2 nor gRPC.
- **Backoff** (Envoy ``source/common/common/backoff_strategy.cc``,
  ``JitteredExponentialBackOffStrategy``): base interval 25 ms, maximum 10 × base; retry
  *n* (1 = the first retry) waits a whole number of ms drawn uniformly from
  ``[0, min(base·2^(n-1), max))``, so 0–24 ms, then 0–49, 0–99, ... The Envoy docs write
  the range as ``[0, (2^N−1)·B)``; the code above is what runs, and this module follows it.

Left out: Envoy's cluster-level retry circuit breaker (``max_retries``; Istio sets it to
2^32−1 in ``DestinationRule.connectionPool.http.maxRetries`` by default, so it does not
bind), retry budgets, host selection (``retryIgnorePreviousHosts``), and hedging.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError, _check_int, _check_number

__all__ = ["MeshRetry", "ISTIO_DEFAULT_RETRY_ON"]

#: Istio's default ``retryOn`` when a route sets no retry policy (the API's wording).
ISTIO_DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled"

_CONDITIONS = frozenset({"5xx", "gateway-error", "reset", "reset-before-request",
                         "connect-failure", "refused-stream", "retriable-4xx",
                         "retriable-status-codes", "unavailable", "cancelled",
                         "deadline-exceeded", "internal", "resource-exhausted"})


def _parse(retry_on: str) -> tuple[frozenset, frozenset]:
    if not isinstance(retry_on, str):
        raise ConfigError(f"retry_on must be a comma-separated str such as "
                          f"'connect-failure,5xx', got {retry_on!r}.")
    conds, codes = set(), set()
    for part in retry_on.split(","):
        part = part.strip()
        if not part:
            continue
        if part.isdigit() and 100 <= int(part) <= 599:
            codes.add(int(part))
        elif part in _CONDITIONS:
            conds.add(part)
        else:
            raise ConfigError(f"retry_on: {part!r} is not an Envoy retry condition or an HTTP "
                              f"status code. Use some of {sorted(_CONDITIONS)} or codes such "
                              "as '503'.")
    return frozenset(conds), frozenset(codes)


@dataclass(frozen=True)
class MeshRetry:
    """Istio's ``HTTPRetry`` plus the route ``timeout``, as one policy.

    *attempts* is Istio's ``attempts``: the number of **retries** (Istio's default 2; 0
    disables retries; the proxy sends at most ``1 + attempts`` requests). *retry_on* is
    the comma-separated ``retryOn``; *per_try_timeout* and *timeout* are ms or ``None``
    (Istio's defaults: no per-try timeout, no route timeout); *backoff* is Envoy's base
    interval in ms (25), and the maximum interval is ten times it.
    """

    attempts: int = 2
    retry_on: str = ISTIO_DEFAULT_RETRY_ON
    per_try_timeout: float | None = None
    timeout: float | None = None
    backoff: float = 25.0
    _conds: frozenset = field(init=False, repr=False, compare=False)
    _codes: frozenset = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int("attempts", self.attempts, low=0,
                   fix="attempts counts retries (Istio's HTTPRetry.attempts): 0 disables them, 2 "
                       "is Istio's default.")
        if self.per_try_timeout is not None:
            _check_number("per_try_timeout", self.per_try_timeout, low=1.0,
                          fix="Istio requires perTryTimeout >= 1ms; use None for no per-try timeout.")
        if self.timeout is not None:
            _check_number("timeout", self.timeout, low=1.0,
                          fix="Pass the route timeout in ms (it includes every retry), or None.")
        _check_number("backoff", self.backoff, low=1.0,
                      fix="Envoy's base interval must be at least 1 ms; its default is 25 ms.")
        conds, codes = _parse(self.retry_on)
        object.__setattr__(self, "_conds", conds)
        object.__setattr__(self, "_codes", codes)

    @classmethod
    def istio_default(cls) -> MeshRetry:
        """The policy Istio programs on a route that sets none (see the module docstring)."""
        return cls()

    @classmethod
    def off(cls) -> MeshRetry:
        """``attempts: 0``: the proxy never retries."""
        return cls(attempts=0)

    @property
    def max_requests(self) -> int:
        """Most requests the proxy sends for one request it receives: ``1 + attempts``."""
        return 1 + self.attempts

    def retriable(self, status: int, reason: str = "", per_try_timeout: bool = False) -> bool:
        """Would Envoy retry an attempt that ended with *status* / *reason*?

        *per_try_timeout* says the attempt was cut by this policy's per-try timeout.
        A refused connection is ``reason == "connection refused"``; a reset is
        ``reason`` starting with ``"connection reset"``.
        """
        conds = self._conds
        if per_try_timeout:
            return bool(conds & {"5xx", "gateway-error"})
        refused = reason == "connection refused"
        reset = reason.startswith("connection reset")
        if refused or reset:
            if conds & {"5xx", "gateway-error", "reset"}:
                return True
            return refused and "connect-failure" in conds
        if status in self._codes:
            return True
        if "5xx" in conds and 500 <= status <= 599:
            return True
        if "gateway-error" in conds and status in (502, 503, 504):
            return True
        return "retriable-4xx" in conds and status == 409

    def backoff_ms(self, retry: int, rng: random.Random) -> int:
        """Envoy's wait before retry number *retry* (1 = the first retry), in whole ms."""
        _check_int("retry", retry, low=1, fix="Retries are numbered from 1.")
        base = int(self.backoff)
        cap = 10 * base
        interval = min(base * (1 << min(retry - 1, 40)), cap)
        return rng.randrange(interval)
