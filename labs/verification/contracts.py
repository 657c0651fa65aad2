"""Consumer-driven contracts: what a consumer needs from a provider, checked against the
provider's real responses.

Why: a consumer's unit tests run against a mock of the provider, and the mock says what the
consumer *believes* the provider answers. When the provider changes, the mock does not, and
the tests stay green. A consumer-driven contract turns the mock into an artefact the
provider also runs: the consumer records the interactions it relies on (request and the
parts of the response it reads), and the provider's build replays each request against the
real provider and fails on any mismatch (Ian Robinson, "Consumer-Driven Contracts: A
Service Evolution Pattern", martinfowler.com, 2006).

The matching follows the response rules of the Pact specification (v2/v3), simplified:

- a plain value matches only an equal value (Pact's default: exact match);
- an object matches when every key the contract names is present and matches; **extra
  keys in the provider's response are allowed**, so a provider may add fields freely
  (Postel's law; Pact ignores unexpected keys in response bodies);
- a list without a matcher must have the same length and match item by item;
- :func:`like` (Pact's ``type`` matcher) matches any value of the same JSON type, and
  cascades to everything inside it: numbers match numbers (booleans are not numbers);
- :func:`each_like` matches a list of at least *min* items, each like the example;
- :func:`term` (Pact's ``regex`` matcher) matches a string the pattern fully matches;
- the status code must be equal.

:func:`example` gives the value a consumer's mock returns for a contract (Pact's mock server
does the same from the examples), so one definition serves the consumer's tests and the
provider's verification. Left out: request matching, headers, provider states set-up,
the Pact file format and the broker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..kernel.errors import ConfigError

__all__ = ["Contract", "Interaction", "Mismatch", "each_like", "example", "like", "match",
           "term", "verify"]


@dataclass(frozen=True)
class _Like:
    example: Any


@dataclass(frozen=True)
class _EachLike:
    example: Any
    min: int


@dataclass(frozen=True)
class _Term:
    pattern: str
    example: str


def like(value: Any) -> _Like:
    """Match any value of the same JSON type as *value* (recursively)."""
    return _Like(value)


def each_like(value: Any, min: int = 1) -> _EachLike:
    """Match a list of at least *min* items, each like *value*."""
    if isinstance(min, bool) or not isinstance(min, int) or min < 0:
        raise ConfigError(f"each_like(min=…) must be a whole number >= 0, got {min!r}.")
    return _EachLike(value, min)


def term(pattern: str, value: str) -> _Term:
    """Match a string that *pattern* matches in full; *value* is the example (it must match)."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        raise ConfigError(f"term needs a regex string and an example string, got {pattern!r}, {value!r}.")
    try:
        ok = re.fullmatch(pattern, value)
    except re.error as err:
        raise ConfigError(f"term pattern {pattern!r} is not a valid regex ({err}).") from None
    if not ok:
        raise ConfigError(f"term example {value!r} does not match its own pattern {pattern!r}; "
                          "the example is what the consumer's mock returns, so it must match.")
    return _Term(pattern, value)


def example(spec: Any) -> Any:
    """The plain value a mock returns for *spec* (matchers replaced by their examples)."""
    if isinstance(spec, (_Like,)):
        return example(spec.example)
    if isinstance(spec, _EachLike):
        return [example(spec.example) for _ in range(max(1, spec.min))]
    if isinstance(spec, _Term):
        return spec.example
    if isinstance(spec, dict):
        return {k: example(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [example(v) for v in spec]
    return spec


@dataclass(frozen=True)
class Mismatch:
    """One difference: at JSON *path*, the contract *expected* something the provider did not give."""

    interaction: str
    path: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.interaction}: at {self.path} expected {self.expected}, got {self.actual}"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def match(spec: Any, actual: Any, path: str = "$", typed: bool = False) -> list[tuple[str, str, str]]:
    """The ``(path, expected, actual)`` differences between *spec* and *actual* (empty: match)."""
    if isinstance(spec, _Like):
        return match(spec.example, actual, path, typed=True)
    if isinstance(spec, _EachLike):
        if not isinstance(actual, list):
            return [(path, f"an array (each like {_show(example(spec.example))})", _show(actual))]
        out = []
        if len(actual) < spec.min:
            out.append((path, f"at least {spec.min} item(s)", f"{len(actual)}"))
        for i, item in enumerate(actual):
            out += match(spec.example, item, f"{path}[{i}]", typed=True)
        return out
    if isinstance(spec, _Term):
        if not isinstance(actual, str) or not re.fullmatch(spec.pattern, actual):
            return [(path, f"a string matching /{spec.pattern}/", _show(actual))]
        return []
    if isinstance(spec, dict):
        if not isinstance(actual, dict):
            return [(path, "an object", _show(actual))]
        out = []
        for k, v in spec.items():
            if k not in actual:
                out.append((f"{path}.{k}", f"key {k!r} ({_show(example(v))})", "no such key"))
            else:
                out += match(v, actual[k], f"{path}.{k}", typed)
        return out
    if isinstance(spec, list):
        if not isinstance(actual, list):
            return [(path, "an array", _show(actual))]
        if not typed and len(spec) != len(actual):
            return [(path, f"{len(spec)} item(s)", f"{len(actual)}")]
        out = []
        for i, (s, a) in enumerate(zip(spec, actual)):
            out += match(s, a, f"{path}[{i}]", typed)
        return out
    if typed:
        if _json_type(spec) != _json_type(actual):
            return [(path, f"a {_json_type(spec)} (like {_show(spec)})",
                     f"{_show(actual)} (a {_json_type(actual)})")]
        return []
    if _json_type(spec) != _json_type(actual) or spec != actual:
        return [(path, _show(spec), _show(actual))]
    return []


@dataclass(frozen=True)
class Interaction:
    """One request the consumer makes and the response it relies on."""

    description: str
    request: dict
    status: int = 200
    body: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.description, str) or not self.description:
            raise ConfigError("an interaction needs a description, e.g. 'authorize a card payment'.")
        if not isinstance(self.request, dict):
            raise ConfigError(f"request must be a dict (what the consumer sends), got {self.request!r}.")
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ConfigError(f"status must be an HTTP status code (100-599), got {self.status!r}.")


