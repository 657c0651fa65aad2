"""Pictures from the journal: Mermaid sequence diagrams and Vega-Lite charts.

Why these two formats: JupyterLite renders Mermaid (in Markdown) and Vega-Lite
(``application/vnd.vegalite.v5+json``) natively and offline, so no numpy or matplotlib is
needed in the browser. Every object also has a ``text/plain`` fallback, so the same cell
reads sensibly in a terminal, in a test, or in a screen reader.

Sequence diagrams are trimmed on purpose: a run has thousands of messages and a diagram
with more than a few dozen arrows teaches nothing. :func:`sequence` draws whole traces
(the first ones, or the one you pick) up to *limit* messages and says how many it left out.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Mermaid", "Table", "VegaLite", "bar", "histogram", "line", "sequence", "table",
           "timeseries", "waterfall"]

VEGA_MIME = "application/vnd.vegalite.v5+json"
_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


class Mermaid:
    """A Mermaid diagram: shows as a ```` ```mermaid ```` Markdown block, or as its source text."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.source}\n```"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/markdown": self._repr_markdown_(), "text/plain": self.source}


class VegaLite:
    """A Vega-Lite v5 chart: ``spec`` (a dict) plus a readable text fallback."""

    def __init__(self, spec: dict, text: str) -> None:
        self.spec = spec
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        return {VEGA_MIME: self.spec, "text/plain": self.text}


class Table:
    """Rows of measurements side by side: an HTML table in a notebook, aligned text elsewhere."""

    def __init__(self, rows: list[tuple[str, Mapping[str, Any]]], title: str = "") -> None:
        self.rows, self.title = rows, title
        self.columns = list(rows[0][1]) if rows else []

    def __str__(self) -> str:
        if not self.rows:
            return self.title or "(no rows)"
        w = max(len(label) for label, _ in self.rows)
        out = [self.title] if self.title else []
        out.append(" " * w + "  " + "  ".join(f"{c:>9}" for c in self.columns))
        for label, d in self.rows:
            out.append(label.ljust(w) + "  " + "  ".join(f"{d[c]!s:>9}" for c in self.columns))
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        esc = html.escape
        caption = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        head = "".join(f'<th scope="col">{esc(str(c))}</th>' for c in self.columns)
        body = "".join(
            f'<tr><th scope="row">{esc(label)}</th>'
            + "".join(f"<td>{esc(str(d[c]))}</td>" for c in self.columns) + "</tr>"
            for label, d in self.rows)
        return (f"<table>{caption}<thead><tr><th></th>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")


def table(rows: Iterable[tuple[str, Mapping[str, Any]]], title: str = "") -> Table:
    """A table of labelled rows, e.g. ``[("sync", {"p99": 12.5}), ("async", {...})]``.

    Every row should have the same keys (the columns); display it as the last expression
    of a cell, or ``print`` it for text.
    """
    rows = [(str(label), dict(d)) for label, d in rows]
    if rows:
        cols = list(rows[0][1])
        for label, d in rows:
            if list(d) != cols:
                raise ValueError(f"row {label!r} has columns {list(d)}, not {cols}; "
                                 "give every row the same keys in the same order")
    return Table(rows, title)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name) or "_"


def sequence(result, limit: int = 40, trace_id: str | None = None) -> Mermaid:
    """A Mermaid sequence diagram of the messages of one trace, or of the first traces.

    Requests are solid arrows, responses dashed arrows with their status, lost messages
    crossed arrows with the reason; retries, rejections and breaker changes are notes.
    """
    rows = result.rows
    if trace_id is None:
        order: list[str] = []
        seen: dict[str, int] = {}
        for r in rows:
            if r[5] and r[2] in ("send", "drop", "retry", "reject") and r[5] not in seen:
                seen[r[5]] = len(order)
                order.append(r[5])
        wanted = order
    else:
        wanted = [trace_id]
    picked: list[tuple] = []
    chosen: list[str] = []
    per_trace: dict[str, list[tuple]] = {t: [] for t in wanted}
    for r in rows:
        if r[2] in ("send", "drop", "retry", "reject") and r[5] in per_trace:
            per_trace[r[5]].append(r)
    total = sum(len(v) for v in per_trace.values())
    for t in wanted:   # whole traces while they fit; the first one is cut at *limit*
        ev = per_trace[t]
        if picked and len(picked) + len(ev) > limit:
            break
        chosen.append(t)
        picked.extend(ev)
    picked = picked[:limit]
    # breaker state changes during the chosen traces
    if picked:
        t0, t1 = picked[0][0], picked[-1][0]
        picked += [r for r in rows if r[2] == "state" and t0 <= r[0] <= t1]
        picked.sort(key=lambda r: r[1])
    names: list[str] = []
    for r in picked:
        for n in (r[3], r[4]):
            if n and n not in names and "," not in n:
                names.append(n)
    lines = ["sequenceDiagram"]
    for n in names:
        lines.append(f"    participant {_safe(n)} as {n}")
    dropped = {r[8] for r in picked if r[2] == "drop" and r[8]}
    arrows = 0
    for r in picked:
        kind, a, b = r[2], _safe(r[3]), _safe(r[4]) if r[4] else ""
        if kind == "send":
            if r[8] in dropped:
                continue
            if r[12] == "response":
                label = f"{r[10]}" if r[10] else "?"
                lines.append(f"    {a}-->>{b}: {label} @{r[0]:.1f}ms")
            else:
                lines.append(f"    {a}->>{b}: {r[12]} #{r[8]} @{r[0]:.1f}ms")
            arrows += 1
        elif kind == "drop":
            lines.append(f"    {a}-x{b}: lost ({r[12]}) @{r[0]:.1f}ms")
            arrows += 1
        elif kind == "retry":
            lines.append(f"    Note over {a}: retry after {r[11]:.1f} ms ({r[12]})")
        elif kind == "reject":
            lines.append(f"    Note over {a}: {r[10]} {r[12]}")
        elif kind == "state" and r[3] in names:
            lines.append(f"    Note over {a}: breaker {r[12]}")
        elif kind == "state":
            lines.append(f"    Note over {_safe(names[0]) if names else a}: breaker {r[3]} {r[12]}")
    omitted = total - sum(1 for r in picked if r[2] != "state")
    if omitted > 0 and names:
        span = f"{_safe(names[0])},{_safe(names[-1])}" if len(names) > 1 else _safe(names[0])
        lines.append(f"    Note over {span}: … {omitted} more messages omitted")
    if len(lines) == 1:
        lines.append("    Note over client: no messages")
    return Mermaid("\n".join(lines))


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str], title: str, n: int = 12) -> str:
    out = [title] if title else []
    out.append("  ".join(f"{c:>12}" for c in cols))
    for row in rows[:n]:
        out.append("  ".join(f"{row[c]:>12.3f}" if isinstance(row[c], float) else f"{row[c]!s:>12}"
                             for c in cols))
    if len(rows) > n:
        out.append(f"… {len(rows) - n} more rows")
    return "\n".join(out)


