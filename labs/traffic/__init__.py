"""Traffic: the path a request takes between services: discovery and load balancing
(chapter 4), the API gateway (chapter 5), sidecars and the service mesh (chapter 17)."""
