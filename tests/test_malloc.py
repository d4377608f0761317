import subprocess
import sys

import pytest

# A training step's pattern: large tensors (above glibc's 32 MB mmap threshold) allocated, freed and allocated
# again at the same sizes. Page faults are counted over three such cycles after two warm-up cycles.
PROBE = """
import resource, sys, torch
from rlpr import malloc
if sys.argv[1] == "keep":
    assert malloc.keep_freed_memory()
def cycle():
    a = torch.ones(25_000_000); b = torch.ones(20_000_000); del a; c = torch.ones(25_000_000); del b, c
for _ in range(2):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_freed_large_tensors_pages_are_reused_instead_of_faulted_in_again():
    # 3 cycles of 280 MB are 205k pages of 4 kB: the default allocator faults all of them in again. Kept memory
    # is not always reused (torch's 64-byte aligned requests do not fit a freed block of their own size), but
    # most of it is: 73k faults here.
    default = page_faults("default")
    if default < 20_000:
        pytest.skip(f"{default} page faults for 840 MB: this kernel maps huge pages, nothing to measure")
    assert page_faults("keep") * 2 < default
