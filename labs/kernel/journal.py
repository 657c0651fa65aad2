"""The journal: one immutable, ordered history of everything that happened in a run.

Why one journal: metrics, traces, logs, diagrams and checkers are all *computed from it*,
so they can never disagree with each other (Maelstrom's ``net/journal.clj`` idea). Why
cheap: a 10,000-request run writes a few hundred thousand events, so the simulation
appends plain tuples and :class:`Event` dataclasses are built only when you read
``result.journal``. The hash is over an explicit canonical text (floats as ``%.6f``) so
that CPython and Pyodide agree byte for byte.

Event fields (unused ones are ``""``/``0``):

- ``t`` virtual time (ms), ``seq`` position in the journal (breaks ties in ``t``)
- ``kind``: ``send``, ``receive``, ``drop``, ``request.start``, ``request.end``,
  ``span.start``, ``span.end``, ``reject``, ``retry``, ``log``, ``metric``, ``state``, ``fault``
- ``service`` where it happened; ``peer`` the other side of a message or span
- ``trace_id``, ``span_id``, ``parent_id``: W3C trace-context ids (hex strings)
- ``msg``: message id (send/receive/drop) or client request id (request.*)
- ``key``: logical call id, shared by retries and network duplicates of one call
- ``status``: HTTP-like status (0 = no answer); ``value``: a number (duration, delay, metric)
- ``note``: short text (reason, span kind, log message, metric name, state change)
- ``data``: sorted ``(key, value)`` pairs of extra fields (log fields, for instance)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "Journal"]

FIELDS = ("t", "seq", "kind", "service", "peer", "trace_id", "span_id", "parent_id", "msg",
          "key", "status", "value", "note", "data")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, at virtual time ``t`` (ms); see the module docstring."""

    t: float
    seq: int
    kind: str
    service: str
    peer: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_id: str = ""
    msg: int = 0
    key: int = 0
    status: int = 0
    value: float = 0.0
    note: str = ""
    data: tuple = ()

    def get(self, field: str, default: Any = None) -> Any:
        """Return an extra field from ``data`` (e.g. a log field), or *default*."""
        for k, v in self.data:
            if k == field:
                return v
        return default

    def as_dict(self) -> dict:
        """Return the event as a plain dict, ``data`` merged in (handy for tables)."""
        d = {f: getattr(self, f) for f in FIELDS if f != "data"}
        d.update(self.data)
        return d


def _canon(v: Any) -> str:
    """Canonical text of one value: floats fixed to 6 decimals, everything else by repr."""
    if isinstance(v, float):
        return "%.6f" % v
    if isinstance(v, tuple):
        return "(" + ",".join(_canon(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ",".join(f"{_canon(k)}:{_canon(v[k])}" for k in sorted(v, key=repr)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_canon(x) for x in v) + "]"
    return repr(v)


class Journal:
    """Append-only store of raw event tuples, in the order they happened."""

    __slots__ = ("_rows", "_events")

    def __init__(self) -> None:
        self._rows: list[tuple] = []
        self._events: tuple[Event, ...] | None = None

    def add(self, t: float, kind: str, service: str, peer: str = "", trace_id: str = "",
            span_id: str = "", parent_id: str = "", msg: int = 0, key: int = 0, status: int = 0,
            value: float = 0.0, note: str = "", data: tuple = ()) -> None:
        """Append one event (``seq`` is its position)."""
        rows = self._rows
        rows.append((t, len(rows), kind, service, peer, trace_id, span_id, parent_id, msg, key,
                     status, value, note, data))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[tuple]:
        """The raw tuples (fast path for metrics and checkers; do not mutate)."""
        return self._rows

    def events(self) -> tuple[Event, ...]:
        """All events as frozen :class:`Event` dataclasses (built once, then cached)."""
        if self._events is None or len(self._events) != len(self._rows):
            self._events = tuple(Event(*r) for r in self._rows)
        return self._events

    def canonical_lines(self):
        """Yield one canonical text line per event (what :meth:`hash` digests)."""
        # Same text as ``_canon`` on every field; the common field types are handled inline
        # because hashing a long journal otherwise costs more than running it.
        for r in self._rows:
            yield "|".join(["%.6f" % x if type(x) is float else
                            repr(x) if type(x) is str or type(x) is int else _canon(x)
                            for x in r])

    def hash(self) -> str:
        """SHA-256 hex digest of the canonical serialization: equal runs, equal hashes."""
        h = hashlib.sha256()
        update = h.update
        for line in self.canonical_lines():
            update(line.encode("utf-8") + b"\n")
        return h.hexdigest()
