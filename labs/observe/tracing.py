"""Distributed traces rebuilt from the journal, with W3C Trace Context ids.

Why W3C ids: they are what OpenTelemetry and clj-otel put on the wire, so what learners
see here is what they will grep for in production: a 32-hex ``trace_id`` per client
request, a 16-hex ``span_id`` per span, and the header ``traceparent:
00-<trace-id>-<parent-span-id>-01`` (version 00, flag 01 = sampled). Ids are drawn from
the run's named streams (a load's own stream for the traces it starts), so they are reproducible; an all-zero id is invalid and never drawn.

Spans follow OpenTelemetry's split: a *client* span per call attempt (in the caller) and a
*server* span per execution (in the callee), whose parent is that client span. Retries
are therefore sibling client spans, and a hedged or duplicated request shows up as two
server spans under one client span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError

__all__ = ["Span", "Trace", "Traces", "parse_traceparent", "traceparent"]

_TP = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """Format a W3C ``traceparent`` header value."""
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def parse_traceparent(value: str) -> tuple[str, str, bool]:
    """Parse a ``traceparent`` into ``(trace_id, parent_id, sampled)``; raise on invalid input.

    Invalid per the spec: not lowercase hex in the 2-32-16-2 shape, version ``ff``, or an
    all-zero trace id or parent id.
    """
    m = _TP.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ConfigError(f"traceparent must look like 00-<32 hex>-<16 hex>-<2 hex>, got {value!r}.")
    version, trace, parent, flags = m.groups()
    if version == "ff":
        raise ConfigError("traceparent version ff is invalid (W3C Trace Context).")
    if trace == "0" * 32 or parent == "0" * 16:
        raise ConfigError("traceparent with an all-zero trace id or parent id is invalid.")
    return trace, parent, bool(int(flags, 16) & 1)


@dataclass
class Span:
    """One span: *service* did *kind* ("client"/"server") work with *peer* from start to end."""

    trace_id: str
    span_id: str
    parent_id: str
    service: str
    peer: str
    kind: str
    start: float
    end: float | None = None
    status: int = 0
    reason: str = ""
    children: list[Span] = field(default_factory=list, repr=False)

    @property
    def duration(self) -> float | None:
        """end - start in ms (None while unfinished)."""
        return None if self.end is None else self.end - self.start

    @property
    def ok(self) -> bool:
        """True for a 2xx/3xx status."""
        return 200 <= self.status < 400

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` this span would put on outgoing requests."""
        return traceparent(self.trace_id, self.span_id)

    @property
    def name(self) -> str:
        """A readable label such as ``orders → payments`` (client) or ``payments`` (server)."""
        return f"{self.service} → {self.peer}" if self.kind == "client" else self.service


@dataclass
class Trace:
    """All spans of one trace id, with the root(s) and a readable tree."""

    trace_id: str
    spans: list[Span]

    @property
    def roots(self) -> list[Span]:
        """Spans whose parent is not in this trace (normally one: the client's first span)."""
        ids = {s.span_id for s in self.spans}
        return [s for s in self.spans if s.parent_id not in ids]

    @property
    def root(self) -> Span | None:
        """The first root span."""
        r = self.roots
        return r[0] if r else None

    @property
    def start(self) -> float:
        """Earliest span start (ms)."""
        return min(s.start for s in self.spans)

    @property
    def end(self) -> float | None:
        """Latest span end, or None if any span is unfinished."""
        if any(s.end is None for s in self.spans):
            return None
        return max(s.end for s in self.spans)

    @property
    def duration(self) -> float:
        """End minus start of the whole trace (ms); unfinished traces count up to their last end."""
        ends = [s.end for s in self.spans if s.end is not None]
        return (max(ends) if ends else self.start) - self.start

    def tree(self) -> str:
        """An indented text tree, one line per span."""
        lines: list[str] = []

        def walk(s: Span, depth: int) -> None:
            d = "…" if s.duration is None else f"{s.duration:.2f} ms"
            st = s.status or ("crashed" if s.end is not None else "open")
            lines.append(f"{'  ' * depth}{s.name} [{s.kind}] {d} {st} {s.reason}".rstrip())
            for c in s.children:
                walk(c, depth + 1)

        for r in self.roots:
            walk(r, 0)
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"trace {self.trace_id}\n{self.tree()}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .viz import waterfall
        return waterfall(self)._repr_mimebundle_()


class Traces:
    """All traces of a run, by trace id, in order of first appearance."""

    def __init__(self, rows: list[tuple]) -> None:
        spans: dict[tuple[str, str], Span] = {}
        by_trace: dict[str, list[Span]] = {}
        for r in rows:
            k = r[2]
            if k == "span.start":
                s = Span(r[5], r[6], r[7], r[3], r[4], r[12], r[0])
                spans[(r[5], r[6])] = s
                by_trace.setdefault(r[5], []).append(s)
            elif k == "span.end":
                s = spans.get((r[5], r[6]))
                if s is not None:
                    s.end, s.status, s.reason = r[0], r[10], dict(r[13]).get("reason", "")
            elif k == "request.start":
                by_trace.setdefault(r[5], [])
        for s in spans.values():
            p = spans.get((s.trace_id, s.parent_id))
            if p is not None:
                p.children.append(s)
        self._traces = {t: Trace(t, ss) for t, ss in by_trace.items() if ss}

    def get(self, trace_id: str) -> Trace | None:
        """The trace with this id, or None."""
        return self._traces.get(trace_id)

    def __getitem__(self, trace_id: str) -> Trace:
        return self._traces[trace_id]

    def __iter__(self):
        return iter(self._traces.values())

    def __len__(self) -> int:
        return len(self._traces)

    def ids(self) -> list[str]:
        """All trace ids in order of first appearance."""
        return list(self._traces)

    def slowest(self, n: int = 5) -> list[Trace]:
        """The *n* longest traces (ties keep their order of appearance)."""
        return sorted(self._traces.values(), key=lambda t: -t.duration)[:n]

    def failed(self) -> list[Trace]:
        """Traces whose root span did not end with a 2xx/3xx status."""
        return [t for t in self._traces.values() if t.root is not None and not t.root.ok]
