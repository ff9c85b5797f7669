"""A small thread pool for memory-bound loops.

NumPy releases the GIL inside ufunc loops and copies, so blocks of an elementwise computation run
truly in parallel on threads (BLAS-bound code needs none of this: OpenBLAS has its own threads).
The number of threads is CONVSCOPE_NUM_THREADS, else the number of CPUs.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None


def num_threads() -> int:
    return max(1, int(os.environ.get("CONVSCOPE_NUM_THREADS", os.cpu_count() or 1)))


_controller = None


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the block: for code that runs its own threads over BLAS calls.

    Without threadpoolctl (a scikit-learn dependency) the block runs unchanged.
    """
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield


def run_blocks(blocks, work, scratch):
    """Call work(block, state) for every block, spread over the threads; return the states.

    Each thread owns one `state = scratch()` (its buffers and partial sums) and takes every
    n-th block, so no two threads ever write the same memory.
    """
    global _pool
    n = min(num_threads(), len(blocks))
    if n <= 1:
        state = scratch()
        for block in blocks:
            work(block, state)
        return [state]

    def worker(i):
        state = scratch()
        for block in blocks[i::n]:
            work(block, state)
        return state

    if _pool is None or _pool._max_workers < n:
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="convscope")
    return list(_pool.map(worker, range(n)))