def _spec(title: str, data: list[dict], mark: Any, encoding: dict, width: int = 480,
          height: int = 240) -> dict:
    return {"$schema": _SCHEMA, "title": title, "width": width, "height": height,
            "data": {"values": data}, "mark": mark, "encoding": encoding}


def waterfall(trace) -> VegaLite:
    """A trace waterfall: one bar per span, from its start to its end, relative to the trace."""
    t0 = trace.start
    data = []
    for i, s in enumerate(sorted(trace.spans, key=lambda s: (s.start, s.kind != "client"))):
        end = s.end if s.end is not None else t0 + trace.duration
        data.append({"span": f"{i + 1:02d} {s.name} ({s.kind})", "start": round(s.start - t0, 6),
                     "end": round(end - t0, 6), "status": str(s.status or "none"),
                     "service": s.service})
    spec = _spec(f"trace {trace.trace_id[:8]}…", data, "bar", {
        "y": {"field": "span", "type": "nominal", "sort": None, "title": None},
        "x": {"field": "start", "type": "quantitative", "title": "ms since trace start"},
        "x2": {"field": "end"},
        "color": {"field": "status", "type": "nominal"},
        "tooltip": [{"field": "span"}, {"field": "start"}, {"field": "end"}, {"field": "status"}]},
        height=max(60, 22 * len(data)))
    return VegaLite(spec, str(trace))


def timeseries(result, service: str, metric: str = "rate", bucket: float = 1000.0) -> VegaLite:
    """A line chart of ``result.metrics.timeseries(service, metric, bucket)``."""
    pts = result.metrics.timeseries(service, metric, bucket)
    return line({f"{service} {metric}": pts}, x="t (ms)", y=metric,
                title=f"{service}: {metric} per {bucket:g} ms")


def line(series: Mapping[str, Iterable[tuple[float, float]]] | Iterable[tuple[float, float]],
         x: str = "x", y: str = "y", title: str = "") -> VegaLite:
    """A line chart of one or more named series of ``(x, y)`` points."""
    if not isinstance(series, Mapping):
        series = {y: series}
    series = {name: list(pts) for name, pts in series.items()}
    data = [{"x": float(a), "y": float(b), "series": name} for name, pts in series.items()
            for a, b in pts]
    x_axis: dict = {"field": "x", "type": "quantitative", "title": x}
    if all(isinstance(a, int) for pts in series.values() for a, _ in pts):
        # counts (services, replicas, hops): no ticks at 1.5 services
        x_axis["axis"] = {"tickMinStep": 1, "format": "d"}
    spec = _spec(title, data, {"type": "line", "point": True}, {
        "x": x_axis,
        "y": {"field": "y", "type": "quantitative", "title": y},
        "color": {"field": "series", "type": "nominal"}})
    return VegaLite(spec, _table(data, ["series", "x", "y"], title))


def bar(data: Mapping[str, float] | Iterable[tuple[str, float]], x: str = "name",
        y: str = "value", title: str = "") -> VegaLite:
    """A bar chart of labelled values (a dict or ``(label, value)`` pairs, order kept)."""
    items = list(data.items()) if isinstance(data, Mapping) else list(data)
    values = [{"name": str(k), "value": float(v)} for k, v in items]
    spec = _spec(title, values, "bar", {
        "x": {"field": "name", "type": "nominal", "sort": None, "title": x},
        "y": {"field": "value", "type": "quantitative", "title": y}})
    return VegaLite(spec, _table(values, ["name", "value"], title))


def histogram(values, bins: int = 30, title: str = "") -> VegaLite:
    """A histogram of numbers (a list, or a ``metrics.histogram(...)`` object)."""
    name = getattr(values, "name", "")
    vals = list(getattr(values, "values", values))
    data = [{"value": float(v)} for v in vals]
    spec = _spec(title or name or "histogram", data, "bar", {
        "x": {"field": "value", "type": "quantitative", "bin": {"maxbins": bins},
              "title": name or "value"},
        "y": {"aggregate": "count", "type": "quantitative"}})
    s = sorted(vals)
    text = (f"{title or name or 'histogram'}: n={len(s)}" + (
        f", min={s[0]:.3f}, p50={s[(len(s) - 1) // 2]:.3f}, max={s[-1]:.3f}" if s else ""))
    return VegaLite(spec, text)
