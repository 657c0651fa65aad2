"""Random streams: one seed, one independent ``random.Random`` per source of randomness.

Why: if every draw came from one generator, changing one part of a design (a retry, one
more service, a different timeout) would shift every later draw, and two designs "run
under the same seeded load" would in fact see different arrivals. Simulation practice
calls the remedy *common random numbers* (Law, *Simulation Modeling and Analysis*, 5th
ed., §11.2): give each source its own stream, so that a design change changes only the
draws of the parts it touches. Here each stream is named after its source, and its seed is
derived from the run's seed and that name alone:

    seed_of(name) = first 16 bytes of SHA-256("labs-stream" NUL seed NUL name), big-endian

``random.Random(int)`` seeds Mersenne Twister from the integer's 32-bit words, which is the
same in every CPython since 3.2 and in Pyodide, so a stream is the same sequence everywhere.
The names the kernel uses are listed in :mod:`labs.kernel.core`'s docstring.
"""

from __future__ import annotations

from hashlib import sha256
from random import Random

__all__ = ["Streams", "stream_seed"]


def stream_seed(seed: int, name: str) -> int:
    """The integer seed of stream *name* in a run seeded with *seed*."""
    digest = sha256(f"labs-stream\x00{seed}\x00{name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:16], "big")


class Streams:
    """The named streams of one run, each created on first use and then kept."""

    __slots__ = ("seed", "_by_name")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._by_name: dict[str, Random] = {}

    def __call__(self, name: str) -> Random:
        """The stream called *name* (the same object every time within a run)."""
        rng = self._by_name.get(name)
        if rng is None:
            if not isinstance(name, str) or not name:
                from .errors import ConfigError
                raise ConfigError(f"a stream name must be a non-empty str, got {name!r}. Name it "
                                  "after its source, e.g. sim.stream('registry:payments').")
            rng = self._by_name[name] = Random(stream_seed(self.seed, name))
        return rng

    def names(self) -> list[str]:
        """The streams used so far, in the order they were first used."""
        return list(self._by_name)
