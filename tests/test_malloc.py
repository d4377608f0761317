import subprocess
import sys

import pytest

# How much memory glibc's heap holds after a 100 MB tensor (above the 32 MB mmap threshold) is freed: by
# default such a tensor is its own mapping, returned to the kernel on free, so the next one is faulted in page
# by page again; kept, it stays in the heap for the next allocation. (mallinfo2: glibc 2.33 and later.)
PROBE = """
import ctypes, ctypes.util, sys, torch
from rlpr import malloc
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
if not hasattr(libc, "mallinfo2"):
    print("unavailable")
    sys.exit()
libc.mallinfo2.restype = Info
if sys.argv[1] == "keep":
    assert malloc.keep_freed_memory()
big = torch.ones(25_000_000)
del big
print(libc.mallinfo2().arena)
"""


def heap_bytes_after_a_freed_100_mb_tensor(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    if done.stdout.strip() == "unavailable":
        pytest.skip("this C library has no mallinfo2 (glibc 2.33 or later)")
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_a_freed_large_tensor_stays_in_the_heap_for_the_next_one():
    # the same probe in two processes: the heaps differ by the kept tensor (by default it was a mapping of its own)
    kept = heap_bytes_after_a_freed_100_mb_tensor("keep") - heap_bytes_after_a_freed_100_mb_tensor("default")
    assert kept >= 90_000_000
