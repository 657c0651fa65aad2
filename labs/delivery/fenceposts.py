"""Kubernetes' rolling-update fenceposts: ``maxSurge`` and ``maxUnavailable`` as pod counts.

A Deployment's ``spec.strategy.rollingUpdate`` gives both as an int or a percentage of
``spec.replicas``; both default to ``25%``. The Deployment controller turns them into pod
counts in ``ResolveFenceposts`` (``pkg/controller/deployment/util/deployment_util.go``,
kubernetes/kubernetes), with ``intstr.GetScaledValueFromIntOrPercent``:

- ``maxSurge`` percentages are rounded **up** (25 % of 3 replicas is 1 extra pod);
- ``maxUnavailable`` percentages are rounded **down** (25 % of 3 replicas is 0 pods);
- if both come out as 0 (only possible by rounding: validation rejects an explicit 0 for
  both), ``maxUnavailable`` becomes 1, "on the theory that surge might not work due to
  quota" (the source's own comment).

From those two numbers the controller keeps, at every step of a rollout, at most
``replicas + maxSurge`` pods in existence and at least ``replicas - maxUnavailable`` pods
*available* (ready for ``minReadySeconds``, 0 by default). :func:`sync_rolling` is one
sync of ``rolloutRolling`` (``pkg/controller/deployment/rolling.go``) on a
:class:`labs.delivery.rollout.Deployment`.
"""

from __future__ import annotations

import re

from ..kernel.errors import ConfigError

__all__ = ["resolve_fenceposts", "sync_rolling"]

_PERCENT = re.compile(r"^(\d+)%$")


def _scaled(name: str, value, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of *total*, rounded."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value!r}. Use an int such as 1 or a "
                              "percentage such as '25%'.")
        return value
    m = _PERCENT.match(value) if isinstance(value, str) else None
    if m is None:
        raise ConfigError(f"{name} must be an int (pods) or a percentage string such as '25%', "
                          f"got {value!r}.")
    pct = int(m.group(1))
    # Kubernetes computes ceil/floor(pct * total / 100) in float64; for pod counts the
    # integer forms below are exact and equal.
    return -(-pct * total // 100) if round_up else pct * total // 100


def resolve_fenceposts(replicas: int, max_surge="25%", max_unavailable="25%") -> tuple[int, int]:
    """``(surge, unavailable)`` pod counts for *replicas*, as the Deployment controller computes them.

    *max_surge* and *max_unavailable* are ints (pods) or percentage strings (``"25%"``,
    Kubernetes' default for both). Surge rounds up, unavailable rounds down, and if both
    resolve to 0 unavailable becomes 1. Explicit 0 for both, or an unavailable percentage
    above 100 %, is rejected, as the API server's validation rejects it.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ConfigError(f"replicas must be a whole number >= 0, got {replicas!r}.")
    surge = _scaled("max_surge", max_surge, replicas, True)
    unavailable = _scaled("max_unavailable", max_unavailable, replicas, False)
    if max_surge in (0, "0%") and max_unavailable in (0, "0%"):
        raise ConfigError("max_surge and max_unavailable may not both be 0: the rollout could "
                          "never make progress (Kubernetes rejects it too). Allow one extra pod "
                          "(max_surge=1) or one missing pod (max_unavailable=1).")
    if isinstance(max_unavailable, str) and int(max_unavailable[:-1]) > 100:
        raise ConfigError(f"max_unavailable must not exceed 100%, got {max_unavailable!r}.")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def sync_rolling(dep, target: str, strategy, t: float) -> bool:
    """One sync of the Deployment controller's rolling update toward *target* at *t*.

    Scale the new ReplicaSet up while all pods stay within ``replicas + maxSurge``
    (``NewRSNewReplicas``); then scale old ones down while available pods stay at least
    ``replicas - maxUnavailable`` (``reconcileOldReplicaSets``): unhealthy old pods first
    (``cleanupUnhealthyReplicas``), then the oldest ReplicaSet first and, inside one, the
    most recently ready pod first. Repeats until nothing changes; returns True when the
    rollout is complete (every pod is *target* and ready).
    """
    replicas = dep.replicas
    surge, unavailable = resolve_fenceposts(replicas, strategy.max_surge, strategy.max_unavailable)
    while True:
        new = dep.live(target)
        alive = dep.live()
        if len(new) < replicas and len(alive) < replicas + surge:
            for _ in range(min(replicas + surge - len(alive), replicas - len(new))):
                dep._create(target, t)
            continue
        old = [p for p in alive if p.version != target]
        if not old:
            break
        min_available = replicas - unavailable
        new_unavailable = sum(1 for p in new if not p.ready(t))
        budget = len(alive) - min_available - new_unavailable
        if budget <= 0:
            break
        cut = 0
        for p in [p for p in old if not p.ready(t)][:budget]:
            dep._delete(p, t)
            cut += 1
        available = sum(1 for p in dep.live() if p.ready(t))
        if available > min_available:
            def age(version: str) -> float:
                return min((q.created for q in dep.pods if q.version == version), default=0.0)
            ranked = sorted((p for p in dep.live() if p.version != target),
                            key=lambda p: (age(p.version), -p.ready_at, -p.created))
            for p in ranked[:available - min_available]:
                dep._delete(p, t)
                cut += 1
        if cut == 0:
            break
    return all(p.version == target and p.ready(t) for p in dep.live())
