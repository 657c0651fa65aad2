"""labs.saga and labs.shop: the saga as data, orchestrator, choreography, idempotency,
checkers, and the example shop with its naive first-version local transactions."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labs
from labs import saga as S
from labs import shop


def run_shop(seed=1, mode="orchestrated", n=30, actions=None, dup=0.0, reorder=0.0, flaky=0.0,
             crash_at=None, recover_every=500.0, slow=None, idempotent=False, fail_rate=0.15,
             saga=shop.PLACE_ORDER):
    sim = labs.Simulation(seed=seed)
    sim.network.duplicate = dup
    sim.network.reorder = reorder
    shop.build_shop(sim, mode=mode, orders=n, actions=actions, fail_rate=fail_rate,
                 recover_every=recover_every, idempotent=idempotent, saga=saga)
    if flaky:
        for svc in ("orders", "payments", "inventory", "shipping"):
            sim.faults.flaky(svc, at=0, until=15_000, error_rate=flaky)
    if crash_at is not None:
        victim = "order-saga" if mode == "orchestrated" else "inventory"
        sim.faults.crash(victim, at=crash_at, restart_at=crash_at + 700)
    if slow:
        sim.faults.slow("payments", at=300, until=2500, extra=labs.Exponential(mean=slow))
    return sim.run(until=30_000)


def violations(result):
    return S.every_saga_finished(result) + S.conservation(result)


naive_reserve = shop.naive_reserve
refund_without_tombstone = shop.naive_refund


# Correct local transactions live here, in the tests, not in the library: the library ships
# the naive versions the lab breaks, and the lab's exercises ask for these.
def refund(db, cmd):
    """Give back what this key charged, once; with no charge, leave a tombstone."""
    charges = db.setdefault("charges", {})
    prior = charges.get(cmd["key"])
    if prior is not None and prior["state"] == "charged":
        db["balance"][cmd["customer"]] += prior["amount"]
        db["balance"]["shop"] -= prior["amount"]
    charges[cmd["key"]] = {"state": "refunded", "amount": 0}
    return {"ok": True}


def reserve(db, cmd):
    """Take the items once per key; remember a refusal and respect a release's tombstone."""
    res = db.setdefault("reservations", {})
    prior = res.get(cmd["key"])
    if prior is not None:
        return {"ok": True} if prior == "reserved" else S.rejected(prior)
    if db["stock"].get(cmd["sku"], 0) < cmd["qty"]:
        res[cmd["key"]] = "out of stock"
        return S.rejected("out of stock")
    db["stock"][cmd["sku"]] -= cmd["qty"]
    res[cmd["key"]] = "reserved"
    return {"ok": True}


CORRECT = {"payments": {"refund": refund}, "inventory": {"reserve": reserve}}


# -- the saga as data ---------------------------------------------------------------------
def test_place_order_is_sound():
    """The chapter's saga has one pivot and a compensation for every step before it."""
    assert shop.PLACE_ORDER.problems() == []
    assert shop.PLACE_ORDER.pivot == 2


def test_problems_name_a_missing_compensation():
    """A step before the pivot without a compensation is reported by name."""
    steps = [dict(name=s.name, service=s.service, action=s.action,
                  compensation=s.compensation, pivot=s.pivot) for s in shop.PLACE_ORDER]
    steps[1]["compensation"] = None
    probs = S.Saga("x", steps).problems()
    assert any("charge-card" in p and "no compensation" in p for p in probs)


def test_problems_need_exactly_one_pivot():
    """No pivot is a design problem, reported rather than raised."""
    saga = S.Saga("x", [S.Step("a", "orders", "create", compensation="cancel")])
    assert any("exactly one pivot" in p for p in saga.problems())


def test_duplicate_step_names_raise():
    """Step names are part of idempotency keys, so they must be unique."""
    with pytest.raises(labs.ConfigError, match="unique"):
        S.Saga("x", [S.Step("a", "s", "x"), S.Step("a", "s", "y")])


def test_step_validates_fields():
    """A step without a service says what to write instead."""
    with pytest.raises(labs.ConfigError, match="Step.service"):
        S.Step("a", "", "x")


# -- local transactions ---------------------------------------------------------------------
def test_idempotent_replays_first_reply():
    """The idempotent receiver applies a command once and answers duplicates the same way."""
    db = {"stock": {"book": 3}}
    once = S.idempotent(naive_reserve)
    cmd = {"key": "saga-1/reserve-stock", "sku": "book", "qty": 2}
    assert once(db, cmd) == {"ok": True}
    assert once(db, cmd) == {"ok": True}
    assert db["stock"]["book"] == 1


