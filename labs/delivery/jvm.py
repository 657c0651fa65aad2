"""The JVM in a container: how big the heap is, what else uses memory, and when it is killed.

**Heap size.** With no ``-Xmx``, HotSpot sizes the maximum heap from the memory it sees,
which in a container with ``UseContainerSupport`` (on by default on Linux since JDK 10) is
the cgroup memory limit. ``Arguments::set_heap_size()`` (``src/hotspot/share/runtime/
arguments.cpp``) computes, with the defaults of ``gc_globals.hpp``
(``MaxRAMPercentage`` 25.0, ``MinRAMPercentage`` 50.0, ``MaxHeapSize``
``ScaleForWordSize(96*M)``, which is 96 MiB × 13/10 ≈ 124.8 MiB on a 64-bit JVM)::

    reasonable_max = limit × MaxRAMPercentage / 100
    reasonable_min = limit × MinRAMPercentage / 100
    if reasonable_min < MaxHeapSize:  heap = reasonable_min          # small memory
    else:                             heap = max(reasonable_max, MaxHeapSize)

So a 1 GiB limit gives a 256 MiB heap, and a 200 MiB limit gives 100 MiB (half of it).
``-Xmx`` overrides all of this (and can exceed the limit: nothing stops you). The model
leaves out alignment (the heap is rounded to the heap alignment, a few MiB) and the
compressed-oops cap, which matter only for very large heaps.

**Everything else.** The container's memory is the heap's *committed* part plus what is
not heap: metaspace (class metadata: a Clojure service loads many classes, so 80–150 MiB
is common), thread stacks, the JIT's code cache, GC data structures and direct (NIO)
buffers. The sizes here are estimates you set, not JVM defaults; measure yours with
``-XX:NativeMemoryTracking=summary`` and ``jcmd <pid> VM.native_memory``.

**Two different out-of-memory failures.** When the live data does not fit the maximum
heap, the JVM throws ``java.lang.OutOfMemoryError: Java heap space``: the request fails,
the process lives on. When the process' memory passes the container limit, the kernel's
OOM killer ends it with SIGKILL: the container exits with code 137 (128 + 9) and the
reason ``OOMKilled``; requests in flight are lost, and the kubelet restarts it. The heap
grows toward its maximum under load and is rarely given back, so a heap sized over
``limit − non-heap`` works in a quiet test and is killed at the first busy hour.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.errors import ConfigError, _check_number

__all__ = ["JvmMemory", "default_max_heap"]

MIB = 1.0
_MAX_HEAP_SIZE_DEFAULT = 96 * 13 / 10   # ScaleForWordSize(96*M) on a 64-bit JVM, in MiB


def default_max_heap(limit_mib: float, max_ram_percentage: float = 25.0,
                     min_ram_percentage: float = 50.0) -> float:
    """HotSpot's maximum heap (MiB) for a container limit of *limit_mib* and no ``-Xmx``."""
    limit = _check_number("limit_mib", limit_mib, low=0.0, low_open=True,
                          fix="Pass the container's memory limit in MiB, e.g. 1024.")
    hi = limit * _check_number("max_ram_percentage", max_ram_percentage, low=0.0, high=100.0,
                               low_open=True, fix="A percentage such as 75.0.") / 100
    lo = limit * _check_number("min_ram_percentage", min_ram_percentage, low=0.0, high=100.0,
                               low_open=True, fix="A percentage such as 50.0.") / 100
    if lo < _MAX_HEAP_SIZE_DEFAULT:
        return lo
    return max(hi, _MAX_HEAP_SIZE_DEFAULT)


@dataclass(frozen=True)
class JvmMemory:
    """A JVM's memory in a container of *limit_mib*: heap settings and non-heap estimates.

    *xmx_mib* (``-Xmx``) wins over *max_ram_percentage*; *live_mib* is the data the
    service keeps (caches, Clojure's loaded code) and *per_request_mib* what each request
    in flight holds; the GC lets the heap fill to *gc_headroom* × live data before it
    collects, so the committed heap grows to that, at most the maximum heap. Under
    sustained allocation the collector also expands the heap toward its maximum (and
    rarely gives it back): *growth_per_request_mib* is that growth per request served,
    so the busier the pod, the sooner its heap reaches ``-Xmx``.
    """

    limit_mib: float = 1024.0
    max_ram_percentage: float = 25.0
    xmx_mib: float | None = None
    metaspace_mib: float = 110.0
    threads: int = 60
    stack_mib: float = 1.0
    code_cache_mib: float = 40.0
    other_mib: float = 40.0
    live_mib: float = 120.0
    per_request_mib: float = 4.0
    gc_headroom: float = 2.0
    growth_per_request_mib: float = 0.0

    def __post_init__(self) -> None:
        _check_number("limit_mib", self.limit_mib, low=0.0, low_open=True,
                      fix="The container's memory limit in MiB, e.g. 1024.")
        _check_number("max_ram_percentage", self.max_ram_percentage, low=0.0, high=100.0,
                      low_open=True, fix="A percentage of the limit, e.g. 75.0.")
        if self.xmx_mib is not None:
            _check_number("xmx_mib", self.xmx_mib, low=0.0, low_open=True,
                          fix="-Xmx in MiB, e.g. 512, or None to size from MaxRAMPercentage.")
        for name in ("metaspace_mib", "stack_mib", "code_cache_mib", "other_mib", "live_mib",
                     "per_request_mib", "growth_per_request_mib"):
            _check_number(name, getattr(self, name), low=0.0, fix="Sizes are MiB >= 0.")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be a whole number >= 1, got {self.threads!r}.")
        _check_number("gc_headroom", self.gc_headroom, low=1.0,
                      fix="How full the heap gets before a collection, as a multiple of the "
                          "live data: 1.0 (no headroom) or more, e.g. 2.0.")

    @property
    def max_heap_mib(self) -> float:
        """``-Xmx`` if set, else what HotSpot picks from the limit."""
        if self.xmx_mib is not None:
            return float(self.xmx_mib)
        return default_max_heap(self.limit_mib, self.max_ram_percentage)

    @property
    def non_heap_mib(self) -> float:
        """Metaspace, thread stacks, code cache and the rest: memory that is not heap."""
        return self.metaspace_mib + self.threads * self.stack_mib + self.code_cache_mib + self.other_mib

    def heap_needed(self, in_flight: int) -> float:
        """Heap the data needs with *in_flight* requests (live data only, no garbage)."""
        return self.live_mib + in_flight * self.per_request_mib

    def committed_heap(self, in_flight: int, before: float = 0.0) -> float:
        """Committed heap with *in_flight* requests, never below *before* (heaps rarely shrink)."""
        want = self.heap_needed(in_flight) * self.gc_headroom
        return max(before, min(self.max_heap_mib, want))

    def rss(self, committed: float) -> float:
        """The container's memory use with *committed* MiB of heap."""
        return committed + self.non_heap_mib

    def heap_fits(self, in_flight: int) -> bool:
        """False when the live data does not fit the maximum heap (``OutOfMemoryError``)."""
        return self.heap_needed(in_flight) <= self.max_heap_mib

    def headroom_mib(self) -> float:
        """How far below the limit the container stays with the heap at its maximum."""
        return self.limit_mib - self.rss(self.max_heap_mib)
