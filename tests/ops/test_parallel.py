"""The thread pool behind the lowerings: every block once, the caller working, deterministic sums."""
import threading
import time

import numpy as np
import pytest

from convscope import ops
from convscope.ops.engine import depthwise, parallel, tuning
from tests.ops.oracle import tiny_chunks


@pytest.fixture
def two_threads():
    with tuning.override(threads=2):
        yield


def record(blocks, dynamic):
    def work(block, state):
        state["blocks"].append(block)

    return parallel.run_blocks(blocks, work, lambda: {"thread": threading.get_ident(), "blocks": []}, dynamic)


@pytest.mark.parametrize("dynamic", [True, False])
def test_every_block_runs_once_and_the_caller_takes_a_share(two_threads, dynamic):
    states = record(list(range(23)), dynamic)
    assert len(states) == 2
    assert sorted(b for st in states for b in st["blocks"]) == list(range(23))
    assert states[0]["thread"] == threading.get_ident() != states[1]["thread"]


def test_static_blocks_are_every_nth_so_partial_sums_never_depend_on_timing(two_threads):
    states = record(list(range(9)), dynamic=False)
    assert [st["blocks"] for st in states] == [[0, 2, 4, 6, 8], [1, 3, 5, 7]]


def test_dynamic_blocks_go_to_the_thread_that_is_free(two_threads):
    """A helper slowed down on its first block leaves the other blocks to the caller."""
    def work(block, state):
        if state["thread"] != threading.get_ident():
            raise AssertionError("a state is used by one thread only")
        if state["thread"] != main:
            time.sleep(0.2)
        state["blocks"].append(block)

    main = threading.get_ident()
    states = parallel.run_blocks(list(range(6)), work, lambda: {"thread": threading.get_ident(), "blocks": []})
    assert len(states[0]["blocks"]) >= 4 and len(states[1]["blocks"]) <= 2


def test_an_error_in_the_callers_share_waits_for_the_helpers(two_threads):
    finished = []

    def work(block, state):
        if threading.get_ident() == main:
            raise ValueError("bad block")
        time.sleep(0.1)
        finished.append(block)

    main = threading.get_ident()
    with pytest.raises(ValueError, match="bad block"):
        parallel.run_blocks([0, 1], work, dict, dynamic=False)
    assert finished == [1]  # the helper was done before the error reached the caller


@pytest.mark.parametrize("groups", [1, 8])  # the im2col lowering and the depthwise one
def test_threaded_weight_gradients_are_bitwise_repeatable(two_threads, monkeypatch, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 8 // groups, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((6, 16, 12, 12)).astype(np.float32)
    modes = []
    real = parallel.run_blocks
    monkeypatch.setattr(parallel, "run_blocks", lambda *a, **k: modes.append(k.get("dynamic", True)) or real(*a, **k))
    if groups > 1:
        monkeypatch.setattr(depthwise, "run_blocks", parallel.run_blocks)
    with tiny_chunks():
        dws = [ops.conv_backward(dy, x, w, padding=1, groups=groups)[1] for _ in range(3)]
    assert False in modes  # the weight gradient ran threaded, with static blocks
    for dw in dws[1:]:
        np.testing.assert_array_equal(dw, dws[0])
