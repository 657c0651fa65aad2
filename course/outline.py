"""The course outline: eighteen chapters, their titles and promises, in one place.

The landing page, the nav check and the lab index are all derived from this list, so a
chapter's title is written once. A chapter is *published* when ``mkdocs.yml`` lists its
page in the nav; otherwise the landing page shows it as upcoming (never as an empty page).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chapter", "CHAPTERS", "chapter_page"]


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str
    title: str
    promise: str

    @property
    def page(self) -> str:
        """Path of the chapter's page relative to ``docs/``."""
        return f"chapters/{self.number:02d}-{self.slug}.md"

    @property
    def lab_prefix(self) -> str:
        """Folder of the chapter's labs under ``notebooks/``."""
        return f"ch{self.number:02d}"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "microservices-in-clojure", "Microservices in Clojure",
            "When microservices make sense, what costs they add, and how data-oriented "
            "service boundaries improve operational clarity."),
    Chapter(2, "designing-microservices", "Designing Microservices with Clojure",
            "Decompose a system into services with clear ownership, explicit contracts and "
            "simple operational behaviour instead of accidental distributed complexity."),
    Chapter(3, "communication", "Communication Between Clojure Microservices",
            "Choose between HTTP, gRPC and event streaming, and which patterns fit "
            "synchronous versus asynchronous boundaries."),
    Chapter(4, "service-discovery", "Service Discovery and Registration",
            "How services find each other; when platform DNS is enough, and when a registry "
            "or mesh is justified."),
    Chapter(5, "api-gateway", "API Gateway Pattern",
            "When a gateway improves client interaction, which concerns belong there, and how "
            "to keep it from becoming a distributed monolith."),
    Chapter(6, "circuit-breakers", "Circuit Breaker Pattern with Resilience4j",
            "When breakers help, how they interact with timeouts and retries, and Resilience4j "
            "through JVM interop without hiding the real failure model."),
    Chapter(7, "event-sourcing-cqrs", "Event Sourcing and CQRS",
            "When they are worth the complexity, how write and read models diverge, and where "
            "teams overapply them."),
    Chapter(8, "sagas", "Saga Pattern for Distributed Transactions",
            "Sagas coordinate local transactions; orchestration versus choreography; "
            "compensation is not rollback."),
    Chapter(9, "observability", "Logging, Monitoring, and Tracing",
            "Logs, metrics and traces together; correlation and signal design; avoiding "
            "tool-driven blind spots."),
    Chapter(10, "deployment", "Deploying Clojure Microservices",
            "Repeatable builds, health-aware rollout steps, and rollback plans that treat "
            "failure as normal."),
    Chapter(11, "security", "Security Considerations",
            "Identity, authorization, service-to-service trust, secrets and edge security; "
            "the internal network is not safe by default."),
    Chapter(12, "scaling", "Scaling Clojure Microservices",
            "Measure real bottlenecks, choose the scaling dimension, and design state and "
            "workload boundaries for safe growth."),
    Chapter(13, "fault-tolerance", "Fault Tolerance and Resilience",
            "Stay useful when dependencies fail, latency spikes or partial outages spread, and "
            "which resilience tools actually help."),
    Chapter(14, "configuration-aero", "Configuration Management with Aero",
            "Environment-neutral artifacts, externalized secrets and explicit operational "
            "defaults."),
    Chapter(15, "data-management", "Data Management in Microservices",
            "Own data, publish changes, build projections, and handle consistency without a "
            "distributed monolith."),
    Chapter(16, "testing", "Testing Strategies",
            "A balanced mix of unit, integration, contract and end-to-end tests without "
            "fragile pipelines."),
    Chapter(17, "sidecars-service-mesh", "Sidecar Pattern and Service Mesh Integration",
            "When sidecars and meshes add value, mesh policy versus application logic, and "
            "sidecarless models."),
    Chapter(18, "containers-kubernetes", "Containerization with Docker and Kubernetes",
            "Package into containers, run predictably in Kubernetes, with probes and runtime "
            "settings that match real service behaviour."),
)


def chapter_page(number: int) -> str:
    return CHAPTERS[number - 1].page
