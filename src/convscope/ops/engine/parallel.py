"""A small thread pool for memory-bound loops.

NumPy releases the GIL inside ufunc loops and copies, so blocks of an elementwise computation run
truly in parallel on threads (BLAS-bound code needs none of this: OpenBLAS has its own threads).
The number of threads is `tuning.num_threads()`.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor, wait

from .tuning import num_threads

_pool: ThreadPoolExecutor | None = None
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


def run_blocks(blocks, work, scratch, dynamic: bool = True):
    """Call work(block, state) for every block, spread over the threads; return the states.

    Each thread owns one `state = scratch()` (its buffers and partial sums), so no two threads
    ever write the same memory. With `dynamic`, a thread takes the next block as soon as it is
    free, so a thread that started late or was slowed does fewer blocks. When states collect
    partial sums, `dynamic=False` has each thread take every n-th block instead, so that the
    sums, rounding included, never depend on timing. The calling thread takes the first share
    itself: waking a pool thread costs 50-100 us, which a short op would wait on twice.
    """
    global _pool
    n = min(num_threads(), len(blocks))
    queue = iter(blocks)  # threads share it; taking the next item is atomic under the GIL

    def worker(i):
        state = scratch()
        for block in (queue if dynamic else blocks[i::n]):
            work(block, state)
        return state

    if n <= 1:
        return [worker(0)]
    if _pool is None or _pool._max_workers < n - 1:
        _pool = ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix="convscope")
    helpers = [_pool.submit(worker, i) for i in range(1, n)]
    try:
        first = worker(0)
    finally:  # never leave a helper writing into memory the caller is done with
        wait(helpers)
    return [first, *(h.result() for h in helpers)]
