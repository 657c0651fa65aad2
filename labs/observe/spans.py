"""Span attributes and the flat span table a trace backend lets you query.

Why: a trace is only as useful as what its spans say about the request. OpenTelemetry
puts that on each span as *attributes* (``Span.setAttribute`` in the Java API,
``add-span-data!`` with ``:attributes`` in clj-otel), with names from the semantic
conventions: ``service.name`` and ``service.instance.id`` describe the process (they are
*resource* attributes, shared by every span it emits), and the application adds its own,
such as ``customer.tier``. Backends (Jaeger, Tempo, Honeycomb…) then let you group and
filter spans by any attribute, which is how you find "slow only for gold customers on one
instance" without having guessed it in advance.

In the simulator a handler calls :func:`annotate` to set attributes on its own server
span; :func:`instrument` wraps a handler so that every span it serves also carries
``service.name`` and ``service.instance.id`` (what the OTel Java agent adds from the
resource). :func:`span_rows` then joins spans and attributes into plain dicts, one per
span: the table you would query in a trace backend.

How attributes are stored: the kernel has no span-attribute event, so :func:`annotate`
writes a structured log line with the reserved message ``"span.attributes"`` and the
span's ids (through the public ``ctx.log``), and :func:`span_rows` joins them back by
``(trace_id, span_id)``. :mod:`labs.observe.logs` leaves these lines out of the logs it
shows. What is left out: span events, links, and attributes on client spans.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..kernel.errors import ConfigError

__all__ = ["ATTRIBUTES_MESSAGE", "annotate", "instrument", "span_rows"]

#: The log message under which :func:`annotate` records attributes.
ATTRIBUTES_MESSAGE = "span.attributes"


def _check_attributes(attributes: dict) -> None:
    for k, v in attributes.items():
        if not isinstance(k, str) or not k:
            raise ConfigError(f"attribute names must be non-empty strings, got {k!r}. "
                              "Use OpenTelemetry-style names such as 'customer.tier'.")
        if isinstance(v, (list, dict, set, tuple)) or v is None:
            raise ConfigError(f"attribute {k!r} must be a string, number or bool, got {v!r}. "
                              "OpenTelemetry attributes are primitives (or arrays of them); "
                              "pass one value, e.g. annotate(ctx, **{'customer.tier': 'gold'}).")


def annotate(ctx, **attributes: Any) -> None:
    """Set *attributes* on the server span *ctx* is handling (``Span.setAttribute``).

    Names with dots are passed as a dict: ``annotate(ctx, **{"customer.tier": "gold"})``.
    Setting the same name twice keeps the last value, as in OpenTelemetry.
    """
    if not hasattr(ctx, "log") or not hasattr(ctx, "span_id"):
        raise ConfigError(f"annotate needs the handler's ctx as its first argument, got {ctx!r}.")
    _check_attributes(attributes)
    ctx.log(ATTRIBUTES_MESSAGE, level="debug", **attributes)


def instrument(handler, **attributes: Any):
    """Wrap *handler* so every span it serves carries ``service.name``,
    ``service.instance.id`` (``"<service>-<instance>"``) and the fixed *attributes*.

    This is what the OTel Java agent does from its resource (``OTEL_SERVICE_NAME``,
    ``OTEL_RESOURCE_ATTRIBUTES``); the handler itself is unchanged.
    """
    if not callable(handler):
        raise ConfigError(f"instrument needs a handler function handler(ctx, req), got {handler!r}.")
    _check_attributes(attributes)

    def instrumented(ctx, req):
        annotate(ctx, **{"service.name": ctx.service,
                         "service.instance.id": f"{ctx.service}-{ctx.instance}"}, **attributes)
        out = handler(ctx, req)
        if inspect.isgenerator(out):
            out = yield from out
        return out

    instrumented.__name__ = getattr(handler, "__name__", "handler")
    instrumented.__doc__ = getattr(handler, "__doc__", None)
    return instrumented


def span_rows(result, kind: str | None = None, service: str | None = None) -> list[dict]:
    """One dict per finished span, in the order the spans started.

    Keys: ``trace_id``, ``span_id``, ``parent_id``, ``service``, ``peer``, ``kind``
    (``"server"``/``"client"``), ``start`` and ``duration`` (ms), ``status`` (0: no answer),
    and ``attributes`` (a dict, empty for client spans). *kind* and *service* filter.
    """
    if kind not in (None, "server", "client"):
        raise ConfigError(f"kind must be 'server', 'client' or None, got {kind!r}.")
    attrs: dict[tuple[str, str], dict] = {}
    starts: dict[tuple[str, str], tuple] = {}
    out: list[dict] = []
    for r in result.rows:
        k = r[2]
        if k == "log" and r[12] == ATTRIBUTES_MESSAGE:
            d = attrs.setdefault((r[5], r[6]), {})
            d.update((a, v) for a, v in r[13] if a != "level")
        elif k == "span.start":
            starts[(r[5], r[6])] = r
        elif k == "span.end":
            s = starts.get((r[5], r[6]))
            if s is None:
                continue
            if (kind is not None and s[12] != kind) or (service is not None and s[3] != service):
                continue
            out.append({"trace_id": s[5], "span_id": s[6], "parent_id": s[7], "service": s[3],
                        "peer": s[4], "kind": s[12], "start": s[0], "duration": r[0] - s[0],
                        "status": r[10], "attributes": None})
    for row in out:
        row["attributes"] = dict(sorted(attrs.get((row["trace_id"], row["span_id"]), {}).items()))
    out.sort(key=lambda row: row["start"])
    return out


def _parity_text(seed: int) -> str:
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)
    tiers = sim.stream("observe:spans:tier")

    def front(ctx, req):
        yield ctx.work(1.0)
        reply = yield ctx.call("back", req.body)
        return reply.body

    def back(ctx, req):
        annotate(ctx, **{"customer.tier": req.body["tier"]})
        yield ctx.work(5.0 if req.body["tier"] == "gold" else 1.0)
        return {"ok": True}

    sim.service("front", instrument(front))
    sim.service("back", instrument(back), instances=2)
    sim.load("front", rate=50, duration=1_000,
             body=lambda _rng, i: {"id": i, "tier": "gold" if tiers.random() < 0.2 else "std"})
    rows = span_rows(sim.run())
    return ";".join(f"{r['service']}:{r['kind']}:{r['duration']:.6f}:"
                    f"{','.join(f'{k}={v}' for k, v in r['attributes'].items())}" for r in rows)


def _parity(seed: int) -> str:
    """A digest of a small deterministic scenario (compared between CPython and Pyodide)."""
    from hashlib import sha256

    return sha256(_parity_text(seed).encode("utf-8")).hexdigest()
