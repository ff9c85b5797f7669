"""Run one fuzz case in a child forked from this process (convscope already imported), with memory and
time limits set in the child, and classify what happened.

Classes:
- returned: the call finished (or the command exited 0).
- refused: one clear error of convscope's own: a ValueError, TypeError or OSError whose message is
  bounded (a line per kind of problem at most) and not one of Python's own messages, or the command
  line's exit code 2 with one such line.
- failure: anything else: another exception, an internal message, a traceback, a hang (TIME_LIMIT
  seconds), a crash (a signal, the memory limit), or a changed file (in the case's folder, any file
  other than those the case names as its output; outside it, any file of the project's tree).
"""
from __future__ import annotations

import io
import json
import os
import re
import resource
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

TIME_LIMIT = 20.0  # seconds: longer is a hang
MEMORY_LIMIT = 3 << 30  # bytes of address space a case may add to what the test process already maps
MAX_MESSAGE = 2000  # characters: a longer message is not "one clear line"
MAX_LINES = 20  # a library refusal may list one line per kind of problem (the command line joins them)

# Messages Python or NumPy write, not convscope: an input reached code that did not check it.
INTERNAL = re.compile("|".join([
    r"unhashable type", r"object is not (iterable|subscriptable|callable)", r"attribute name must be string",
    r"has no attribute", r"not supported between instances", r"can't multiply sequence", r"index out of range",
    r"invalid literal for int\(\)", r"cannot reshape array", r"'NoneType'", r"positional argument",
    r"unexpected keyword argument", r"must be str, not", r"could not convert string to float",
    r"object cannot be interpreted as an integer", r"unsupported operand type", r"^\w+\(\) (argument|takes)",
    r"maximum recursion depth", r"codec can't decode", r"operands could not be broadcast",
    r"setting an array element with a sequence", r"^\d+$", r"^'[^']*'$",
]))


@dataclass
class Outcome:
    family: str
    case: str
    verdict: str  # returned | refused | failure
    detail: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def classify_error(err: BaseException) -> tuple[str, str]:
    message = str(err)
    if isinstance(err, (ValueError, TypeError, OSError)) and message.strip().count("\n") < MAX_LINES \
            and len(message) <= MAX_MESSAGE and not INTERNAL.search(message):
        return "refused", f"{type(err).__name__}: {message}"
    head = f"{type(err).__name__}: {message[:300]}"
    return "failure", head + "\n" + "".join(traceback.format_exception(err))[-1500:]


def _snapshot(folder: Path) -> dict:
    out = {}
    for path in folder.rglob("*"):
        # compiled-code caches (Python's bytecode, numba's machine code) are written beside the
        # sources on first use: not a file anyone named or owns
        if path.is_file() and "__pycache__" not in path.parts:
            st = path.stat()
            out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


def _mapped() -> int:
    """Bytes of address space this process maps already: a long test process maps gigabytes
    (libraries, and a malloc arena reserved for each thread of the BLAS, torch and the engine),
    so a fixed limit would leave a case less room the more the suite had run before it."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return 0


def run(family: str, case, folder: Path, watch: Path | None = None) -> Outcome:
    """Run a generated case in a forked child, in `folder`. Its `run(folder)` returns None, or an exit
    code for command-line cases (0 returned, 2 refused when its stderr is one line)."""
    fn, name = case.run, case.description
    if case.setup:
        case.setup(folder)
    before, watched = _snapshot(folder), _snapshot(watch) if watch else {}
    read, write = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: limits, then the case; the verdict goes back as one JSON line
        os.close(read)
        verdict = {"verdict": "failure", "detail": "the child reported nothing"}
        try:
            limit = _mapped() + MEMORY_LIMIT
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.chdir(folder)
            verdict = _child(fn, folder)
        except BaseException as err:  # noqa: BLE001 - everything is reported, nothing escapes the child
            verdict = {"verdict": "failure", "detail": f"harness: {type(err).__name__}: {err}"}
        finally:
            os.write(write, json.dumps(verdict).encode()[:60_000])
            os._exit(0)
    os.close(write)
    data, status = b"", None
    deadline = start + TIME_LIMIT
    while True:
        ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
        if ready:
            chunk = os.read(read, 65536)
            if chunk:
                data += chunk
                continue
            break
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return Outcome(family, name, "failure", f"hang: still running after {TIME_LIMIT:.0f} s", TIME_LIMIT)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - start
    if os.WIFSIGNALED(status) or not data:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        return Outcome(family, name, "failure", f"crash: signal {sig}, exit status {status}", seconds)
    verdict = json.loads(data)
    named = tuple(str(folder / o) for o in case.outputs)
    changed = _changes(before, _snapshot(folder), named, named + tuple(str(folder / o) for o in case.creates))
    if watch:
        changed += _changes(watched, _snapshot(watch), (), ())
    if changed:
        return Outcome(family, name, "failure", "changed files: " + ", ".join(changed[:5]), seconds)
    return Outcome(family, name, verdict["verdict"], verdict.get("detail", ""), seconds)


def _changes(before: dict, after: dict, may_change: tuple, may_create: tuple) -> list[str]:
    """Files that were there before and changed or went (but under `may_change`), and new files (but
    under `may_create`)."""
    changed = [p for p, v in before.items() if after.get(p) != v and not p.startswith(may_change or ("\0",))]
    new = [p for p in after if p not in before and not p.startswith(may_create or ("\0",))]
    return changed + new


def _child(fn, folder: Path) -> dict:
    err_file = folder.parent / f"{folder.name}.stderr"  # beside the case's folder, not in it
    fd = os.open(err_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout, sys.stderr = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False)), \
        io.TextIOWrapper(os.fdopen(2, "wb", closefd=False))
    try:
        code = fn(folder)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    except BaseException as err:  # noqa: BLE001
        verdict, detail = classify_error(err)
        return {"verdict": verdict, "detail": detail}
    finally:
        sys.stderr.flush()
    stderr = err_file.read_text(errors="replace").strip()
    if code in (None, 0):
        return {"verdict": "returned"}
    lines = [line for line in stderr.splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    if code == 2 and ("Traceback" not in stderr) and len(message) <= MAX_MESSAGE and not INTERNAL.search(message):
        return {"verdict": "refused", "detail": message}
    return {"verdict": "failure", "detail": f"exit {code}: {stderr[-1500:]}"}
