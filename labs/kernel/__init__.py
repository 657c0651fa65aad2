"""The simulation kernel: the seeded, virtual-time world (``core``), its random streams
(``streams``), services and what a handler sees (``service``, ``context``, ``messages``),
the network and faults kept apart from services (``network``, ``faults``), load generators
(``load``), the one journal of events (``journal``) and what a run returns (``result``).

It imports nothing from the layers above it (resilience parts, pattern families, the shop).
"""
