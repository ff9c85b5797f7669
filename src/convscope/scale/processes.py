"""Processes for data-parallel training: joining torchrun's process group, and `--nproc N`, which
starts N local workers itself with the environment torchrun would give them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta

INSTALL = "pip install 'convscope[torch]' (or pip install torch)"


def require_torch():
    """The torch module, or one line saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ValueError(f"--engine torch needs PyTorch, which is not installed: {INSTALL}") from None
    return torch


@dataclass
class Group:
    """This process's place: rank of world processes; local_rank picks its GPU."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: object = None


def join(device: str = "cpu", timeout: float = 60.0) -> Group:
    """Join the process group described by torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, ...);
    alone without them. gloo on CPU, NCCL on GPUs; collectives fail after `timeout` seconds."""
    torch = require_torch()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: use cpu or cuda")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: this machine has no CUDA GPU that PyTorch can use "
                             f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); use --device cpu")
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo",
                                             timeout=timedelta(seconds=timeout), rank=rank, world_size=world)
    return Group(rank, world, local_rank, dev)


def leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            dist.barrier()  # no rank tears down gloo while a peer is still in a collective (it aborts)
        finally:
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: list, nproc: int, report=print, grace: float = 10.0) -> int:
    """Run `python -m convscope <argv>` as `nproc` ranks on this machine and wait for them.

    Ctrl-C reaches every worker (they share the terminal's process group) and they stop together;
    this process only waits. When a rank fails, `report` names it and its exit code, and the others
    are stopped (SIGTERM, then SIGKILL after `grace` seconds) instead of waiting for a dead peer.
    Returns 0, 130 after Ctrl-C, or the failing rank's exit code.
    """
    env = {**os.environ, "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}
    # as torchrun does: N processes each running all cores' worth of threads would oversubscribe them
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers handle Ctrl-C and save
    try:
        workers = [subprocess.Popen([sys.executable, "-m", "convscope", *argv],
                                    env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}) for r in range(nproc)]
        return _wait(workers, report, grace)
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait(workers, report, grace: float) -> int:
    running = dict(enumerate(workers))
    ctrl_c = False
    while running:
        rank = _next_exit(running)
        code = running.pop(rank).wait()
        ctrl_c |= code == 130
        if code not in (0, 130):  # the first rank to fail is the cause; the others only lost their peer
            report(f"rank {rank} of {len(workers)} failed (exit code {code}); stopping the other ranks")
            _stop(list(running.values()), grace)
            return code
    return 130 if ctrl_c else 0


def _next_exit(running: dict) -> int:
    """The rank of the next worker to exit, in the order they exit (waitid blocks until a child exits and
    leaves it for Popen to reap)."""
    by_pid = {w.pid: rank for rank, w in running.items()}
    while True:
        done = [rank for rank, w in running.items() if w.poll() is not None]
        if done:
            return _cause(running, done)
        if not hasattr(os, "waitid"):
            time.sleep(0.1)
            continue
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            continue
        if info is None or info.si_pid not in by_pid:
            time.sleep(0.1)  # another child of this process exited: it is not ours to reap, so poll instead


def _cause(running: dict, done: list, settle: float = 1.0) -> int:
    """Of the ranks found dead, the cause: an error exit beats a signal death, because gloo aborts a rank
    whose peer closed its sockets, which can happen a moment before the failing peer has fully exited."""
    deadline = time.monotonic() + settle
    while True:
        errors = [rank for rank in done if running[rank].returncode > 0]
        if errors or running[done[0]].returncode >= 0 or time.monotonic() > deadline:
            return (errors or done)[0]
        time.sleep(0.05)
        done = [rank for rank, w in running.items() if w.poll() is not None]


def _stop(workers, grace: float) -> None:
    for w in workers:
        w.terminate()
    deadline = time.monotonic() + grace
    for w in workers:
        try:
            w.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
