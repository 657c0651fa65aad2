"""Head and tail sampling of traces, with OpenTelemetry's semantics.

Why both: *head* sampling decides when a trace starts, before anything is known about it,
so it is cheap and keeps a fair share of every kind of request, and it misses rare ones:
at 1 %, a trace that fails once in a thousand is kept once in a hundred thousand.
*Tail* sampling decides after the trace is complete, so it can keep every error and every
slow trace, at the price of holding all spans of every trace in memory until then.

:class:`HeadSampler` is OpenTelemetry Java's ``TraceIdRatioBased`` sampler
(``sdk/trace/.../samplers/TraceIdRatioBasedSampler.java``): the lower 64 bits of the trace
id, read as a signed ``long``, are kept when ``Math.abs(x) < (long) (ratio *
Long.MAX_VALUE)`` (ratio 0 uses ``Long.MIN_VALUE`` as the bound and 1 uses
``Long.MAX_VALUE``). Because the decision is a function of the trace id alone, every
service that sees the id decides the same way; in practice it is wrapped in
``ParentBased`` (``OTEL_TRACES_SAMPLER=parentbased_traceidratio``, with the ratio in
``OTEL_TRACES_SAMPLER_ARG``) so that only the root decides and the others follow the
``sampled`` flag of ``traceparent``. The SDK's default is ``parentbased_always_on``.

:class:`TailSampler` follows the OpenTelemetry Collector's ``tail_sampling`` processor
(opentelemetry-collector-contrib, ``processor/tailsamplingprocessor``): policies in its
configuration shape, a trace is kept when **any** policy samples it, and the decision is
taken ``decision_wait`` after the trace's first span (default 30 s) using only the spans
that have ended by then. Policies modelled: ``always_sample``; ``status_code`` (a trace
with a span whose status is ERROR: here a server span that answered 5xx or not at all,
or a client span that got no 2xx/3xx); ``latency`` with ``threshold_ms`` (trace duration
from the earliest start to the latest end); ``probabilistic`` with
``sampling_percentage`` (the collector hashes the trace id with a salt; here the same
trace-id-ratio rule as the head sampler, which keeps the same share, not the same traces);
``string_attribute`` with ``key`` and ``values`` (on any span's attributes, see
:mod:`labs.observe.spans`). Not modelled: ``num_traces`` eviction (default 50 000),
inverted and composite policies, rate limiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..kernel.errors import ConfigError, _check_number

__all__ = ["HeadSampler", "TailSampler", "is_error_trace"]

_LONG_MAX = (1 << 63) - 1
_LONG_MIN = -(1 << 63)


def _signed64(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def _java_abs(x: int) -> int:
    """``Math.abs`` on a Java long: abs(Long.MIN_VALUE) stays Long.MIN_VALUE."""
    return x if x == _LONG_MIN else abs(x)


class HeadSampler:
    """OpenTelemetry's ``TraceIdRatioBased(ratio)``: keep a trace from its id alone."""

    def __init__(self, ratio: float) -> None:
        self.ratio = _check_number("ratio", ratio, low=0.0, high=1.0,
                                   fix="Use a fraction: ratio=0.01 keeps about 1 % of traces.")
        if ratio == 0.0:
            self.bound = _LONG_MIN
        elif ratio == 1.0:
            self.bound = _LONG_MAX
        else:
            self.bound = int(float(ratio) * float(_LONG_MAX))   # (long) (ratio * Long.MAX_VALUE)

    def keep(self, trace_id: str) -> bool:
        """True if the trace with this 32-hex id is sampled."""
        if not isinstance(trace_id, str) or len(trace_id) != 32:
            raise ConfigError(f"trace_id must be 32 lowercase hex digits, got {trace_id!r}.")
        return _java_abs(_signed64(int(trace_id[16:], 16))) < self.bound

    def sample(self, traces: Iterable) -> list:
        """The traces (objects with a ``trace_id``) this sampler keeps, in order."""
        return [t for t in traces if self.keep(t.trace_id)]

    def __repr__(self) -> str:
        return f"HeadSampler(ratio={self.ratio:g})"


def is_error_trace(trace) -> bool:
    """True if any span of *trace* has status ERROR in OpenTelemetry's HTTP mapping.

    Server spans: 5xx or no answer (crashed, timed out); client spans: anything but
    2xx/3xx (semantic conventions for HTTP spans set ERROR on 4xx for clients only).
    """
    for s in trace.spans:
        if s.end is None:
            continue
        if s.kind == "server" and (s.status == 0 or s.status >= 500):
            return True
        if s.kind == "client" and not 200 <= s.status < 400:
            return True
    return False


_POLICY_KEYS = {"always_sample": set(), "status_code": {"status_codes"},
                "latency": {"threshold_ms"}, "probabilistic": {"sampling_percentage"},
                "string_attribute": {"key", "values"}}


