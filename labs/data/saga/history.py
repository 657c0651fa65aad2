"""Reading a saga run from the journal: records, tallies, checkers and a sequence diagram.
See :mod:`labs.data.saga`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...observe.checkers import Violation
from ...observe.viz import Mermaid, _safe

from .definition import TERMINAL

__all__ = ['SagaRecord', 'conservation', 'every_saga_finished', 'saga_history', 'saga_records', 'tally']


# -- reading a run --------------------------------------------------------------------------
@dataclass
class SagaRecord:
    """One saga as the journal tells it: its order, states, local transactions, net effects."""

    id: str
    order: dict = field(default_factory=dict)
    states: list = field(default_factory=list)       # (t, state)
    txs: list = field(default_factory=list)          # log dicts of its local transactions
    trace_ids: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """``committed``, ``compensated``, ``conflicting`` or ``unfinished``."""
        finals = {s for _, s in self.states if s in TERMINAL}
        if len(finals) > 1:
            return "conflicting"
        return finals.pop() if finals else "unfinished"

    def net(self, table: str, entry: str | None = None) -> float:
        """Net change this saga's local transactions made to *table* (or one *entry* of it)."""
        total = 0.0
        prefix = f"{table}:"
        for tx in self.txs:
            for k, v in tx.items():
                if k.startswith(prefix) and (entry is None or k == prefix + entry):
                    total += v
        return total

    def count(self, action: str, effective: bool = True) -> int:
        """How many times *action* ran (*effective*: only runs that changed a tracked table)."""
        n = 0
        for tx in self.txs:
            if tx.get("action") != action:
                continue
            if not effective or any(":" in k for k in tx):
                n += 1
        return n


def saga_records(result) -> dict[str, SagaRecord]:
    """Every saga of a run, rebuilt from its ``saga`` and ``tx`` log lines."""
    out: dict[str, SagaRecord] = {}
    for r in result.rows:
        if r[2] != "log":
            continue
        note = r[12]
        if note not in ("saga", "tx", "saga.send", "saga.reply", "event"):
            continue
        d = dict(r[13])
        sid = d.get("saga")
        if not sid:
            continue
        rec = out.get(sid)
        if rec is None:
            rec = out[sid] = SagaRecord(sid)
        if r[5] and r[5] not in rec.trace_ids:
            rec.trace_ids.append(r[5])
        if note == "saga":
            if d.get("state") == "started" and not rec.order:
                rec.order = {k: d[k] for k in ("customer", "total", "sku", "qty") if k in d}
            rec.states.append((r[0], d.get("state", "")))
        elif note == "tx":
            d["service"] = r[3]
            d["t"] = r[0]
            rec.txs.append(d)
    return out


def tally(result) -> dict[str, int]:
    """Headline numbers: sagas by status, effective refunds and releases, parcels."""
    recs = saga_records(result)
    out = {"sagas": len(recs), "committed": 0, "compensated": 0, "unfinished": 0,
           "conflicting": 0}
    for r in recs.values():
        out[r.status] += 1
    out["refunds"] = sum(r.count("refund") for r in recs.values())
    out["releases"] = sum(r.count("release") for r in recs.values())
    out["parcels"] = int(sum(r.net("parcels") for r in recs.values()))
    return out


def every_saga_finished(result) -> list[Violation]:
    """Every saga that started ended committed or compensated, and not both."""
    out = []
    for sid, rec in saga_records(result).items():
        st = rec.status
        t = rec.states[-1][0] if rec.states else (rec.txs[-1]["t"] if rec.txs else 0.0)
        trace = rec.trace_ids[0] if rec.trace_ids else ""
        if st == "unfinished":
            last = rec.states[-1][1] if rec.states else "never started"
            out.append(Violation("every_saga_finished",
                                 f"{sid} never finished (last state: {last})", t, trace))
        elif st == "conflicting":
            out.append(Violation("every_saga_finished",
                                 f"{sid} was reported both committed and compensated", t, trace))
    return out


