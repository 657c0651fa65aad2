"""The chapter's example shop: orders → payments → inventory → shipping, as a saga.

:data:`PLACE_ORDER` is the chapter's saga (order, charge, reserve as the pivot, ship,
confirm) and :func:`build_shop` wires four :class:`labs.saga.Participant` services to an
:class:`labs.saga.Orchestrator` or a :class:`labs.saga.Choreography` on a simulation.

The local transactions here are the shop's **first versions**, the ones the lab breaks:

- ``create``/``cancel``/``confirm`` (orders), ``charge`` (payments), ``release``
  (inventory) and ``schedule`` (shipping) are idempotent by key; ``charge`` refuses a key
  that already carries a ``"refunded"`` state.
- :func:`naive_refund` gives back a charge it finds, but leaves nothing behind when there
  was no charge yet, so a charge that arrives after its refund still takes the money.
- :func:`naive_reserve` takes the items every time it is asked, so a duplicated command
  takes them twice.

:func:`build_shop` takes ``refund=`` and ``reserve=`` (and any other action through
``actions=``), so a notebook can run the shop with its own versions of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .kernel.errors import ConfigError, _check_int, _check_probability
from .data.saga import Choreography, EventChannel, Orchestrator, Participant, Saga, Step, rejected

__all__ = [
    "PLACE_ORDER", "build_shop", "cancel_order", "charge", "confirm_order", "create_order",
    "make_orders", "naive_refund", "naive_reserve", "release", "schedule", "shop_actions",
]

#: The chapter's saga: order → payment → inventory (the pivot) → shipping → confirm.
PLACE_ORDER = Saga("place-order", [
    Step("create-order", "orders", "create", compensation="cancel"),
    Step("charge-card", "payments", "charge", compensation="refund"),
    Step("reserve-stock", "inventory", "reserve", pivot=True),
    Step("ship", "shipping", "schedule"),
    Step("confirm-order", "orders", "confirm"),
])


# -- local transactions ---------------------------------------------------------------------
def create_order(db, cmd):
    """orders.create: a pending order (a semantic lock); refused if already cancelled."""
    orders = db.setdefault("orders", {})
    if orders.get(cmd["saga"]) == "cancelled":
        return rejected("order already cancelled")
    orders.setdefault(cmd["saga"], "pending")
    return {"ok": True}


def cancel_order(db, cmd):
    """orders.cancel: the order stays, with status cancelled (a tombstone for a late create)."""
    db.setdefault("orders", {})[cmd["saga"]] = "cancelled"
    return {"ok": True}


def confirm_order(db, cmd):
    """orders.confirm: the last step lifts the semantic lock."""
    db.setdefault("orders", {})[cmd["saga"]] = "confirmed"
    return {"ok": True}


def charge(db, cmd):
    """payments.charge: move the total from the customer to the shop, once per key.

    Records ``{"state": "charged", "amount": total}`` under ``cmd["key"]`` in
    ``db["charges"]``; a key that already has an entry is not charged again, and one whose
    state is not ``"charged"`` (declined, refunded) is refused.
    """
    charges = db.setdefault("charges", {})
    prior = charges.get(cmd["key"])
    if prior is not None:                       # a duplicate, or late after a refund
        return {"ok": True} if prior["state"] == "charged" else rejected(prior["state"])
    bal = db["balance"]
    amount = cmd["total"]
    if bal.get(cmd["customer"], 0) < amount:
        charges[cmd["key"]] = {"state": "declined", "amount": 0}
        return rejected("declined")
    bal[cmd["customer"]] -= amount
    bal["shop"] = bal.get("shop", 0) + amount
    charges[cmd["key"]] = {"state": "charged", "amount": amount}
    return {"ok": True}


def naive_refund(db, cmd):
    """payments.refund, first version: give back a charge found under the key, if any.

    A second call finds the entry already refunded and changes nothing; but with no charge
    under the key it does nothing at all, so a charge that arrives after its refund (a slow
    payment the orchestrator gave up on) still takes the money. The lab's exercise fixes it.
    """
    entry = db.get("charges", {}).get(cmd["key"])
    if entry and entry["state"] == "charged":
        amount = entry["amount"]
        db["balance"][cmd["customer"]] += amount
        db["balance"]["shop"] -= amount
        entry.update(state="refunded", amount=0)
    return {"ok": True}


def naive_reserve(db, cmd):
    """inventory.reserve, first version: take the items off the shelf; refuse if short.

    Notes the reservation in ``db["reservations"]`` (which :func:`release` reads) but
    never looks at it: a command delivered twice takes the items twice. The lab's
    exercise fixes it.
    """
    shelf = db["stock"]
    if shelf.get(cmd["sku"], 0) < cmd["qty"]:
        return rejected("out of stock")
    shelf[cmd["sku"]] -= cmd["qty"]
    db.setdefault("reservations", {})[cmd["key"]] = "reserved"
    return {"ok": True}


def release(db, cmd):
    """inventory.release: put reserved items back; with no reservation, leave a tombstone.

    Reads and writes ``db["reservations"]`` (key → ``"reserved"``, ``"released"``, …),
    the table an idempotent ``reserve`` keeps.
    """
    res = db.setdefault("reservations", {})
    if res.get(cmd["key"]) == "reserved":
        db["stock"][cmd["sku"]] += cmd["qty"]
    res[cmd["key"]] = "released"
    return {"ok": True}


def schedule(db, cmd):
    """shipping.schedule: one parcel per key, however often it is asked."""
    ships = db.setdefault("shipments", {})
    if cmd["key"] not in ships:
        ships[cmd["key"]] = cmd.get("sku", "")
        db.setdefault("parcels", {})
        db["parcels"]["sent"] = db["parcels"].get("sent", 0) + 1
    return {"ok": True}


def shop_actions(refund: Callable = naive_refund,
                 reserve: Callable = naive_reserve) -> dict[str, dict[str, Callable]]:
    """The shop's local transactions, by service, with *refund* and *reserve* plugged in."""
    return {
        "orders": {"create": create_order, "cancel": cancel_order, "confirm": confirm_order},
        "payments": {"charge": charge, "refund": refund},
        "inventory": {"reserve": reserve, "release": release},
        "shipping": {"schedule": schedule},
    }


