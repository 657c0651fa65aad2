"""labs: deterministic, seeded, virtual-time simulations of microservices.

Every lab in the course imports this package, in CPython and in Pyodide alike. Layout:
one module per concept (core, network, service, load, faults, journal, metrics, tracing,
viz, resilience parts, patterns); the public names are re-exported here and listed in
``__all__``, which a test keeps in step with the reference page.
"""

from .exercises import CHECK_MIME, CheckReport, CheckResult, Checks

__all__ = [
    "CHECK_MIME",
    "CheckReport",
    "CheckResult",
    "Checks",
]

__version__ = "0.1.0"
