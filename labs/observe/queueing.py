"""Queueing formulas to hold a run against: Little's law, M/M/c (Erlang C) and the USL.

Why here, beside the metrics: a lab *measures* queues and throughput from the journal; these
functions say what theory predicts for the same numbers, so a learner can see where the
simulation agrees with the formula and where (bursts, timeouts, a second bottleneck) it
does not.

- **Little's law** (J. D. C. Little, "A proof for the queuing formula L = λW", *Operations
  Research* 9(3), 1961): in any stable system, the average number of items inside ``L``
  equals the arrival rate ``λ`` times the average time each spends inside ``W``. No
  assumption about distributions. :func:`little` solves it for whichever of the three is
  missing.
- **M/M/c** (Poisson arrivals at rate ``λ``, exponential service at rate ``μ`` per server,
  ``c`` servers, one unbounded FIFO queue). With offered load ``a = λ/μ`` and utilisation
  ``ρ = a/c < 1``, the probability that an arrival has to wait is Erlang's C formula

      C(c, a) = (a^c / c!) · c/(c − a) / (Σ_{k<c} a^k/k! + (a^c / c!) · c/(c − a))

  and the mean wait in the queue is ``Wq = C(c, a) / (cμ − λ)`` (Kleinrock, *Queueing
  Systems* vol. 1, 1975, §3.5). :func:`erlang_c` evaluates it with the numerically stable
  recurrence on Erlang's B formula, ``B(0) = 1``, ``B(k) = a·B(k−1) / (k + a·B(k−1))``,
  then ``C = B / (1 − ρ(1 − B))``, so that ``c`` in the hundreds does not overflow.
- **The Universal Scalability Law** (N. J. Gunther, *Guerrilla Capacity Planning*,
  Springer 2007, ch. 4): relative capacity with ``N`` instances (or threads) is

      C(N) = N / (1 + σ(N − 1) + κN(N − 1))

  where ``σ`` is *contention* (the share of work that serialises: a lock, a pool, one
  database) and ``κ`` is *coherency* (the cost of keeping instances consistent with each
  other, which grows with every pair). Throughput is ``X(N) = λ₁ · C(N)`` with ``λ₁`` the
  throughput of one instance. With ``κ > 0`` throughput peaks at
  ``N* = sqrt((1 − σ) / κ)`` and then *falls* (retrograde scaling). :func:`usl_fit` finds
  ``σ`` and ``κ`` by least squares the way Gunther does: with ``λ₁`` known, the
  *linearised* form ``N/C(N) − 1 = σ(N − 1) + κN(N − 1)`` is linear in both coefficients
  (a regression through the origin on two regressors, ``x₁ = N − 1``, ``x₂ = N(N − 1)``).
  Negative estimates (noise on a nearly linear system) are clamped to 0 and the other
  coefficient refitted, so the result is always a valid USL.

What this leaves out: M/M/c assumes exponential service times and an unbounded queue; real
services have timeouts and bounded queues that *reject* instead of waiting, so measured
waits near saturation stay below the formula (the lab shows where).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..kernel.errors import ConfigError, _check_int, _check_number

__all__ = ["MMc", "USLFit", "erlang_c", "little", "mmc", "usl", "usl_fit", "usl_peak"]


def little(L: float | None = None, arrival_rate: float | None = None,
           W: float | None = None) -> float:
    """Little's law ``L = λW``: give exactly two of the three, get the third.

    Units are yours to keep consistent: with *arrival_rate* in requests per second, *W* is
    in seconds. ``little(arrival_rate=200, W=0.05)`` is 10 requests in flight.
    """
    given = {k: v for k, v in (("L", L), ("arrival_rate", arrival_rate), ("W", W)) if v is not None}
    if len(given) != 2:
        raise ConfigError(f"little() needs exactly two of L, arrival_rate and W, got {sorted(given)}. "
                          "E.g. little(arrival_rate=200, W=0.05) returns L.")
    for k, v in given.items():
        _check_number(k, v, low=0.0, fix="Little's law is about averages of non-negative quantities.")
    if L is None:
        return float(arrival_rate) * float(W)
    if W is None:
        if arrival_rate == 0:
            raise ConfigError("arrival_rate is 0, so W = L/λ is undefined. Pass a positive rate.")
        return float(L) / float(arrival_rate)
    if W == 0:
        raise ConfigError("W is 0, so λ = L/W is undefined. Pass a positive time in the system.")
    return float(L) / float(W)


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C); *offered_load* = λ/μ.

    Returns 1.0 when the system is saturated (``offered_load >= servers``): every arrival
    waits, and the queue grows without bound.
    """
    c = _check_int("servers", servers, low=1, fix="An M/M/c queue has at least one server.")
    a = _check_number("offered_load", offered_load, low=0.0,
                      fix="offered_load is arrival rate / service rate (Erlangs), >= 0.")
    if a >= c:
        return 1.0
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


@dataclass(frozen=True)
class MMc:
    """What M/M/c predicts: utilisation, P(wait), mean wait Wq, mean time in system W, Lq, L.

    Times are in the unit of 1/rate (seconds for rates per second); ``stable`` is False at
    or above saturation, where the waits are infinite.
    """

    servers: int
    arrival_rate: float
    service_rate: float
    utilisation: float
    p_wait: float
    wait: float
    response: float
    queue_length: float
    in_system: float

    @property
    def stable(self) -> bool:
        return self.utilisation < 1.0


