"""What this process can allocate: decided from sizes before an array is made (Linux overcommits,
so a too-large allocation may succeed and the process be killed later)."""
from __future__ import annotations

import os

CHECK_FROM = 1 << 26  # bytes: smaller arrays are not worth reading /proc for


def available_memory() -> int:
    """Bytes this process can still allocate: the physical memory available now (Linux MemAvailable;
    else all physical memory), or less where the process's address space is limited (ulimit -v)."""
    return min(_physical_available(), _address_space_left())


def _physical_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def _address_space_left() -> int:
    """The address-space limit minus what the process maps already (1 << 62 without a limit)."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return 1 << 62
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(0, limit - mapped)
    except (ImportError, OSError, ValueError, IndexError):
        return 1 << 62


def too_big(nbytes: int) -> int | None:
    """The bytes available when `nbytes` does not fit in them, else None."""
    if nbytes < CHECK_FROM:
        return None
    free = available_memory()
    return free if nbytes > free else None
