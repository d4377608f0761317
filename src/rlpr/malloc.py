"""Keep freed memory in the process on the CPU, so that large tensors reuse pages instead of faulting in new ones.

glibc serves every allocation above 32 MB with a fresh `mmap` and returns it to the kernel on free. A training
step on the CPU allocates many such tensors (the logits and their gradient, a tied embedding's dense gradient,
activations), and the kernel zero-fills each of their pages on first touch: with smollm2-135m on 2 cores that
was 5-8% of a GRPO step and 8% of a PPO step (measured side by side, `rlpr bench vs-trl` shapes). Turning off
`mmap` for allocations and raising the trim threshold keeps freed blocks in the heap for the next step (not
every block is reused: torch's aligned requests are a few bytes larger than a freed block of their own size).
jemalloc or tcmalloc, which PyTorch's CPU tuning guide recommends preloading, keep memory the same way. The
process no longer shrinks after its peak, and the peak can grow a little: blocks that are not reused stay
(peak RSS of the `rlpr bench vs-trl` PPO shape, 4 steps: 5.69 GB either way in one pair of runs, 6.08 GB
against 5.97 GB in another).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
KEPT_MMAP_MAX = 0  # no mmap for allocations: freed blocks stay in the heap
KEPT_TRIM_THRESHOLD = (1 << 31) - 1  # mallopt takes a C int: 2 GiB - 1 is the largest trim threshold it can be given
# The same two settings for another process, through the environment (`rlpr bench vs-trl` gives them to TRL)
GLIBC_TUNABLES = f"glibc.malloc.mmap_max={KEPT_MMAP_MAX}:glibc.malloc.trim_threshold={KEPT_TRIM_THRESHOLD}"


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep freed memory; False where that allocator is not in use (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, KEPT_MMAP_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD))