def mmc(arrival_rate: float, service_rate: float, servers: int = 1) -> MMc:
    """The M/M/c prediction for Poisson arrivals at *arrival_rate* and exponential service
    at *service_rate* per server (both per second, say), with *servers* servers."""
    lam = _check_number("arrival_rate", arrival_rate, low=0.0, fix="Pass arrivals per unit time, >= 0.")
    mu = _check_number("service_rate", service_rate, low=0.0, low_open=True,
                       fix="Pass completions per unit time of one server, > 0 (1 / mean service time).")
    c = _check_int("servers", servers, low=1, fix="An M/M/c queue has at least one server.")
    a = lam / mu
    rho = a / c
    if rho >= 1.0:
        inf = math.inf
        return MMc(c, lam, mu, rho, 1.0, inf, inf, inf, inf)
    pw = erlang_c(c, a)
    wq = pw / (c * mu - lam)
    w = wq + 1.0 / mu
    return MMc(c, lam, mu, rho, pw, wq, w, lam * wq, lam * w)


def usl(n: float, sigma: float, kappa: float, single: float = 1.0) -> float:
    """Throughput with *n* instances under the USL: ``single · n / (1 + σ(n−1) + κn(n−1))``."""
    n = _check_number("n", n, low=1.0, fix="The USL is defined for n >= 1 instances.")
    s = _check_number("sigma", sigma, low=0.0, high=1.0, fix="Contention σ is a share in [0, 1].")
    k = _check_number("kappa", kappa, low=0.0, fix="Coherency κ is >= 0.")
    x1 = _check_number("single", single, low=0.0, fix="single is the throughput of one instance, >= 0.")
    return x1 * n / (1.0 + s * (n - 1.0) + k * n * (n - 1.0))


def usl_peak(sigma: float, kappa: float) -> float:
    """``N* = sqrt((1 − σ) / κ)``: where USL throughput peaks (infinite when κ is 0)."""
    s = _check_number("sigma", sigma, low=0.0, high=1.0, fix="Contention σ is a share in [0, 1].")
    k = _check_number("kappa", kappa, low=0.0, fix="Coherency κ is >= 0.")
    if k == 0:
        return math.inf
    return math.sqrt((1.0 - s) / k)


@dataclass(frozen=True)
class USLFit:
    """A fitted USL: ``sigma``, ``kappa``, the one-instance throughput ``single``, the peak."""

    sigma: float
    kappa: float
    single: float

    @property
    def peak(self) -> float:
        """N* (may be fractional, or infinite when κ = 0)."""
        return usl_peak(min(self.sigma, 1.0), self.kappa)

    def throughput(self, n: float) -> float:
        """Predicted throughput with *n* instances."""
        return usl(n, min(self.sigma, 1.0), self.kappa, self.single)


def usl_fit(ns: Sequence[float], throughputs: Sequence[float],
            single: float | None = None) -> USLFit:
    """Least-squares fit of the USL's σ and κ to measured *throughputs* at *ns* instances.

    *single* is the throughput of one instance; by default the measurement at ``n = 1``
    (which must then be among *ns*). Needs at least two points with ``n > 1``.
    """
    if len(ns) != len(throughputs):
        raise ConfigError(f"ns and throughputs must have the same length, got {len(ns)} and "
                          f"{len(throughputs)}. Pass one throughput per instance count.")
    pts = []
    for n, x in zip(ns, throughputs):
        n = _check_number("ns[i]", n, low=1.0, fix="Instance counts are >= 1.")
        x = _check_number("throughputs[i]", x, low=0.0, low_open=True,
                          fix="A measured throughput must be > 0; drop runs that served nothing.")
        pts.append((n, x))
    if single is None:
        ones = [x for n, x in pts if n == 1.0]
        if not ones:
            raise ConfigError("usl_fit needs the throughput of one instance: include n=1 in ns, or "
                              "pass single=<throughput of one instance>.")
        single = sum(ones) / len(ones)
    x1 = _check_number("single", single, low=0.0, low_open=True,
                       fix="single is the throughput of one instance, > 0.")
    rows = [(n - 1.0, n * (n - 1.0), n * x1 / x - 1.0) for n, x in pts if n > 1.0]
    if len({r[0] for r in rows}) < 2:
        raise ConfigError("usl_fit needs measurements at two or more different n > 1 to separate σ "
                          "from κ, e.g. ns=[1, 2, 4, 8].")
    s11 = sum(a * a for a, _, _ in rows)
    s12 = sum(a * b for a, b, _ in rows)
    s22 = sum(b * b for _, b, _ in rows)
    s1y = sum(a * y for a, _, y in rows)
    s2y = sum(b * y for _, b, y in rows)
    det = s11 * s22 - s12 * s12
    sigma = (s1y * s22 - s2y * s12) / det
    kappa = (s11 * s2y - s12 * s1y) / det
    if kappa < 0:            # refit with κ = 0: y = σ x₁
        kappa, sigma = 0.0, max(0.0, s1y / s11)
    elif sigma < 0:          # refit with σ = 0: y = κ x₂
        sigma, kappa = 0.0, max(0.0, s2y / s22)
    return USLFit(min(sigma, 1.0), kappa, x1)


def _parity(seed: int) -> str:
    """A digest of the formulas on numbers drawn from *seed* (CPython and Pyodide must agree)."""
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(5):
        c = rng.randint(1, 40)
        a = rng.uniform(0, c * 0.99)
        out.append("%.9f" % erlang_c(c, a))
    ns = [1, 2, 3, 4, 6, 8, 12, 16]
    s, k = rng.uniform(0, 0.2), rng.uniform(0, 0.01)
    fit = usl_fit(ns, [usl(n, s, k, 100.0) * (1 + rng.uniform(-0.01, 0.01)) for n in ns])
    out.append("%.6f %.8f %.4f" % (fit.sigma, fit.kappa, fit.peak))
    return " ".join(out)
