"""labs: deterministic, seeded, virtual-time simulations of microservices.

Every lab in the course imports this package, in CPython and in Pyodide alike. Layout:
one module per concept (core, network, service, load, faults, journal, metrics, tracing,
viz, resilience parts, patterns); the public names are re-exported here and listed in
``__all__``, which a test keeps in step with the reference page.
"""

from .exercises import CHECK_MIME, CheckReport, CheckResult, Checks
from .breaker import BreakerConfig, BreakerMetrics, CircuitBreaker
from .bulkhead import Bulkhead, BulkheadMetrics
from .ratelimit import TokenBucket
from .retry import AdaptiveThrottle, Backoff, RetryBudget, RetryPolicy
from .shedding import CoDelPolicy, LoadShedder

__all__ = [
    "AdaptiveThrottle",
    "Backoff",
    "BreakerConfig",
    "BreakerMetrics",
    "Bulkhead",
    "BulkheadMetrics",
    "CHECK_MIME",
    "CheckReport",
    "CheckResult",
    "Checks",
    "CircuitBreaker",
    "CoDelPolicy",
    "LoadShedder",
    "RetryBudget",
    "RetryPolicy",
    "TokenBucket",
]

__version__ = "0.1.0"