@dataclass(frozen=True)
class Contract:
    """What *consumer* needs from *provider*: a list of :class:`Interaction`."""

    consumer: str
    provider: str
    interactions: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.interactions:
            raise ConfigError("a contract needs at least one Interaction.")
        if not all(isinstance(i, Interaction) for i in self.interactions):
            raise ConfigError("interactions must be Interaction(...) values.")
        object.__setattr__(self, "interactions", tuple(self.interactions))

    def mock(self, request: dict) -> tuple[int, Any]:
        """What the consumer's mock answers to *request*: the first interaction whose request
        equals it (status and example body)."""
        for i in self.interactions:
            if i.request == request:
                return i.status, example(i.body)
        raise ConfigError(f"the mock has no interaction for {request!r}; the contract covers "
                          f"{[i.request for i in self.interactions]}.")


def verify(contract: Contract, provider: Callable[[dict], Any]) -> list[Mismatch]:
    """Replay every interaction's request against *provider* and list the mismatches.

    *provider(request)* returns ``(status, body)`` or an object with ``status`` and ``body``
    (a :class:`labs.Response`). An exception from the provider is a mismatch too.
    """
    if not isinstance(contract, Contract):
        raise ConfigError(f"verify needs a Contract, got {contract!r}.")
    if not callable(provider):
        raise ConfigError(f"provider must be a function request -> (status, body), got {provider!r}.")
    out: list[Mismatch] = []
    for i in contract.interactions:
        try:
            answer = provider(dict(i.request))
        except Exception as err:  # the provider crashed on this request: that is a finding
            out.append(Mismatch(i.description, "$", f"status {i.status}",
                                f"the provider raised {type(err).__name__}: {err}"))
            continue
        if isinstance(answer, tuple) and len(answer) == 2:
            status, body = answer
        else:
            status, body = getattr(answer, "status", None), getattr(answer, "body", None)
        if status != i.status:
            out.append(Mismatch(i.description, "status", str(i.status), str(status)))
            continue
        out += [Mismatch(i.description, p, e, a) for p, e, a in match(i.body, body)]
    return out


def _parity_text(seed: int) -> str:
    from random import Random

    rng = Random(seed)
    c = Contract("orders", "payments", [Interaction(
        "authorize", {"path": "/authorize", "order": 1}, 200,
        {"status": "authorized", "amount_cents": like(4200), "auth_code": term(r"[A-Z0-9]{6}", "A1B2C3"),
         "lines": each_like({"sku": like("book")})})])
    cases = []
    for _ in range(20):
        body = {"status": rng.choice(["authorized", "declined"]),
                "amount_cents": rng.choice([4200, "4200", 99]),
                "auth_code": rng.choice(["A1B2C3", "short"]),
                "lines": [{"sku": "pen"}] * rng.randrange(0, 3)}
        cases.append(";".join(str(m) for m in verify(c, lambda _r, b=body: (200, b))))
    return "\n".join(cases)


def _parity(seed: int) -> str:
    """A digest of a small deterministic scenario (compared between CPython and Pyodide)."""
    from hashlib import sha256

    return sha256(_parity_text(seed).encode("utf-8")).hexdigest()
