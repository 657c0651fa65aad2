"""Expand and contract: checking that a schema migration never breaks a version in flight.

During a rolling update two versions of a service run at once against one database, and a
rollback brings the old one back. A schema change is safe only if **every set of versions
that can run together** works against **the schema at that moment**. The practice of
getting there in small steps is *parallel change* (expand, migrate, contract), described by
Danilo Sato on martinfowler.com (2014); in databases, *Refactoring Databases* (Ambler and
Sadalage, 2006) calls the overlap the *transition period*.

The model is deliberately small. A :class:`AppVersion` names the columns it **reads** and
the columns it **writes** on one table. A plan is a list of steps:

- ``("add", column)``: add a nullable column (existing rows have no value in it);
- ``("backfill", column)``: fill *column* for every existing row (from the old data);
- ``("drop", column)``: drop a column;
- ``("deploy", version)``: a rolling update from the running version to *version*: first
  both run (and either may write rows), then only the new one.

A state (a schema, the versions running, which columns hold a value for every row) is
broken when a running version reads or writes a column that does not exist, or reads a
column that some row lacks: a row written by a running version that does not write it, or
an old row not backfilled. :func:`check_plan` walks the plan and returns every broken state
with the reason, in plain words. Rollback is the mixed state of a deploy run backwards, so a
plan whose every deploy is safe in both directions up to the next step passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.errors import ConfigError

__all__ = ["AppVersion", "check_plan"]

_KINDS = ("add", "backfill", "drop", "deploy")


@dataclass(frozen=True)
class AppVersion:
    """One version of the service: the columns it reads and writes."""

    name: str
    reads: frozenset
    writes: frozenset

    def __init__(self, name: str, reads, writes) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"an AppVersion needs a name, got {name!r}.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "reads", frozenset(reads))
        object.__setattr__(self, "writes", frozenset(writes))


def check_plan(columns, running: str, versions: dict[str, AppVersion], plan) -> list[str]:
    """Problems of *plan*, run from a table with *columns* and version *running*; [] if none.

    *columns* exist and are full at the start; *versions* maps a name to its
    :class:`AppVersion`; *plan* is a list of ``(kind, name)`` steps (see the module).
    """
    if running not in versions:
        raise ConfigError(f"running version {running!r} is not in versions {sorted(versions)!r}.")
    schema = set(columns)
    full = set(columns)                  # columns every row has a value for
    current = running
    problems: list[str] = []

    def judge(step: str, names: list[str]) -> None:
        live = [versions[n] for n in names]
        for v in live:
            missing = sorted((v.reads | v.writes) - schema)
            if missing:
                problems.append(f"{step}: {v.name} uses column {', '.join(missing)}, which does "
                                "not exist at this point")
        for v in live:
            for c in sorted(v.reads & schema):
                lacking = [w.name for w in live if c not in w.writes]
                if lacking:
                    problems.append(f"{step}: {v.name} reads {c}, but rows written by "
                                    f"{', '.join(lacking)} have no {c}")
                elif c not in full:
                    problems.append(f"{step}: {v.name} reads {c}, but older rows have no {c} "
                                    "(not backfilled yet)")

    judge("at the start", [current])
    for i, step in enumerate(plan):
        try:
            kind, name = step
        except (TypeError, ValueError):
            raise ConfigError(f"plan[{i}] must be a (kind, name) pair such as ('add', 'amount_minor'), "
                              f"got {step!r}.") from None
        if kind not in _KINDS:
            raise ConfigError(f"plan[{i}]: kind must be one of {_KINDS}, got {kind!r}.")
        label = f"step {i + 1} ({kind} {name})"
        if kind == "add":
            if name in schema:
                problems.append(f"{label}: column {name} exists already")
            schema.add(name)
            # rows written from now on get it only from versions that write it
            judge(label, [current])
        elif kind == "backfill":
            if name not in schema:
                problems.append(f"{label}: there is no column {name} to backfill")
            elif any(name not in versions[n].writes for n in [current]):
                problems.append(f"{label}: {current} is still running and does not write {name}, "
                                "so rows it writes after the backfill lack it")
            else:
                full.add(name)
        elif kind == "drop":
            schema.discard(name)
            full.discard(name)
            judge(label, [current])
        else:
            if name not in versions:
                raise ConfigError(f"plan[{i}]: unknown version {name!r}; known: {sorted(versions)!r}.")
            judge(label + ", both versions running", [current, name])
            # a column the new version does not write stops being full
            for c in list(full):
                if c not in versions[name].writes and c in schema:
                    full.discard(c)
            current = name
            judge(label + ", rolled out", [current])
    # the same problem reported at two moments is one problem to fix: keep the first
    seen: set = set()
    out = []
    for p in problems:
        key = p.split(": ", 1)[1]
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
