"""Mesh proxies as profiles: latency per pass, and CPU and memory per proxy.

A :class:`Proxy` has Kubernetes *requests*, what the scheduler reserves per proxy
container or pod, from Istio's Helm charts (``istio/istio``,
``manifests/charts/istio-control/istio-discovery/values.yaml``: ``global.proxy.resources``
100m / 128Mi for a sidecar, ``global.waypoint.resources`` 100m / 128Mi for a waypoint;
``manifests/charts/ztunnel/values.yaml``: 200m / 512Mi for a ztunnel), and a *usage* model from Istio 1.24's "Performance and
scalability" page (1000 HTTP requests/s with 1 KB payloads, 2 worker threads): a sidecar
about 0.20 vCPU and 60 MB, a waypoint about 0.25 vCPU and 60 MB, a ztunnel about 0.06
vCPU and 12 MB. CPU is taken as proportional to the requests a proxy handles; memory as
constant (Istio: it depends on the configuration, not the request rate). The per-pass
latencies are this module's assumptions, not measurements: change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..kernel.distributions import as_distribution
from ..kernel.errors import ConfigError, _check_number

__all__ = ["Proxy"]


@dataclass(frozen=True)
class Proxy:
    """One kind of mesh proxy: latency per pass, CPU and memory (see the module docstring).

    *latency*: ms added each time a request passes through it (number or distribution);
    *cpu_per_krps*: millicores used per 1000 requests/s handled; *memory_mb*: working set;
    *request_cpu* (millicores) and *request_memory* (MiB): the Kubernetes requests of one
    proxy; *l7*: whether it speaks HTTP (and so can retry).
    """

    kind: str
    latency: Any = 0.5
    cpu_per_krps: float = 200.0
    memory_mb: float = 60.0
    request_cpu: float = 100.0
    request_memory: float = 128.0
    l7: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("sidecar", "ztunnel", "waypoint"):
            raise ConfigError(f"Proxy kind must be 'sidecar', 'ztunnel' or 'waypoint', got "
                              f"{self.kind!r}. Use Proxy.envoy_sidecar(), Proxy.ztunnel() or "
                              "Proxy.waypoint().")
        object.__setattr__(self, "latency", as_distribution(self.latency, "Proxy(latency)"))
        for name in ("cpu_per_krps", "memory_mb", "request_cpu", "request_memory"):
            _check_number(name, getattr(self, name), low=0.0,
                          fix="Resources are millicores and MB/MiB, >= 0.")

    @classmethod
    def envoy_sidecar(cls, latency: Any = 0.5) -> Proxy:
        """Istio's Envoy sidecar: 100m/128Mi requested, ~0.20 vCPU per 1000 rps, ~60 MB."""
        return cls("sidecar", latency, 200.0, 60.0, 100.0, 128.0, True)

    @classmethod
    def ztunnel(cls, latency: Any = 0.15) -> Proxy:
        """Istio's ztunnel (one per node, L4): 200m/512Mi requested, ~0.06 vCPU per 1000 rps, ~12 MB."""
        return cls("ztunnel", latency, 60.0, 12.0, 200.0, 512.0, False)

    @classmethod
    def waypoint(cls, latency: Any = 0.5) -> Proxy:
        """Istio's waypoint (Envoy, L7): 100m/128Mi requested, ~0.25 vCPU per 1000 rps, ~60 MB."""
        return cls("waypoint", latency, 250.0, 60.0, 100.0, 128.0, True)
