"""Errors raised by the simulation, each saying what to fix.

The hierarchy (every class is also a ``ValueError``, so ``except ValueError`` in a
notebook still works)::

    LabsError(ValueError)          any mistake in how a simulation is set up
    ├── ConfigError                a parameter outside its accepted range
    │   ├── DeadlineError          a deadline given by you that is already in the past
    │   └── DuplicateServiceError  two services registered under one name
    └── UnknownServiceError        a name that no registered service has

Why messages are long: learners meet these errors in a browser notebook with no debugger.
Each message names the parameter, the range it accepts, what was given and how to fix it.
Remote failures (timeouts, refused connections, 503s) are *not* exceptions: ``ctx.call``
returns them as :class:`labs.Response` values, because in a distributed system they are
data to handle, not bugs.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "DeadlineError",
    "DuplicateServiceError",
    "LabsError",
    "UnknownServiceError",
]


class LabsError(ValueError):
    """Base class of every error the labs package raises on purpose."""


class ConfigError(LabsError):
    """A parameter is outside the range it accepts (the message says which and how to fix)."""


class DeadlineError(ConfigError):
    """An absolute deadline you passed is already in the past at the moment of the call."""


class DuplicateServiceError(ConfigError):
    """Two services were registered under the same name; names identify services."""


class UnknownServiceError(LabsError):
    """A service name was used that no ``sim.service(...)`` registered (close names suggested)."""


def _check_number(name: str, value: object, *, low: float | None = None,
                  high: float | None = None, low_open: bool = False, fix: str = "",
                  finite: bool = False) -> float:
    """Return *value* as a float, or raise :class:`ConfigError` naming *name* and its range.

    With *finite*, infinity is refused too (an infinite rate, duration or amount of work
    would hang a browser tab instead of failing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}. {fix}".strip())
    if finite and math.isinf(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}. {fix}".strip())
    bad = (low is not None and (value <= low if low_open else value < low)) or (
        high is not None and value > high)
    if bad:
        lo = "" if low is None else (f"> {low}" if low_open else f">= {low}")
        hi = "" if high is None else f"<= {high}"
        rng = " and ".join(p for p in (lo, hi) if p)
        raise ConfigError(f"{name} must be {rng}, got {value!r}. {fix}".strip())
    return float(value)


def _check_probability(name: str, value: object) -> float:
    """Return *value* if it is a probability in [0, 1], else raise :class:`ConfigError`."""
    return _check_number(name, value, low=0.0, high=1.0,
                         fix=f"Use a fraction such as {name}=0.01 for 1%.")


def _check_int(name: str, value: object, *, low: int, fix: str = "") -> int:
    """Return *value* if it is an int >= *low*, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}. {fix}".strip())
    return value


def _unknown_service(name: object, known: Iterable[str], what: str = "service") -> UnknownServiceError:
    """Build an :class:`UnknownServiceError` that suggests the closest registered names."""
    names = sorted(known)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listing = ", ".join(repr(n) for n in names) or "none yet"
    return UnknownServiceError(
        f"unknown {what} {name!r}.{hint} Registered services: {listing}. "
        f"Register it first with sim.service({str(name)!r}, handler)."
    )