def test_charge_refuses_after_a_tombstone():
    """The shop's charge refuses a key a refund already marked, and charges once per key."""
    db = {"balance": {"ada": 1000, "shop": 0}, "charges": {}}
    late = {"key": "saga-1/charge-card", "customer": "ada", "total": 400}
    db["charges"][late["key"]] = {"state": "refunded", "amount": 0}
    assert shop.charge(db, late)["ok"] is False
    cmd = {"key": "saga-2/charge-card", "customer": "ada", "total": 400}
    assert shop.charge(db, cmd) == shop.charge(db, cmd) == {"ok": True}
    assert db["balance"] == {"ada": 600, "shop": 400}


def test_naive_refund_leaves_no_tombstone():
    """The shop's first refund gives back once, but a refund before its charge lets it through."""
    db = {"balance": {"ada": 1000, "shop": 0}}
    cmd = {"key": "saga-1/charge-card", "customer": "ada", "total": 400}
    shop.charge(db, cmd)
    assert shop.naive_refund(db, cmd) == shop.naive_refund(db, cmd) == {"ok": True}
    assert db["balance"] == {"ada": 1000, "shop": 0}
    early = {"key": "saga-2/charge-card", "customer": "ada", "total": 400}
    assert shop.naive_refund(db, early) == {"ok": True}
    assert shop.charge(db, early) == {"ok": True}
    assert db["balance"] == {"ada": 600, "shop": 400}


def test_naive_reserve_takes_twice_and_release_gives_back_once():
    """The shop's first reserve is not idempotent; release puts a reservation back once."""
    db = {"stock": {"book": 5}}
    cmd = {"key": "saga-1/reserve-stock", "sku": "book", "qty": 2}
    assert shop.naive_reserve(db, cmd) == shop.naive_reserve(db, cmd) == {"ok": True}
    assert db["stock"]["book"] == 1
    shop.release(db, cmd)
    shop.release(db, cmd)
    assert db["stock"]["book"] == 3
    assert shop.naive_reserve(db, {**cmd, "qty": 9})["ok"] is False


def test_build_shop_takes_refund_and_reserve():
    """build_shop plugs in the given refund and reserve; the defaults are the naive ones."""
    sim = labs.Simulation(seed=1)
    parts = shop.build_shop(sim, orders=2, refund=refund, reserve=reserve)["participants"]
    assert parts["payments"].actions["refund"] is refund
    assert parts["inventory"].actions["reserve"] is reserve
    default = shop.build_shop(labs.Simulation(seed=1), orders=2)["participants"]
    assert default["payments"].actions["refund"] is shop.naive_refund
    assert default["inventory"].actions["reserve"] is shop.naive_reserve
    with pytest.raises(labs.ConfigError, match="refund and reserve"):
        shop.build_shop(labs.Simulation(seed=1), orders=2, refund=None)


# -- runs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["orchestrated", "choreographed"])
def test_happy_run_conserves(mode):
    """With no faults every saga finishes and money and stock are conserved."""
    r = run_shop(mode=mode, actions=CORRECT)
    assert violations(r) == []
    t = S.tally(r)
    assert t["sagas"] == 30 and t["unfinished"] == 0
    assert t["committed"] > 0 and t["compensated"] > 0
    assert t["parcels"] == t["committed"]


@pytest.mark.parametrize("mode", ["orchestrated", "choreographed"])
def test_same_seed_same_journal(mode):
    """Runs are exact from their seed."""
    assert run_shop(seed=5, mode=mode, dup=0.2, flaky=0.2).journal_hash() == \
        run_shop(seed=5, mode=mode, dup=0.2, flaky=0.2).journal_hash()


def test_naive_reserve_breaks_under_duplicates():
    """Without deduplication, duplicated commands take stock twice and the checker says so."""
    bad = [violations(run_shop(seed=s, dup=0.3, actions={"inventory": {"reserve": naive_reserve}}))
           for s in range(5)]
    assert any(bad)
    assert any("left the shelf" in v.message for vs in bad for v in vs)


def test_idempotent_flag_fixes_naive_reserve():
    """Wrapping every action in the idempotent receiver repairs the naive reserve."""
    for s in range(5):
        r = run_shop(seed=s, dup=0.3, actions={"inventory": {"reserve": naive_reserve}},
                     idempotent=True)
        assert violations(r) == []


