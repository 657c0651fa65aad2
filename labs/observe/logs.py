"""Structured logs as data, joined across services by trace id.

Why: a log line that is a map (``{:event :payment/declined :order-id 42 :trace-id …}``)
can be filtered and joined like any other data; a line of prose cannot. Every line the
simulator writes with ``ctx.log(message, **fields)`` already carries the W3C trace id and
span id of the request that wrote it, as μ/log's context or the OpenTelemetry log bridge
(``trace_id``/``span_id`` on every record) would. Correlation is then a *join*: all lines,
from every service, that share one trace id, in time order.

:func:`correlated` is that join, :func:`by_trace` groups every line of a run, and
:func:`to_json` renders a line the way a JSON layout (logstash-logback-encoder, μ/log's
console-json publisher) would: one JSON object per line, keys sorted here so that the
text is stable. Lines written by :func:`labs.observe.spans.annotate` (span attributes, not
logs) are left out.
"""

from __future__ import annotations

import json
from typing import Any

from ..kernel.errors import ConfigError
from .spans import ATTRIBUTES_MESSAGE

__all__ = ["by_trace", "correlated", "to_json"]

_LEVELS = ("debug", "info", "warn", "error")


def _lines(result, service: str | None = None, level: str | None = None) -> list[dict[str, Any]]:
    if level is not None and level not in _LEVELS:
        raise ConfigError(f"level must be one of {_LEVELS} or None, got {level!r}.")
    return [d for d in result.logs(service=service, level=level)
            if d["message"] != ATTRIBUTES_MESSAGE]


def correlated(result, trace_id: str) -> list[dict[str, Any]]:
    """Every log line of *trace_id*, from every service, in time (then journal) order."""
    if not isinstance(trace_id, str) or len(trace_id) != 32:
        raise ConfigError(f"trace_id must be a 32-hex W3C trace id, got {trace_id!r}. Take one "
                          "from a span (span.trace_id) or a log line (line['trace_id']).")
    return [d for d in _lines(result) if d["trace_id"] == trace_id]


def by_trace(result, service: str | None = None, level: str | None = None
             ) -> dict[str, list[dict[str, Any]]]:
    """``{trace_id: [lines]}`` for every trace that logged (optionally one service or level)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for d in _lines(result, service, level):
        out.setdefault(d["trace_id"], []).append(d)
    return out


def to_json(line: dict[str, Any]) -> str:
    """One log line as a JSON object on one line (keys sorted; times in ms with 3 decimals)."""
    if not isinstance(line, dict):
        raise ConfigError(f"to_json needs one log line (a dict from result.logs()), got {line!r}.")
    d = dict(line)
    if isinstance(d.get("t"), float):
        d["t"] = round(d["t"], 3)
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)


def _parity_text(seed: int) -> str:
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)

    def a(ctx, req):
        ctx.log("order received", order_id=req.body["id"])
        reply = yield ctx.call("b", req.body)
        ctx.log("order answered", status=reply.status)
        return reply.body

    def b(ctx, req):
        yield ctx.work(2.0)
        ctx.log("payment authorized", order_id=req.body["id"])
        return {"ok": True}

    sim.service("a", a)
    sim.service("b", b)
    sim.load("a", rate=20, duration=500)
    res = sim.run()
    groups = by_trace(res)
    return "\n".join(to_json(line) for tid in groups for line in correlated(res, tid))


def _parity(seed: int) -> str:
    """A digest of a small deterministic scenario (compared between CPython and Pyodide)."""
    from hashlib import sha256

    return sha256(_parity_text(seed).encode("utf-8")).hexdigest()
