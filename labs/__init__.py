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

# The simulation core (the determinism contract is in labs.core's docstring).
from . import checkers, scenarios, viz
from . import saga  # after checkers and viz, which it uses
from . import shop  # after saga, which it uses
from . import broker
from .broker import Broker, ConsumerGroup, Record, RecordMetadata
from .context import Context
from .core import Simulation
from .distributions import (Constant, Distribution, Exponential, LogNormal, Mixture, Normal,
                            Uniform)
from .errors import (ConfigError, DeadlineError, DuplicateServiceError, LabsError,
                     UnknownServiceError)
from .journal import Event
from .load import Burst, RequestOutcome
from .messages import Request, Response
from .metrics import Histogram, Red, percentile
from .result import Result
from .tracing import Span, Trace, parse_traceparent, traceparent

__all__ = [
    "AdaptiveThrottle",
    "Backoff",
    "BreakerConfig",
    "BreakerMetrics",
    "Broker",
    "Bulkhead",
    "BulkheadMetrics",
    "Burst",
    "CHECK_MIME",
    "CheckReport",
    "CheckResult",
    "Checks",
    "CircuitBreaker",
    "CoDelPolicy",
    "ConfigError",
    "Constant",
    "ConsumerGroup",
    "Context",
    "DeadlineError",
    "Distribution",
    "DuplicateServiceError",
    "Event",
    "Exponential",
    "Histogram",
    "LabsError",
    "LoadShedder",
    "LogNormal",
    "Mixture",
    "Normal",
    "Record",
    "RecordMetadata",
    "Red",
    "Request",
    "RequestOutcome",
    "Response",
    "Result",
    "RetryBudget",
    "RetryPolicy",
    "Simulation",
    "Span",
    "TokenBucket",
    "Trace",
    "Uniform",
    "UnknownServiceError",
    "broker",
    "checkers",
    "parse_traceparent",
    "percentile",
    "saga",
    "scenarios",
    "shop",
    "traceparent",
    "viz",
]

__version__ = "0.1.0"