def _check_policy(p: Any) -> dict:
    if not isinstance(p, dict) or "type" not in p:
        raise ConfigError(f"a policy is a dict with a 'type', as in the collector's config, got "
                          f"{p!r}. E.g. {{'type': 'latency', 'threshold_ms': 500}}.")
    t = p["type"]
    if t not in _POLICY_KEYS:
        raise ConfigError(f"unknown policy type {t!r}; the modelled ones are "
                          f"{sorted(_POLICY_KEYS)}.")
    extra = set(p) - _POLICY_KEYS[t] - {"type", "name"}
    missing = _POLICY_KEYS[t] - set(p)
    if extra or missing:
        raise ConfigError(f"policy {t!r} takes {sorted(_POLICY_KEYS[t]) or 'no settings'}; "
                          f"missing {sorted(missing)}, unknown {sorted(extra)} in {p!r}.")
    if t == "latency":
        _check_number("threshold_ms", p["threshold_ms"], low=0.0, low_open=True,
                      fix="Use the trace duration in ms above which to keep, e.g. 500.")
    if t == "probabilistic":
        _check_number("sampling_percentage", p["sampling_percentage"], low=0.0, high=100.0,
                      fix="It is a percentage: 1 keeps about 1 % of traces.")
    if t == "status_code":
        codes = p["status_codes"]
        if not isinstance(codes, (list, tuple)) or not set(codes) <= {"ERROR", "OK", "UNSET"} or not codes:
            raise ConfigError(f"status_codes is a list of 'ERROR', 'OK', 'UNSET', got {codes!r}.")
    if t == "string_attribute":
        if not isinstance(p["key"], str) or not isinstance(p["values"], (list, tuple)):
            raise ConfigError(f"string_attribute needs key='name' and values=[...], got {p!r}.")
    return dict(p)


class _Partial:
    """What the processor has of a trace when it decides: spans ended by then."""

    def __init__(self, trace, cutoff: float, attributes: dict) -> None:
        self.trace_id = trace.trace_id
        self.spans = [s for s in trace.spans if s.end is not None and s.end <= cutoff]
        self.attributes = attributes

    @property
    def duration(self) -> float:
        if not self.spans:
            return 0.0
        return max(s.end for s in self.spans) - min(s.start for s in self.spans)


class TailSampler:
    """The Collector's ``tail_sampling`` processor: keep a trace if any policy samples it."""

    def __init__(self, policies: list[dict], decision_wait: float = 30_000.0) -> None:
        if not isinstance(policies, (list, tuple)) or not policies:
            raise ConfigError("policies must be a non-empty list (the collector requires it), e.g. "
                              "[{'type': 'status_code', 'status_codes': ['ERROR']}].")
        self.policies = [_check_policy(p) for p in policies]
        self.decision_wait = _check_number("decision_wait", decision_wait, low=0.0, low_open=True,
                                           fix="Pass ms; the collector's default is 30 s (30_000).")
        self._heads = {}

    def _policy_keeps(self, p: dict, part: _Partial) -> bool:
        t = p["type"]
        if t == "always_sample":
            return True
        if t == "latency":
            return part.duration >= p["threshold_ms"]
        if t == "probabilistic":
            ratio = p["sampling_percentage"] / 100.0
            h = self._heads.get(ratio)
            if h is None:
                h = self._heads[ratio] = HeadSampler(min(1.0, ratio))
            return h.keep(part.trace_id)
        if t == "status_code":
            err = is_error_trace(part)
            ok = not err
            return ("ERROR" in p["status_codes"] and err) or (
                ("OK" in p["status_codes"] or "UNSET" in p["status_codes"]) and ok)
        if t == "string_attribute":
            want = {str(v) for v in p["values"]}
            return any(str(a.get(p["key"])) in want for a in part.attributes.get(part.trace_id, [])
                       if p["key"] in a)
        return False  # pragma: no cover

    def why(self, trace, attributes: dict | None = None) -> list[str]:
        """The types (or names) of the policies that sample *trace* (empty: dropped)."""
        cutoff = trace.start + self.decision_wait
        part = _Partial(trace, cutoff, attributes or {})
        return [p.get("name", p["type"]) for p in self.policies if self._policy_keeps(p, part)]

    def keep(self, trace, attributes: dict | None = None) -> bool:
        """True if some policy samples *trace* (a :class:`labs.Trace`)."""
        return bool(self.why(trace, attributes))

    def sample(self, traces: Iterable, rows: list[dict] | None = None) -> list:
        """The traces kept, in order. Pass *rows* (``span_rows(result)``) for attribute policies."""
        attributes: dict[str, list[dict]] = {}
        for r in rows or ():
            attributes.setdefault(r["trace_id"], []).append(r["attributes"])
        return [t for t in traces if self.keep(t, attributes)]

    def __repr__(self) -> str:
        return f"TailSampler({self.policies!r}, decision_wait={self.decision_wait:g})"


def _parity_text(seed: int) -> str:
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)
    fail = sim.stream("observe:sampling:fail")

    def a(ctx, req):
        reply = yield ctx.call("b", req.body, timeout=100)
        return reply.body if reply.ok else None

    def b(ctx, req):
        yield ctx.work(150.0 if fail.random() < 0.05 else 3.0)
        return {"ok": True}

    sim.service("a", a)
    sim.service("b", b)
    sim.load("a", rate=100, duration=2_000)
    traces = list(sim.run().traces)
    head = HeadSampler(0.1).sample(traces)
    tail = TailSampler([{"type": "status_code", "status_codes": ["ERROR"]},
                        {"type": "latency", "threshold_ms": 50}]).sample(traces)
    return ",".join(t.trace_id[:8] for t in head) + "|" + ",".join(t.trace_id[:8] for t in tail)


def _parity(seed: int) -> str:
    """A digest of a small deterministic scenario (compared between CPython and Pyodide)."""
    from hashlib import sha256

    return sha256(_parity_text(seed).encode("utf-8")).hexdigest()