def make_orders(rng, n: int, customers: Iterable[str] = ("ada", "bob", "cy", "dee"),
                skus: Iterable[str] = ("book", "lamp", "mug"), fail_rate: float = 0.0,
                fail_steps: Iterable[str] = ("create-order", "charge-card", "reserve-stock"),
                max_total: int = 4000) -> list[dict]:
    """*n* random orders drawn from *rng* (e.g. ``sim.stream("shop:orders")``).

    With probability *fail_rate* an order carries ``fail``: the name of one step in
    *fail_steps* that will refuse it for a business reason (a bad address, a fraud flag);
    the natural refusals (no money, no stock) come on top.
    """
    _check_int("n", n, low=1)
    _check_probability("fail_rate", fail_rate)
    customers, skus, fail_steps = list(customers), list(skus), list(fail_steps)
    out = []
    for i in range(n):
        o = {"id": i + 1, "customer": rng.choice(customers), "sku": rng.choice(skus),
             "qty": rng.randint(1, 3), "total": 100 * rng.randint(5, max_total // 100)}
        if fail_rate and fail_steps and rng.random() < fail_rate:
            o["fail"] = rng.choice(fail_steps)
        out.append(o)
    return out


def build_shop(sim, mode: str = "orchestrated", orders: int | list = 20, rate: float = 20.0,
               saga: Saga = PLACE_ORDER, refund: Callable = naive_refund,
               reserve: Callable = naive_reserve, actions: Mapping | None = None,
               balances: Mapping[str, int] | None = None, stock: Mapping[str, int] | None = None,
               idempotent: bool = False, fail_rate: float = 0.1, recover_every: float | None = 500.0,
               horizon: float = 30_000.0, timeout: float = 40.0, max_attempts: int = 4) -> dict:
    """Build the shop on *sim*: four participants and an orchestrator or a choreography.

    *refund* and *reserve* are the payments and inventory local transactions
    ``fn(db, cmd) -> reply`` (by default the naive first versions); *actions* overrides
    any local transaction by service (``{"payments": {"refund": fn}}``, applied last);
    *idempotent* wraps every action in :func:`labs.saga.idempotent`. Returns the parts
    (``participants``, ``orchestrator`` or ``choreography``, ``orders``).
    """
    if mode not in ("orchestrated", "choreographed"):
        raise ConfigError(f"mode must be 'orchestrated' or 'choreographed', got {mode!r}.")
    if not callable(refund) or not callable(reserve):
        raise ConfigError("refund and reserve must be functions fn(db, cmd) -> reply.")
    table = shop_actions(refund=refund, reserve=reserve)
    for svc, acts in (actions or {}).items():
        table.setdefault(svc, {}).update(acts)
    if isinstance(orders, int):
        orders = make_orders(sim.stream("shop:orders"), orders, fail_rate=fail_rate)
    dbs = {
        "orders": {"orders": {}},
        "payments": {"balance": dict(balances or {"ada": 60_000, "bob": 60_000, "cy": 30_000,
                                                  "dee": 8_000, "shop": 0})},
        "inventory": {"stock": dict(stock or {"book": 40, "lamp": 16, "mug": 50})},
        "shipping": {"parcels": {"sent": 0}},
    }
    services = sorted({s.service for s in saga.steps})
    parts = [Participant(svc, dbs.get(svc, {}), table.get(svc, {}), idempotent=idempotent)
             for svc in services]
    out: dict[str, Any] = {"participants": {p.name: p for p in parts}, "orders": orders}
    if mode == "orchestrated":
        for p in parts:
            p.install(sim)
        orch = Orchestrator(saga, timeout=timeout, max_attempts=max_attempts)
        orch.install(sim, orders, rate=rate, recover_every=recover_every, horizon=horizon)
        out["orchestrator"] = orch
    else:
        chor = Choreography(saga, EventChannel(timeout=timeout), parts)
        chor.install(sim, orders, rate=rate)
        out["choreography"] = chor
    return out