def test_missing_tombstone_breaks_under_slow_payments():
    """A refund that overtakes its charge, without a tombstone, keeps a customer's money."""
    bad = [violations(run_shop(seed=s, slow=300, flaky=0.3,
                               actions={"payments": {"refund": refund_without_tombstone}}))
           for s in range(6)]
    assert any("paid" in v.message for vs in bad for v in vs)
    for s in range(6):
        assert violations(run_shop(seed=s, slow=300, flaky=0.3, actions=CORRECT)) == []


def test_orchestrator_crash_without_recovery_leaves_sagas_unfinished():
    """A crashed orchestrator with no recovery strands sagas; recovery finishes them."""
    stranded = [S.every_saga_finished(run_shop(seed=s, crash_at=1000, recover_every=None,
                                               flaky=0.3, slow=80)) for s in range(6)]
    assert any("never finished" in v.message for vs in stranded for v in vs)
    for s in range(6):
        assert violations(run_shop(seed=s, crash_at=1000, flaky=0.3, slow=80,
                                   actions=CORRECT)) == []


def test_missing_compensation_is_visible():
    """Running a saga whose charge has no compensation costs customers money."""
    steps = [S.Step("create-order", "orders", "create", compensation="cancel"),
             S.Step("charge-card", "payments", "charge"),
             S.Step("reserve-stock", "inventory", "reserve", pivot=True),
             S.Step("ship", "shipping", "schedule"),
             S.Step("confirm-order", "orders", "confirm")]
    runs = [run_shop(seed=s, saga=S.Saga("no-refund", steps), fail_rate=0.3, actions=CORRECT)
            for s in range(4)]
    assert any("paid" in v.message for r in runs for v in S.conservation(r))


def test_reordered_saga_needs_no_refunds():
    """Reserving before charging makes the charge the pivot: out-of-stock orders cost no refund."""
    steps = [S.Step("create-order", "orders", "create", compensation="cancel"),
             S.Step("reserve-stock", "inventory", "reserve", compensation="release"),
             S.Step("charge-card", "payments", "charge", pivot=True),
             S.Step("ship", "shipping", "schedule"),
             S.Step("confirm-order", "orders", "confirm")]
    better = S.Saga("better", steps)
    assert better.problems() == []
    r = run_shop(seed=4, saga=better, n=40, actions=CORRECT)
    assert violations(r) == []
    assert S.tally(r)["refunds"] == 0
    assert S.tally(run_shop(seed=4, n=40, actions=CORRECT))["refunds"] > 0


def test_saga_history_draws_one_saga():
    """The history of a saga is a Mermaid sequence diagram naming its local transactions."""
    r = run_shop(seed=1, n=5)
    m = S.saga_history(r, "saga-1")
    assert str(m).startswith("sequenceDiagram")
    assert "create" in str(m)


def test_checkers_compose_with_smallest_failing():
    """labs.checkers.smallest_failing shrinks a failing shop run to fewer orders."""
    def make_and_run(seed, size=40):
        return run_shop(seed=seed, n=size, dup=0.3,
                        actions={"inventory": {"reserve": naive_reserve}})
    cx = labs.checkers.smallest_failing(make_and_run, violations, seeds=range(5))
    assert cx is not None and cx.size < 40 and cx.violations


def test_orchestrator_validates():
    """Bad orchestrator parameters fail with a message that says what to pass."""
    with pytest.raises(labs.ConfigError, match="timeout"):
        S.Orchestrator(shop.PLACE_ORDER, timeout=0)
    with pytest.raises(labs.ConfigError, match="Saga"):
        S.Orchestrator("place-order")


# -- properties -------------------------------------------------------------------------------
schedules = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "mode": st.sampled_from(["orchestrated", "choreographed"]),
    "dup": st.sampled_from([0.0, 0.1, 0.3]),
    "reorder": st.sampled_from([0.0, 0.2]),
    "flaky": st.sampled_from([0.0, 0.1, 0.3]),
    "crash_at": st.one_of(st.none(), st.integers(100, 2000)),
    "slow": st.one_of(st.none(), st.sampled_from([80, 300])),
})


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(schedules)
def test_sagas_conserve_money_and_stock(sched):
    """Sagas conserve money and stock and always finish, under random failure schedules.

    With correct local transactions (defined in this file: the library ships naive ones).
    """
    r = run_shop(n=20, actions=CORRECT, **sched)
    assert violations(r) == []
