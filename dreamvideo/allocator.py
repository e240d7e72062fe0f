"""Keep the CPU's large tensors in the heap, where freed blocks are reused, instead of fresh mappings.

glibc serves an allocation larger than its mmap threshold (dynamic, 32 MiB at most by default) with a new
memory mapping and unmaps it on free. An ascent step allocates and frees dozens of activation tensors of
tens of MiB each, so every step page-faults all of them in again: on the benchmark CPU that was a third
of the step's time. Raising the mmap and trim thresholds makes glibc hand freed blocks back out instead.
A render's host side gains the same way on any device: its frames, flows and masks are megabytes each,
allocated anew for every frame (without it, the start image of a 720p frame, built on the dreaming thread
between two dreams, took 1.5 times as long; docs/benchmarks.md).

The setting is per process and only changes where memory comes from: the process keeps its peak heap
instead of returning it between steps, which a render needs again a moment later anyway.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned: bool | None = None


def tune_cpu_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; False where there is no glibc."""
    global _tuned
    if _tuned is None:
        _tuned = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL("libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):  # musl and others: no glibc malloc to tune
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            mmap_ok = mallopt(_M_MMAP_THRESHOLD, 1 << 30) or mallopt(_M_MMAP_THRESHOLD, 32 << 20)
            trim_ok = mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
            _tuned = bool(mmap_ok and trim_ok)
    return _tuned
