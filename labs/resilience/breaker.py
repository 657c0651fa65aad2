"""Circuit breaker: Resilience4j 2.4.0's state machine, driven by a virtual clock.

Why a breaker at all: when a dependency is failing, calling it anyway wastes the caller's
threads and time and keeps the dependency under load while it tries to recover. A breaker
measures recent outcomes and, once the failure (or slow-call) rate reaches a threshold,
refuses calls for a while ("fails fast"), then lets a few trial calls through to decide
whether to resume.

This module reproduces the *semantics* of Resilience4j 2.x
(``io.github.resilience4j.circuitbreaker.internal.CircuitBreakerStateMachine``,
``CircuitBreakerMetrics`` and ``io.github.resilience4j.core.metrics.*``), because the course
teaches Resilience4j from Clojure and the labs must behave like the library learners will
deploy. It is a pure state machine: no threads, no wall clock, no scheduler. Every method
takes the current virtual time *now* in milliseconds; a simulator that wants the automatic
OPEN → HALF_OPEN transition asks :meth:`CircuitBreaker.next_transition_time` and calls
:meth:`CircuitBreaker.advance` at that time.

Details taken from the Resilience4j source (not only from its docs):

* A call is **slow** when its duration is *strictly greater* than
  ``slow_call_duration_threshold`` (``CircuitBreakerMetrics.onSuccess``/``onError``:
  ``durationUnit.toNanos(duration) > slowCallDurationThresholdInNanos``).
* The rates are ``-1`` while fewer than the minimum number of calls are buffered
  (``getFailureRate``: ``bufferedCalls == 0 || bufferedCalls < minimumNumberOfCalls``).
  For a COUNT_BASED window the effective minimum is ``min(minimum_number_of_calls,
  sliding_window_size)``; for TIME_BASED it is ``minimum_number_of_calls`` unchanged.
* The thresholds trip on **greater than or equal** (``failureRateInPercentage >=
  failureRateThreshold``), and the check runs after *every* recorded outcome.
* OPEN → HALF_OPEN on a permission request only when the clock is *strictly after* the
  end of the wait (``clock.instant().isAfter(retryAfterWaitDuration)``); the scheduled
  automatic transition fires at the end of the wait.
* HALF_OPEN hands out exactly ``permitted_number_of_calls_in_half_open_state`` permits
  and records their outcomes in a fresh COUNT_BASED window of that size; it decides as
  soon as ``min(minimum_number_of_calls, permitted)`` outcomes are in: OPEN if a threshold
  is reached, CLOSED otherwise. Permits are not refilled by completions, only by an
  ignored outcome (``releasePermission``), so further calls are rejected until it decides.
* ``max_wait_duration_in_half_open_state`` ≥ 1 ms forces HALF_OPEN → OPEN when it
  elapses; 0 (the default) waits for the trial calls however long they take.
* Entering CLOSED starts a fresh window; entering OPEN keeps the previous window (so
  metrics in OPEN still show why it opened); HALF_OPEN, DISABLED, FORCED_OPEN and
  METRICS_ONLY start fresh. Outcomes that arrive in OPEN (late calls) are still recorded.
* DISABLED permits everything and records nothing; FORCED_OPEN rejects everything and
  counts the rejections; METRICS_ONLY permits everything, records, and publishes the
  ``FAILURE_RATE_EXCEEDED``/``SLOW_CALL_RATE_EXCEEDED`` events once, but never opens.
* TIME_BASED windows are ``sliding_window_size`` buckets of one *epoch second* each
  (``SlidingTimeWindowMetrics``); a bucket for second ``s`` covers ``[s·1000, s·1000+1000)``
  ms of virtual time and is evicted once ``s <= current_second - size``.

* Manual transitions (:meth:`CircuitBreaker.transition_to`) follow Resilience4j's
  ``StateTransition`` table: CLOSED → HALF_OPEN, METRICS_ONLY → OPEN and METRICS_ONLY →
  HALF_OPEN do not exist there (``transitionToHalfOpenState()`` on a fresh breaker throws
  ``IllegalStateTransitionException``), so they raise :class:`IllegalStateTransition` here.

Not modelled: exception classification (``recordExceptions``/``ignoreExceptions``; the
caller decides and calls :meth:`~CircuitBreaker.on_error`,
:meth:`~CircuitBreaker.on_success` or :meth:`~CircuitBreaker.on_ignored`); a wait
*interval function* in the open state (the wait here is fixed); ``initialState`` (a
breaker here always starts CLOSED: call :meth:`~CircuitBreaker.transition_to` at time 0
instead); ``transitionToStateAfterWaitDuration`` (the end of
*max_wait_duration_in_half_open_state* always goes to OPEN, Resilience4j's default); and
the ``LOCK_FREE`` sliding-window synchronization strategy (one thread here, so the
default ``SYNCHRONIZED`` and ``LOCK_FREE`` give the same numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

try:  # The package's error hierarchy, once it lands; plain ValueError until then.
    from ..kernel.errors import ConfigError as _ConfigError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the state of the package
    _ConfigError = ValueError  # type: ignore[misc,assignment]

from .window import BreakerMetrics, _Metrics

__all__ = ["BreakerConfig", "BreakerMetrics", "CircuitBreaker", "IllegalStateTransition"]

CLOSED = "CLOSED"
OPEN = "OPEN"
HALF_OPEN = "HALF_OPEN"
DISABLED = "DISABLED"
FORCED_OPEN = "FORCED_OPEN"
METRICS_ONLY = "METRICS_ONLY"
_STATES = (CLOSED, OPEN, HALF_OPEN, DISABLED, FORCED_OPEN, METRICS_ONLY)
_WINDOW_TYPES = ("COUNT_BASED", "TIME_BASED")

# Events that Resilience4j publishes even in DISABLED and FORCED_OPEN
# (``CircuitBreakerEvent.Type.forcePublish``).
_FORCE_PUBLISH = frozenset({"STATE_TRANSITION", "RESET"})

Listener = Callable[[float, str, str, str], None]

# The pairs Resilience4j 2.4.0's ``CircuitBreaker.StateTransition`` enum does not have: a
# manual transition between them throws ``IllegalStateTransitionException``.
_REFUSED = frozenset({(CLOSED, HALF_OPEN), (METRICS_ONLY, OPEN), (METRICS_ONLY, HALF_OPEN)})


class IllegalStateTransition(_ConfigError):  # type: ignore[misc,valid-type]
    """A manual transition Resilience4j refuses (``IllegalStateTransitionException``),
    e.g. ``transition_to("HALF_OPEN", now)`` on a CLOSED breaker."""


def _config_error(name: str, value: object, accepted: str, fix: str) -> Exception:
    return _ConfigError(f"{name}={value!r} is out of range: it must be {accepted}. {fix}")


@dataclass(frozen=True)
class BreakerConfig:
    """Settings of a :class:`CircuitBreaker`: Resilience4j's ``CircuitBreakerConfig``.

    Field names are Resilience4j's builder methods in snake_case and the defaults are
    Resilience4j 2.4.0's (``CircuitBreakerConfig.ofDefaults()``). Durations are virtual
    **milliseconds**, except *sliding_window_size*, which counts calls for a COUNT_BASED
    window and **seconds** for a TIME_BASED one, exactly as in Resilience4j.

    *failure_rate_threshold* and *slow_call_rate_threshold* are percentages in (0, 100];
    the breaker opens when a rate is *greater than or equal to* its threshold.
    *max_wait_duration_in_half_open_state* = 0 means "wait for the trial calls".
    """

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold: float = 60_000.0
    wait_duration_in_open_state: float = 60_000.0
    permitted_number_of_calls_in_half_open_state: int = 10
    minimum_number_of_calls: int = 100
    sliding_window_size: int = 100
    sliding_window_type: str = "COUNT_BASED"
    max_wait_duration_in_half_open_state: float = 0.0
    automatic_transition_from_open_to_half_open_enabled: bool = False

    def __post_init__(self) -> None:
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            v = getattr(self, name)
            if not _is_number(v) or not 0 < v <= 100:
                raise _config_error(
                    name, v, "a percentage in (0, 100]",
                    "Pass e.g. 50.0 for 50 %; 100 means 'only when every call is'.",
                )
        v = self.slow_call_duration_threshold
        if not _is_number(v) or not v > 0 or math.isinf(v):
            raise _config_error(
                "slow_call_duration_threshold", v, "a finite duration > 0 ms",
                "Calls longer than this count as slow; the default is 60_000 ms.",
            )
        v = self.wait_duration_in_open_state
        if not _is_number(v) or not v >= 1 or math.isinf(v):
            raise _config_error(
                "wait_duration_in_open_state", v, "a finite duration >= 1 ms",
                "Resilience4j rejects waits under 1 ms; the default is 60_000 ms.",
            )
        for name in (
            "permitted_number_of_calls_in_half_open_state",
            "minimum_number_of_calls",
            "sliding_window_size",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise _config_error(name, v, "an integer >= 1", "Pass a whole number of calls.")
        if self.sliding_window_type not in _WINDOW_TYPES:
            raise _config_error(
                "sliding_window_type", self.sliding_window_type,
                'one of "COUNT_BASED" or "TIME_BASED"',
                "TIME_BASED measures sliding_window_size in seconds.",
            )
        v = self.max_wait_duration_in_half_open_state
        if not _is_number(v) or not (v == 0 or v >= 1) or math.isinf(v):
            raise _config_error(
                "max_wait_duration_in_half_open_state", v, "0 (disabled) or a duration >= 1 ms",
                "Use 0 to stay HALF_OPEN until the trial calls complete.",
            )
        if not isinstance(self.automatic_transition_from_open_to_half_open_enabled, bool):
            raise _config_error(
                "automatic_transition_from_open_to_half_open_enabled",
                self.automatic_transition_from_open_to_half_open_enabled,
                "True or False", "Pass a bool.",
            )

    @classmethod
    def of_defaults(cls) -> BreakerConfig:
        """Resilience4j's ``CircuitBreakerConfig.ofDefaults()``."""
        return cls()


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


