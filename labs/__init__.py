"""labs: deterministic, seeded, virtual-time simulations of microservices.

Every lab in the course imports this package, in CPython and in Pyodide alike, and only
through this module: ``import labs`` or ``from labs import X``. The folders below it are
the architecture (see ``labs/README.md`` for the picture):

- ``labs.kernel``: the simulation itself: world, random streams, services, calls, network,
  faults, load, journal, result. The determinism contract is in :mod:`labs.kernel.core`.
- ``labs.observe``: what is read from a run: metrics, tracing, pictures, checkers,
  exercise checks.
- ``labs.resilience``: parts a caller puts around a call: breakers, retries and backoff,
  bulkheads, rate limits, load shedding.
- one package per family of patterns the chapters add (``labs.messaging``, ``labs.data``,
  ``labs.traffic``, ``labs.delivery``, ``labs.security``, ``labs.config``,
  ``labs.verification``), and the course's running example (``labs.shop``) and reference
  scenarios (``labs.scenarios``) on top.

A lower layer never imports a higher one (a test keeps it so). Names are loaded on first
use, so a lab that never touches sagas or brokers never imports them: the first cell of
a lab in the browser pays only for what it uses.
"""

from __future__ import annotations

from importlib import import_module

# Public name -> the module that defines it (relative to this package). A name that is a
# module itself (``labs.viz``) maps to that module's path and is marked with a leading "=".
_EXPORTS: dict[str, str] = {
    # kernel: the world and what flows through it
    "Simulation": ".kernel.core",
    "Context": ".kernel.context",
    "Request": ".kernel.messages",
    "Response": ".kernel.messages",
    "Burst": ".kernel.load",
    "RequestOutcome": ".kernel.load",
    "Event": ".kernel.journal",
    "Result": ".kernel.result",
    "Constant": ".kernel.distributions",
    "Distribution": ".kernel.distributions",
    "Exponential": ".kernel.distributions",
    "LogNormal": ".kernel.distributions",
    "Mixture": ".kernel.distributions",
    "Normal": ".kernel.distributions",
    "Uniform": ".kernel.distributions",
    "ConfigError": ".kernel.errors",
    "DeadlineError": ".kernel.errors",
    "DuplicateServiceError": ".kernel.errors",
    "LabsError": ".kernel.errors",
    "UnknownServiceError": ".kernel.errors",
    # observe: reading a run
    "Histogram": ".observe.metrics",
    "Red": ".observe.metrics",
    "percentile": ".observe.metrics",
    "Span": ".observe.tracing",
    "Trace": ".observe.tracing",
    "parse_traceparent": ".observe.tracing",
    "traceparent": ".observe.tracing",
    "CHECK_MIME": ".observe.exercises",
    "CheckReport": ".observe.exercises",
    "CheckResult": ".observe.exercises",
    "Checks": ".observe.exercises",
    "quote": ".observe.quotes",
    "checkers": "=.observe.checkers",
    "viz": "=.observe.viz",
    "queueing": "=.observe.queueing",   # ch12: Little's law, M/M/c, the USL
    # resilience: around a call
    "BreakerConfig": ".resilience.breaker",
    "BreakerMetrics": ".resilience.window",
    "CircuitBreaker": ".resilience.breaker",
    "IllegalStateTransition": ".resilience.breaker",
    "Bulkhead": ".resilience.bulkhead",
    "BulkheadMetrics": ".resilience.bulkhead",
    "TokenBucket": ".resilience.ratelimit",
    "AdaptiveThrottle": ".resilience.retry",
    "RetryBudget": ".resilience.retry",
    "RetryPolicy": ".resilience.retry",
    "Backoff": ".resilience.backoff",
    "CoDelPolicy": ".resilience.shedding",
    "LoadShedder": ".resilience.shedding",
    "FaultSchedule": ".resilience.gameday",     # ch13: game days
    "FaultWindow": ".resilience.gameday",
    "random_schedule": ".resilience.gameday",
    # messaging (ch03)
    "Broker": ".messaging.broker",
    "Record": ".messaging.broker",
    "RecordMetadata": ".messaging.broker",
    "ConsumerGroup": ".messaging.consumer",
    "broker": "=.messaging.broker",
    # data (ch07, ch08, ch15)
    "saga": "=.data.saga",
    "ANY": ".data.eventstore",
    "NO_STREAM": ".data.eventstore",
    "STREAM_EXISTS": ".data.eventstore",
    "EventStore": ".data.eventstore",
    "RecordedEvent": ".data.eventstore",
    "Upcasters": ".data.eventstore",
    "WrongExpectedVersion": ".data.eventstore",
    "eventstore": "=.data.eventstore",
    "Loaded": ".data.projection",
    "Projection": ".data.projection",
    "Snapshots": ".data.projection",
    "fold": ".data.projection",
    "load_aggregate": ".data.projection",
    "projection_matches_fold": ".data.projection",
    "smallest_mismatch": ".data.projection",
    "projection": "=.data.projection",
    "CrashCounterexample": ".data.outbox",
    "Crashed": ".data.outbox",
    "Crashes": ".data.outbox",
    "LocalDatabase": ".data.outbox",
    "LogTailer": ".data.cdc",
    "OutboxRow": ".data.outbox",
    "Published": ".data.outbox",
    "Publisher": ".data.outbox",
    "Transaction": ".data.outbox",
    "check_delivery": ".data.outbox",
    "naive_relay": ".data.relay",
    "smallest_failing_crash_point": ".data.outbox",
    "start_log_tailing": ".data.cdc",
    "start_relay": ".data.relay",
    "outbox": "=.data.outbox",
    # traffic (ch04, ch05, ch17)
    "Balancer": ".traffic.balancing",
    "LeastOutstanding": ".traffic.balancing",
    "PowerOfTwo": ".traffic.balancing",
    "RandomChoice": ".traffic.balancing",
    "RoundRobin": ".traffic.balancing",
    "DnsCache": ".traffic.discovery",
    "ServiceInstance": ".traffic.discovery",
    "Registry": ".traffic.discovery",
    "Rollout": ".traffic.discovery",
    "ServerSide": ".traffic.discovery",
    "DiscoveryView": ".traffic.discovery",
    "discovery": "=.traffic.discovery",
    "ClientLimits": ".traffic.gateway",
    "Page": ".traffic.gateway",
    "Part": ".traffic.gateway",
    "PartResult": ".traffic.gateway",
    "fan_out": ".traffic.gateway",
    "page_quantile_needs": ".traffic.gateway",
    "share_of_pages_hit": ".traffic.gateway",
    "gateway": "=.traffic.gateway",
    "Mesh": ".traffic.mesh",
    "MeshRetry": ".traffic.mesh_retry",
    "Proxy": ".traffic.proxy",
    # delivery (ch10, ch12, ch18)
    "Autoscaling": ".delivery.autoscaler",
    "HorizontalPodAutoscaler": ".delivery.autoscaler",
    "ScalingPolicy": ".delivery.autoscaler",
    "ScalingRules": ".delivery.autoscaler",
    "resolve_fenceposts": ".delivery.fenceposts",
    "Analysis": ".delivery.strategies",
    "BlueGreen": ".delivery.strategies",
    "Canary": ".delivery.strategies",
    "Deployment": ".delivery.rollout",
    "RollingUpdate": ".delivery.strategies",
    "RolloutReport": ".delivery.strategies",
    "AppVersion": ".delivery.migration",
    "check_plan": ".delivery.migration",
    "JvmMemory": ".delivery.jvm",
    "default_max_heap": ".delivery.jvm",
    "PodSpec": ".delivery.pods",
    "Pods": ".delivery.pods",
    "Probe": ".delivery.probes",
    "ProbeState": ".delivery.probes",
    # security (ch11)
    "AccessAudit": ".security.audit",
    "looks_like_jwt": ".security.audit",
    "secrets_in_logs": ".security.audit",
    "ExchangeRefused": ".security.exchange",
    "TokenExchange": ".security.exchange",
    "PeerPolicy": ".security.identity",
    "SpiffeId": ".security.identity",
    "Workloads": ".security.identity",
    "parse_spiffe_id": ".security.identity",
    "Issuer": ".security.jwt",
    "TokenRejected": ".security.jwt",
    "jwt": "=.security.jwt",
    # config (ch14)
    "AeroError": ".config.aero",
    "Resolution": ".config.aero",
    "read_config": ".config.aero",
    "resolve_config": ".config.aero",
    "EdnError": ".config.edn",
    "Keyword": ".config.edn",
    "kw": ".config.edn",
    "read_edn": ".config.edn",
    "to_edn": ".config.edn",
    "ConfigInvalid": ".config.schema",
    "Schema": ".config.schema",
    "check_config": ".config.schema",
    "drift": ".config.drift",
    "committed_secrets": ".config.secrets",
    "aero": "=.config.aero",
    # verification (ch09, ch16)
    "HeadSampler": ".observe.sampling",
    "TailSampler": ".observe.sampling",
    "cardinality": "=.observe.cardinality",
    "logs": "=.observe.logs",
    "sampling": "=.observe.sampling",
    "spans": "=.observe.spans",
    "contracts": "=.verification.contracts",
    "explore": "=.verification.explore",
    # the course's running example and reference scenarios
    "shop": "=.shop",
    "scenarios": "=.scenarios",
}

__all__ = sorted(_EXPORTS)

__version__ = "0.1.0"


def __getattr__(name: str):
    """Load a public name on first use (PEP 562), then keep it as a plain attribute."""
    try:
        where = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'labs' has no attribute {name!r}. The public names are "
                             "in labs.__all__ (and on the course's labs API reference page).") from None
    if where.startswith("="):
        value = import_module(where[1:], __name__)
    else:
        value = getattr(import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