def conservation(result, money: str = "balance", stock: str = "stock",
                 parcels: str = "parcels", shop: str = "shop") -> list[Violation]:
    """Money and stock are conserved, saga by saga, from the local transactions' effects.

    For every finished saga: its money movements sum to zero (nothing created or lost);
    the customer paid the order's total if it committed and nothing if it was compensated;
    the stock taken is the order's quantity if committed, else zero; and exactly one parcel
    was sent for a committed saga, none for a compensated one.
    """
    out = []
    for sid, rec in saga_records(result).items():
        st = rec.status
        if st not in TERMINAL:
            continue
        t = rec.states[-1][0] if rec.states else 0.0
        trace = rec.trace_ids[0] if rec.trace_ids else ""
        committed = st == "committed"
        o = rec.order
        created = rec.net(money)
        if created:
            out.append(Violation("conservation", f"{sid}: money was created or destroyed "
                                 f"({created:+g})", t, trace))
        paid = rec.net(money, shop)
        want = o.get("total", 0) if committed else 0
        if paid != want:
            out.append(Violation("conservation", f"{sid} is {st} but the customer paid "
                                 f"{paid:g} (expected {want:g})", t, trace))
        taken = -rec.net(stock)
        want = o.get("qty", 0) if committed else 0
        if taken != want:
            out.append(Violation("conservation", f"{sid} is {st} but {taken:g} item(s) left "
                                 f"the shelf (expected {want:g})", t, trace))
        sent = rec.net(parcels)
        want = 1 if committed else 0
        if sent != want:
            out.append(Violation("conservation", f"{sid} is {st} but {sent:g} parcel(s) were "
                                 f"sent (expected {want})", t, trace))
    return out


def saga_history(result, saga_id: str, limit: int = 60) -> Mermaid:
    """A sequence diagram of one saga, drawn from its log lines (commands, replies, txs)."""
    who = "order-saga"
    lines_: list[tuple] = []
    for r in result.rows:
        if r[2] != "log" or r[12] not in ("saga", "tx", "saga.send", "saga.reply", "event"):
            continue
        d = dict(r[13])
        if d.get("saga") != saga_id:
            continue
        lines_.append((r[0], r[3], r[12], d))
    names: list[str] = []
    for _, svc, note, d in lines_:
        if note in ("saga", "saga.send") and svc not in names:
            names.append(svc)
        if note == "saga.send" and d.get("to") not in names:
            names.append(d.get("to"))
        if note in ("tx", "event") and svc not in names:
            names.append(svc)
    if names:
        who = names[0]
    out = ["sequenceDiagram"]
    for n in names:
        out.append(f"    participant {_safe(n)} as {n}")
    shown = 0
    for t, svc, note, d in lines_:
        if shown >= limit:
            out.append(f"    Note over {_safe(who)}: … more omitted")
            break
        if note == "saga.send":
            out.append(f"    {_safe(svc)}->>{_safe(d['to'])}: {d['action']} "
                       f"(attempt {d['attempt']}) @{t:.0f}ms")
        elif note == "saga.reply" and d.get("outcome") != "ok":
            out.append(f"    Note over {_safe(svc)}: {d['action']}: {d['outcome']} "
                       f"({d.get('status')} {d.get('reason', '')})".rstrip())
        elif note == "tx":
            eff = ", ".join(f"{k} {v:+g}" for k, v in sorted(d.items()) if ":" in k)
            out.append(f"    Note over {_safe(svc)}: {d.get('action')} → {d.get('outcome')}"
                       + (f" [{eff}]" if eff else " [no change]"))
        elif note == "event":
            out.append(f"    Note over {_safe(svc)}: event {d.get('type')}")
        elif note == "saga":
            out.append(f"    Note over {_safe(svc)}: saga {d.get('state')} @{t:.0f}ms")
        else:
            continue
        shown += 1
    if len(out) == 1:
        out.append(f"    Note over client: no log lines for {saga_id}")
    return Mermaid("\n".join(out))