class CircuitBreaker:
    """A circuit breaker with Resilience4j 2.4.0's states and transitions.

    Usage from a simulator, per call::

        if not cb.acquire(now):          # False: CallNotPermittedException in Resilience4j
            fail_fast()
        else:
            ... call, measure duration_ms ...
            cb.on_success(now, duration_ms)  # or cb.on_error(now, duration_ms)

    *name* labels events; *config* is a :class:`BreakerConfig`. :attr:`state` is one of
    ``"CLOSED"``, ``"OPEN"``, ``"HALF_OPEN"``, ``"DISABLED"``, ``"FORCED_OPEN"``,
    ``"METRICS_ONLY"``. Listeners added with :meth:`add_listener` are called as
    ``fn(now, "STATE_TRANSITION", from_state, to_state)`` on every transition; listeners
    added with :meth:`add_event_listener` also receive ``"SUCCESS"``, ``"ERROR"``,
    ``"IGNORED_ERROR"``, ``"NOT_PERMITTED"``, ``"RESET"``, ``"FAILURE_RATE_EXCEEDED"`` and
    ``"SLOW_CALL_RATE_EXCEEDED"`` (Resilience4j's event types) with
    ``from_state == to_state == state``. See the module docstring for the exact rules.
    """

    STATES = _STATES

    def __init__(self, name: str, config: BreakerConfig | None = None) -> None:
        self.name = name
        self.config = config if config is not None else BreakerConfig()
        if not isinstance(self.config, BreakerConfig):
            raise _ConfigError(
                f"config={self.config!r} is not a BreakerConfig: pass BreakerConfig(...)."
            )
        self._listeners: list[Listener] = []
        self._event_listeners: list[Listener] = []
        self._now = -math.inf
        self._enter(CLOSED, 0.0, self._closed_metrics())

    # -- state construction -------------------------------------------------------
    def _closed_metrics(self) -> _Metrics:
        c = self.config
        return _Metrics(c, c.sliding_window_size, c.sliding_window_type)

    def _enter(self, state: str, now: float, metrics: _Metrics) -> None:
        self._state = state
        self._metrics = metrics
        self._entered_at = now
        self._permits = self.config.permitted_number_of_calls_in_half_open_state
        self._exceeded_published = [False, False]  # METRICS_ONLY publishes each once

    def _transition(self, to: str, now: float) -> None:
        frm = self._state
        if to == CLOSED:
            metrics = self._closed_metrics()
        elif to == OPEN:
            metrics = self._metrics  # keep the window that made it open
        elif to == HALF_OPEN:
            n = self.config.permitted_number_of_calls_in_half_open_state
            metrics = _Metrics(self.config, n, "COUNT_BASED")
        elif to == METRICS_ONLY:
            metrics = self._closed_metrics()
        else:  # DISABLED, FORCED_OPEN: a window of size 0
            metrics = _Metrics(self.config, 0, "COUNT_BASED")
        self._enter(to, now, metrics)
        if frm != to:  # same-state transitions are "internal" and not published
            self._publish(now, "STATE_TRANSITION", frm, to)

    # -- events ---------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(now, "STATE_TRANSITION", from_state, to_state)`` on each transition."""
        self._listeners.append(fn)

    def add_event_listener(self, fn: Listener) -> None:
        """Call ``fn(now, event_name, from_state, to_state)`` on every event."""
        self._event_listeners.append(fn)

    def _publish(
        self, now: float, event: str, frm: str | None = None, to: str | None = None
    ) -> None:
        state = self._state
        if state in (DISABLED, FORCED_OPEN) and event not in _FORCE_PUBLISH:
            return
        frm = state if frm is None else frm
        to = state if to is None else to
        if event == "STATE_TRANSITION":
            for fn in list(self._listeners):
                fn(now, event, frm, to)
        for fn in list(self._event_listeners):
            fn(now, event, frm, to)

    # -- clock ------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        if not _is_number(now):
            raise _ConfigError(f"now={now!r} is not a number of virtual milliseconds.")
        if now < self._now - 1e-6:  # (a timer's float rounding is not going backwards)
            raise _ConfigError(
                f"now={now} is earlier than the last time seen ({self._now}): virtual time "
                "must not go backwards. Pass the simulator's current time."
            )
        self._now = max(self._now, now)

    @property
    def state(self) -> str:
        """The current state name (Resilience4j's ``CircuitBreaker.State``)."""
        return self._state

    def next_transition_time(self) -> float | None:
        """When the next *time-driven* transition is due, or None.

        OPEN with automatic transition enabled: the end of the wait (→ HALF_OPEN).
        HALF_OPEN with *max_wait_duration_in_half_open_state* ≥ 1 ms: when it elapses
        (→ OPEN). A simulator schedules :meth:`advance` at this time.
        """
        c = self.config
        if self._state == OPEN and c.automatic_transition_from_open_to_half_open_enabled:
            return self._entered_at + c.wait_duration_in_open_state
        if self._state == HALF_OPEN and c.max_wait_duration_in_half_open_state >= 1:
            return self._entered_at + c.max_wait_duration_in_half_open_state
        return None

    def advance(self, now: float) -> None:
        """Apply the time-driven transitions that are due at *now* (see
        :meth:`next_transition_time`). Safe to call at any time; :meth:`acquire` calls it."""
        self._tick(now)
        # A loop, because a late call may find several transitions due (OPEN → HALF_OPEN
        # → OPEN …); each happens at its own due time, which is at least 1 ms later.
        due = self.next_transition_time()
        while due is not None and now >= due:
            self._transition(HALF_OPEN if self._state == OPEN else OPEN, due)
            due = self.next_transition_time()

    # -- calls ------------------------------------------------------------------------
    def acquire(self, now: float) -> bool:
        """Ask permission for one call at *now*; False means "call not permitted".

        CLOSED, DISABLED and METRICS_ONLY always permit. OPEN permits nothing until *now*
        is strictly after the end of the wait, then moves to HALF_OPEN and asks again.
        HALF_OPEN permits exactly *permitted_number_of_calls_in_half_open_state* calls.
        FORCED_OPEN permits nothing. Rejections are counted in the metrics.
        """
        self.advance(now)
        state = self._state
        if state in (CLOSED, DISABLED, METRICS_ONLY):
            return True
        if state == OPEN:
            if now > self._entered_at + self.config.wait_duration_in_open_state:
                self._transition(HALF_OPEN, now)
                if self._take_half_open_permit():
                    return True
                # Resilience4j counts this rejection in the OPEN state's metrics object.
            return self._reject(now)
        if state == HALF_OPEN:
            if self._take_half_open_permit():
                return True
            return self._reject(now)
        return self._reject(now)  # FORCED_OPEN

    def _take_half_open_permit(self) -> bool:
        if self._permits > 0:
            self._permits -= 1
            return True
        return False

    def _reject(self, now: float) -> bool:
        self._metrics.not_permitted += 1
        self._publish(now, "NOT_PERMITTED")
        return False

    def on_success(self, now: float, duration_ms: float) -> None:
        """Record a successful call that took *duration_ms* and finished at *now*."""
        self._record(now, False, duration_ms)

    def on_error(self, now: float, duration_ms: float) -> None:
        """Record a failed call that took *duration_ms* and finished at *now*."""
        self._record(now, True, duration_ms)

    def on_ignored(self, now: float) -> None:
        """An outcome that counts neither way (Resilience4j's ignored exception): nothing
        is recorded and, in HALF_OPEN, the permit is given back (``releasePermission``)."""
        self.advance(now)
        self._publish(now, "IGNORED_ERROR")
        self.release_permission(now)

    def release_permission(self, now: float) -> None:
        """Give back a permit taken by :meth:`acquire` for a call that was never made."""
        self.advance(now)
        if self._state == HALF_OPEN:
            self._permits = min(
                self._permits + 1, self.config.permitted_number_of_calls_in_half_open_state
            )

    def _record(self, now: float, failed: bool, duration_ms: float) -> None:
        if not _is_number(duration_ms) or duration_ms < 0:
            raise _ConfigError(
                f"duration_ms={duration_ms!r} must be a number >= 0: pass how long the call took."
            )
        self.advance(now)
        self._publish(now, "ERROR" if failed else "SUCCESS")
        state = self._state
        if state in (DISABLED, FORCED_OPEN):
            return  # Resilience4j: noOp
        result = self._metrics.record(now, failed, duration_ms)
        if state == OPEN or result is None:
            return  # late outcomes in OPEN are recorded but decide nothing
        failure_exceeded, slow_exceeded = result
        exceeded = failure_exceeded or slow_exceeded
        if state == CLOSED and exceeded:
            self._publish_exceeded(now, failure_exceeded, slow_exceeded)
            self._transition(OPEN, now)
        elif state == HALF_OPEN:
            self._transition(OPEN if exceeded else CLOSED, now)
        elif state == METRICS_ONLY and exceeded:
            f = failure_exceeded and not self._exceeded_published[0]
            s = slow_exceeded and not self._exceeded_published[1]
            self._exceeded_published = [
                self._exceeded_published[0] or failure_exceeded,
                self._exceeded_published[1] or slow_exceeded,
            ]
            self._publish_exceeded(now, f, s)

    def _publish_exceeded(self, now: float, failure: bool, slow: bool) -> None:
        if failure:
            self._publish(now, "FAILURE_RATE_EXCEEDED")
        if slow:
            self._publish(now, "SLOW_CALL_RATE_EXCEEDED")

    # -- manual control ---------------------------------------------------------------
    def transition_to(self, state: str, now: float) -> None:
        """Force a state, like Resilience4j's ``transitionTo…State()`` methods.

        Re-entering the current state starts it afresh (new window, new wait) without
        publishing a transition, as in Resilience4j. The pairs Resilience4j has no
        transition for (CLOSED → HALF_OPEN, METRICS_ONLY → OPEN or HALF_OPEN) raise
        :class:`IllegalStateTransition`, as ``IllegalStateTransitionException`` does there.
        """
        if state not in _STATES:
            raise _ConfigError(
                f"state={state!r} is not a breaker state: use one of {', '.join(_STATES)}."
            )
        self._tick(now)
        self.advance(now)
        if (self._state, state) in _REFUSED:
            raise IllegalStateTransition(
                f"{self.name}: Resilience4j has no transition {self._state} -> {state} "
                "(IllegalStateTransitionException). From CLOSED go to OPEN first; from "
                "METRICS_ONLY go to CLOSED first."
            )
        self._transition(state, now)

    def reset(self, now: float) -> None:
        """Back to a fresh CLOSED state (Resilience4j ``reset()``): publishes the
        transition if the state changes, then a ``"RESET"`` event."""
        self._tick(now)
        frm = self._state
        self._enter(CLOSED, now, self._closed_metrics())
        if frm != CLOSED:
            self._publish(now, "STATE_TRANSITION", frm, CLOSED)
        self._publish(now, "RESET")

    def metrics(self, now: float) -> BreakerMetrics:
        """A snapshot of the current state's window at *now* (TIME_BASED windows evict
        the buckets that have aged out)."""
        self.advance(now)
        return self._metrics.snapshot(now)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state})"

