"""Kubernetes probes: startup, liveness and readiness, with the real defaults and rules.

The fields and defaults are those of ``Probe`` in ``k8s.io/api/core/v1`` (``types.go``)
and the page *Configure Liveness, Readiness and Startup Probes* (kubernetes.io):

- ``initialDelaySeconds`` 0, ``periodSeconds`` **10** (minimum 1), ``timeoutSeconds`` **1**
  (minimum 1), ``successThreshold`` **1** (must be 1 for liveness and startup probes),
  ``failureThreshold`` **3**;
- a probe fails after *failure_threshold* consecutive failures and passes after
  *success_threshold* consecutive successes; a timeout, a refused connection and a status
  outside 200–399 are all failures;
- if a **startup** probe is set, liveness and readiness are disabled until it succeeds
  once; failing it (*failure_threshold* × *period* after the start, roughly) restarts the
  container, as failing **liveness** does;
- failing **readiness** only takes the pod out of the Service's endpoints; it is probed
  for the container's whole life, and before its first success the pod is not ready.
  With no readiness probe a running container counts as ready at once.

Times here are virtual milliseconds (Kubernetes' fields are seconds). What the model
leaves out: the prober's random initial jitter, ``terminationGracePeriodSeconds`` on a
probe, and exec/gRPC/TCP handlers (every probe is an HTTP GET to the container).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.errors import ConfigError, _check_int, _check_number

__all__ = ["Probe", "ProbeState"]


@dataclass(frozen=True)
class Probe:
    """One probe's settings, in ms, with Kubernetes' defaults."""

    initial_delay: float = 0.0
    period: float = 10_000.0
    timeout: float = 1_000.0
    success_threshold: int = 1
    failure_threshold: int = 3

    def __post_init__(self) -> None:
        _check_number("initial_delay", self.initial_delay, low=0.0,
                      fix="initialDelaySeconds is >= 0; pass ms, e.g. initial_delay=0.")
        _check_number("period", self.period, low=1_000.0,
                      fix="periodSeconds is at least 1 s; pass ms, e.g. period=10_000.")
        _check_number("timeout", self.timeout, low=1_000.0,
                      fix="timeoutSeconds is at least 1 s; pass ms, e.g. timeout=1_000.")
        _check_int("success_threshold", self.success_threshold, low=1)
        _check_int("failure_threshold", self.failure_threshold, low=1)

    def budget(self) -> float:
        """Roughly how long a failing container survives this probe: delay + threshold × period."""
        return self.initial_delay + self.failure_threshold * self.period


def _check_kind(kind: str, probe: Probe | None) -> None:
    if probe is None:
        return
    if not isinstance(probe, Probe):
        raise ConfigError(f"{kind}_probe must be a Probe(...) or None, got {probe!r}.")
    if kind in ("startup", "liveness") and probe.success_threshold != 1:
        raise ConfigError(f"{kind}_probe.success_threshold must be 1 (Kubernetes rejects anything "
                          f"else for {kind} probes), got {probe.success_threshold}.")


class ProbeState:
    """Consecutive successes and failures of one probe; ``record`` says when it flips."""

    __slots__ = ("probe", "ok", "successes", "failures")

    def __init__(self, probe: Probe, ok: bool = False) -> None:
        self.probe = probe
        self.ok = ok
        self.successes = 0
        self.failures = 0

    def record(self, success: bool) -> bool | None:
        """Count one result; True when it starts passing, False the moment it has failed
        *failure_threshold* times in a row, None otherwise."""
        if success:
            self.successes += 1
            self.failures = 0
            if not self.ok and self.successes >= self.probe.success_threshold:
                self.ok = True
                return True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures == self.probe.failure_threshold:
                self.ok = False
                return False     # failed: restart (startup, liveness) or not ready (readiness)
        return None
