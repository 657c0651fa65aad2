"""Rollout strategies and their analysis: what to do, separate from the controller doing it.

:class:`RollingUpdate` (Kubernetes' Deployment strategy, with an optional automatic
``rollout undo``), :class:`BlueGreen` (Argo Rollouts' blue-green: ``scaleDownDelaySeconds``
defaults to 30 s, ``utils/defaults/defaults.go``), :class:`Canary` (Argo Rollouts' canary
with a traffic router: ``setWeight`` and ``pause`` steps) and :class:`Analysis` (one
error-rate metric with ``failureLimit`` 0). :class:`labs.delivery.rollout.Deployment`
carries them out; its docstring has the semantics and sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..kernel.errors import ConfigError, _check_int, _check_number, _check_probability
from .fenceposts import resolve_fenceposts

__all__ = ["Analysis", "BlueGreen", "Canary", "RollingUpdate", "RolloutReport"]


@dataclass(frozen=True)
class Analysis:
    """An error-rate objective, measured every *interval* ms over the last *window* ms
    (default: the interval), judged only on at least *min_requests* requests."""

    max_error_rate: float = 0.02
    interval: float = 10_000.0
    min_requests: int = 20
    window: float | None = None

    def __post_init__(self) -> None:
        _check_probability("max_error_rate", self.max_error_rate)
        _check_number("interval", self.interval, low=0.0, low_open=True,
                      fix="Measure every few seconds, e.g. interval=10_000 (ms).")
        _check_int("min_requests", self.min_requests, low=1,
                   fix="A measurement needs at least one request; use e.g. min_requests=20.")
        if self.window is None:
            object.__setattr__(self, "window", self.interval)
        _check_number("window", self.window, low=0.0, low_open=True,
                      fix="The span (ms) each measurement looks back over, e.g. window=20_000.")


@dataclass(frozen=True)
class RollingUpdate:
    """Kubernetes' RollingUpdate strategy; *analysis* adds an automatic ``rollout undo``."""

    max_surge: Any = "25%"
    max_unavailable: Any = "25%"
    analysis: Analysis | None = None

    def __post_init__(self) -> None:
        resolve_fenceposts(4, self.max_surge, self.max_unavailable)   # validates both
        _check_analysis(self.analysis)


@dataclass(frozen=True)
class BlueGreen:
    """A full green set, an instant switch, then *observe* ms of analysis; blue is kept
    *scale_down_delay* ms after the switch (Argo Rollouts' default: 30 s)."""

    analysis: Analysis | None = None
    scale_down_delay: float = 30_000.0
    observe: float = 60_000.0

    def __post_init__(self) -> None:
        _check_analysis(self.analysis)
        _check_number("scale_down_delay", self.scale_down_delay, low=0.0,
                      fix="Keep the old pods for some ms after the switch, e.g. 30_000.")
        _check_number("observe", self.observe, low=0.0,
                      fix="How long (ms) the analysis watches after the switch, e.g. 60_000.")


@dataclass(frozen=True)
class Canary:
    """Steps of ``(weight %, pause ms)``, analysis on the canary's requests during each pause."""

    steps: tuple = ((10, 30_000.0), (50, 30_000.0))
    analysis: Analysis | None = field(default_factory=Analysis)

    def __post_init__(self) -> None:
        try:
            steps = tuple((w, p) for w, p in self.steps)
        except (TypeError, ValueError):
            raise ConfigError(f"steps must be (weight %, pause ms) pairs, got {self.steps!r}. "
                              "Use e.g. steps=[(10, 30_000), (50, 30_000)].") from None
        if not steps:
            raise ConfigError("a canary needs at least one step, e.g. steps=[(10, 30_000)].")
        last = 0
        for i, (w, p) in enumerate(steps):
            _check_number(f"steps[{i}] weight", w, low=0.0, high=100.0, low_open=True,
                          fix="Weights are percentages of traffic, 0 < weight <= 100.")
            if w < last:
                raise ConfigError(f"steps[{i}] weight {w} is below the step before ({last}); "
                                  "canary weights only grow. Sort the steps by weight.")
            last = w
            _check_number(f"steps[{i}] pause", p, low=0.0, fix="Pauses are ms >= 0.")
        object.__setattr__(self, "steps", steps)
        _check_analysis(self.analysis)


def _check_analysis(a) -> None:
    if a is not None and not isinstance(a, Analysis):
        raise ConfigError(f"analysis must be an Analysis(...) or None, got {a!r}.")


@dataclass(frozen=True)
class RolloutReport:
    """What one rollout did. Times are virtual ms; ``None`` when it did not happen."""

    strategy: str
    version: str
    started: float
    outcome: str              # "promoted", "rolled back" or "in progress"
    first_served: float | None    # the new version's first request
    decided: float | None         # the rollback decision (undo, abort, switch back)
    clean: float | None           # no pod of the new version left in the endpoints
    finished: float | None        # nothing left to do (promoted, or back where it started)
    new_requests: int             # requests the new version handled
    new_errors: int               # ... of which failed

    @property
    def exposure(self) -> float | None:
        """How long the new version took traffic before it was out again (rollbacks only)."""
        if self.first_served is None or self.clean is None:
            return None
        return self.clean - self.first_served
