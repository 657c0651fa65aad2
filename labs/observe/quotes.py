"""Numbers a chapter page quotes from its lab, recorded where the lab computes them.

Why: a page that says "checkout p99 climbs to 2.3 s" must say what the lab shows at its
default seed, and must keep saying it when the simulator or the lab changes. The lab
records each figure the page quotes with :func:`quote`; the page writes the same figure
inside ``<span data-quote="LAB.KEY">…</span>``; CI runs every lab's solution version and
fails when a span's text differs from what the lab recorded, or names a key the lab never
recorded (``tests/notebooks/test_quotes.py``). For the learner :func:`quote` only returns
the formatted text, so it can be printed like any other value.
"""

from __future__ import annotations

import re

from ..kernel.errors import ConfigError

__all__ = ["quote", "recorded"]

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_RECORDED: dict[str, str] = {}


def quote(key: str, value, fmt: str = "{}") -> str:
    """Record *value*, formatted with *fmt*, as the figure *key* a chapter page quotes.

    Returns the formatted text. *key* is lower-case letters, digits and underscores
    (``"checkout_p99_s"``); the page quotes it as ``<span data-quote="lab-name.key">``.
    Recording the same key again replaces the value (the page quotes the last one).
    """
    if not isinstance(key, str) or not _KEY.match(key):
        raise ConfigError(f"quote key must be lower-case letters, digits and underscores, "
                          f"starting with a letter, got {key!r}. Use e.g. quote('checkout_p99_s', p99).")
    if not isinstance(fmt, str):
        raise ConfigError(f"fmt must be a format string such as '{{:.1f}}', got {fmt!r}.")
    try:
        text = fmt.format(value)
    except (ValueError, IndexError, KeyError, TypeError) as err:
        raise ConfigError(f"fmt {fmt!r} cannot format {value!r} ({err}). Use one placeholder, "
                          "e.g. '{:.1f}' for a float or '{}' for anything.") from None
    _RECORDED[key] = text
    return text


def recorded() -> dict[str, str]:
    """Every figure recorded in this process so far, key -> text (for the page check)."""
    return dict(_RECORDED)
