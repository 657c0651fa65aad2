"""Requests and responses: what travels between services.

Why remote failures are :class:`Response` values and not exceptions: in a distributed
system a timeout, a refused connection or a 503 is an ordinary outcome that the caller
must decide about (retry? fall back? give up?). ``ctx.call`` therefore *returns* a
response with a status and a ``reason`` that says which failure happened:

=======  =====================  ==============================================
status   reason                 meaning
=======  =====================  ==============================================
200      ""                     success (a handler returned a dict or a value)
429      "rate limited"         the server's token bucket was empty
500      "injected fault"       a ``faults.flaky`` window failed this request
503      "connection refused"   the target (instance) was crashed
503      "queue full"           no free concurrency slot and the queue was full
503      "shed"                 the server's load shedder refused it
503      "circuit open"         your breaker did not permit the call (nothing was sent)
503      "bulkhead full"        your bulkhead had no room (nothing was sent)
504      "timeout"              no answer within ``timeout`` (lost, partitioned, slow, crashed)
504      "deadline exceeded"    the propagated deadline had passed
=======  =====================  ==============================================
"""

from __future__ import annotations

from typing import Any

__all__ = ["Request", "Response"]


class Response:
    """The answer to a call: ``status``, ``body``, ``reason``; ``ok`` is true for 2xx/3xx."""

    __slots__ = ("status", "body", "reason", "attempts", "service")

    def __init__(self, status: int = 200, body: Any = None, reason: str = "",
                 attempts: int = 1, service: str = "") -> None:
        self.status = status
        self.body = body
        self.reason = reason
        self.attempts = attempts
        self.service = service

    @property
    def ok(self) -> bool:
        """True when ``200 <= status < 400``."""
        return 200 <= self.status < 400

    @classmethod
    def error(cls, status: int = 500, reason: str = "", body: Any = None) -> Response:
        """An error response, e.g. ``Response.error(503, "payments unavailable")``."""
        return cls(status, body, reason)

    @classmethod
    def of(cls, body: Any = None, status: int = 200) -> Response:
        """A successful response carrying *body*."""
        return cls(status, body)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Response) and (self.status, self.body, self.reason) == (
            other.status, other.body, other.reason)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = f", reason={self.reason!r}" if self.reason else ""
        extra += f", attempts={self.attempts}" if self.attempts != 1 else ""
        return f"Response({self.status}, {self.body!r}{extra})"


def _to_response(value: Any) -> Response:
    """Turn what a handler returned into a fresh Response (dict/None/anything -> 200)."""
    if isinstance(value, Response):
        return Response(value.status, value.body, value.reason)
    return Response(200, value)


class Request:
    """One request message as a handler sees it: ``body``, ``source``, ``deadline``, ids."""

    __slots__ = ("msg", "key", "body", "source", "target", "trace_id", "parent_id", "deadline",
                 "attempt", "sent_at")

    def __init__(self, msg: int, key: int, body: Any, source: str, target: str, trace_id: str,
                 parent_id: str, deadline: float | None, attempt: int, sent_at: float) -> None:
        self.msg = msg
        self.key = key
        self.body = body
        self.source = source
        self.target = target
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.deadline = deadline
        self.attempt = attempt
        self.sent_at = sent_at

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` header the caller sent: ``00-<trace>-<parent span>-01``."""
        return f"00-{self.trace_id}-{self.parent_id}-01"

    @property
    def headers(self) -> dict[str, str]:
        """Headers as a dict (``traceparent``, and ``deadline`` if one was propagated)."""
        h = {"traceparent": self.traceparent}
        if self.deadline is not None:
            h["deadline"] = "%.3f" % self.deadline
        return h

    def __repr__(self) -> str:
        return f"Request({self.source}->{self.target} #{self.msg}, body={self.body!r})"
