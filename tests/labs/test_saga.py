"""labs.saga: the saga as data, orchestrator, choreography, idempotency and checkers."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labs
from labs import saga as S


def run_shop(seed=1, mode="orchestrated", n=30, actions=None, dup=0.0, reorder=0.0, flaky=0.0,
             crash_at=None, recover_every=500.0, slow=None, idempotent=False, fail_rate=0.15,
             saga=S.PLACE_ORDER):
    sim = labs.Simulation(seed=seed)
    sim.network.duplicate = dup
    sim.network.reorder = reorder
    S.build_shop(sim, mode=mode, orders=n, actions=actions, fail_rate=fail_rate,
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


def naive_reserve(db, cmd):
    if db["stock"].get(cmd["sku"], 0) < cmd["qty"]:
        return S.rejected("out of stock")
    db["stock"][cmd["sku"]] -= cmd["qty"]
    return {"ok": True}


def refund_without_tombstone(db, cmd):
    prior = db.setdefault("charges", {}).get(cmd["key"])
    if prior is not None and prior["state"] == "charged":
        db["balance"][cmd["customer"]] += prior["amount"]
        db["balance"]["shop"] -= prior["amount"]
        db["charges"][cmd["key"]] = {"state": "refunded", "amount": 0}
    return {"ok": True}


# -- the saga as data ---------------------------------------------------------------------
def test_place_order_is_sound():
    """The chapter's saga has one pivot and a compensation for every step before it."""
    assert S.PLACE_ORDER.problems() == []
    assert S.PLACE_ORDER.pivot == 2


def test_problems_name_a_missing_compensation():
    """A step before the pivot without a compensation is reported by name."""
    steps = [dict(name=s.name, service=s.service, action=s.action,
                  compensation=s.compensation, pivot=s.pivot) for s in S.PLACE_ORDER]
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


def test_refund_before_charge_leaves_tombstone():
    """A refund that overtakes its charge makes the late charge refuse."""
    db = {"balance": {"ada": 1000, "shop": 0}}
    cmd = {"key": "saga-1/charge-card", "customer": "ada", "total": 400}
    assert S.refund(db, cmd) == {"ok": True}
    assert S.charge(db, cmd)["ok"] is False
    assert db["balance"] == {"ada": 1000, "shop": 0}


def test_reserve_remembers_refusal():
    """A duplicate reserve after an out-of-stock refusal refuses again, even if stock came back."""
    db = {"stock": {"book": 1}}
    cmd = {"key": "saga-1/reserve-stock", "sku": "book", "qty": 2}
    assert S.reserve(db, cmd)["ok"] is False
    db["stock"]["book"] = 5
    assert S.reserve(db, cmd)["ok"] is False
    assert db["stock"]["book"] == 5


# -- runs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["orchestrated", "choreographed"])
def test_happy_run_conserves(mode):
    """With no faults every saga finishes and money and stock are conserved."""
    r = run_shop(mode=mode)
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
        assert violations(run_shop(seed=s, slow=300, flaky=0.3)) == []


def test_orchestrator_crash_without_recovery_leaves_sagas_unfinished():
    """A crashed orchestrator with no recovery strands sagas; recovery finishes them."""
    stranded = [S.every_saga_finished(run_shop(seed=s, crash_at=1000, recover_every=None,
                                               flaky=0.3, slow=80)) for s in range(6)]
    assert any("never finished" in v.message for vs in stranded for v in vs)
    for s in range(6):
        assert violations(run_shop(seed=s, crash_at=1000, flaky=0.3, slow=80)) == []


def test_missing_compensation_is_visible():
    """Running a saga whose charge has no compensation costs customers money."""
    steps = [S.Step("create-order", "orders", "create", compensation="cancel"),
             S.Step("charge-card", "payments", "charge"),
             S.Step("reserve-stock", "inventory", "reserve", pivot=True),
             S.Step("ship", "shipping", "schedule"),
             S.Step("confirm-order", "orders", "confirm")]
    r = run_shop(seed=3, saga=S.Saga("no-refund", steps), fail_rate=0.3)
    assert any("paid" in v.message for v in S.conservation(r))


def test_reordered_saga_needs_no_refunds():
    """Reserving before charging makes the charge the pivot: out-of-stock orders cost no refund."""
    steps = [S.Step("create-order", "orders", "create", compensation="cancel"),
             S.Step("reserve-stock", "inventory", "reserve", compensation="release"),
             S.Step("charge-card", "payments", "charge", pivot=True),
             S.Step("ship", "shipping", "schedule"),
             S.Step("confirm-order", "orders", "confirm")]
    better = S.Saga("better", steps)
    assert better.problems() == []
    r = run_shop(seed=4, saga=better, n=40)
    assert violations(r) == []
    assert S.tally(r)["refunds"] == 0
    assert S.tally(run_shop(seed=4, n=40))["refunds"] > 0


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
        S.Orchestrator(S.PLACE_ORDER, timeout=0)
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
    """Sagas conserve money and stock and always finish, under random failure schedules."""
    r = run_shop(n=20, **sched)
    assert violations(r) == []
