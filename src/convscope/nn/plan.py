"""Execution plans: how a model runs in eval mode under no_grad, faster than step by step.

A plan is made from the model's steps (a graph's nodes, a Sequential's layers) the first time it
runs in eval mode with no gradients, and kept on the model until the model's state changes. It
rewrites the execution, never the model, so the analysis, the bridges and training still see every
layer as it is:
- a convolution whose output feeds only an eval-mode BatchNorm runs with the BatchNorm folded into
  its weight and bias: w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps);
- a residual add and a ReLU that take a convolution's output (and nothing else takes it) run on each
  chunk of the output right after its GEMM (the engine's epilogue, `ops.engine.epilogue`);
- other eval-mode BatchNorms are one per-channel multiply-add (with a following ReLU, in place);
- fully connected layers take the engine's few-rows path (`ops.engine.dense`);
- max pooling skips the winners' indices, which only a backward pass reads;
- each value is dropped as soon as its last consumer ran, so memory peaks at the live values only.
A plan is used only when nothing watches the steps (no interpreter such as the shape tracer, no
`observe()` callbacks). It is dropped when the model's state changes: `train()`/`eval()` switching
a mode, `load_state_dict`, an optimizer step (all counted by `tensor.state_version()`), or a
parameter or buffer array replaced (e.g. by `.to(dtype)`). Edits of a parameter's `.data` in place
by hand are not seen: call `plan.drop(model)` after them.
"""
from __future__ import annotations

import contextlib
import inspect

import numpy as np

from ..ops import engine
from ..ops.engine.dense import forward as dense_forward
from ..ops.engine.epilogue import Epilogue
from ..ops.engine import tuning
from ..ops.engine.parallel import single_threaded_blas
from ..ops.geometry import conv_geometry
from ..ops.engine import maxpool
from ..ops.pool import pool_geometry
from ..ops.registry import current_interpreter, interpreting
from ..tensor import Tensor, is_grad_enabled, state_version
from . import module as module_mod
from .conv import _ConvNd
from .layers import Linear, ReLU, _BatchNorm
from .pooling import _PoolNd

ATTR = "_execution_plan"
CHUNK_BYTES = 1 << 19  # per pass of an elementwise step: about an L2 cache
# BLAS runs single-threaded inside a plan, the engine's own threads sharing out the big ops.
# OpenBLAS's threads synchronise after every GEMM; when another process keeps a core busy they
# wait on each other (measured with 4 test processes on the 2 cores: SqueezeNet b8 828-1116 ms
# with BLAS's 2 threads, 213-351 ms with the engine's threads alone, PyTorch 237-332 ms).
ENGINE_THREADS_ONLY = True
# With BLAS on one thread, an op left to one engine thread leaves the second core idle: the engine
# shares out ops from this size on (instead of `Tuning.parallel_bytes`, set against BLAS's threads).
PARALLEL_BYTES = 1 << 20


class Use:
    """A reference, inside a plan, to the value of an earlier step."""
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def applies(model) -> bool:
    """Whether `model`'s forward may run from a plan: eval mode, no_grad, nobody watching."""
    return (not model.training and not is_grad_enabled() and current_interpreter() is None
            and not module_mod._observers)


def drop(model) -> None:
    """Forget the model's plan (after editing its weights in place by hand)."""
    model.__dict__.pop(ATTR, None)


def run(model, inputs, steps, output, ref_type):
    """Run a graph's steps (name, kind, target, args, kwargs) from the model's plan; a `ref_type`
    instance in args or in `output` stands for the value of the step it names."""
    def convert(v):
        return _map(v, lambda a: Use(a.name) if isinstance(a, ref_type) else a)
    def callable_(kind, target):  # steps name their target (a module path, an op, a graph function)
        return target if kind == "input" else model._callable(kind, target)
    return _plan(model, lambda: [(n, k, callable_(k, t), convert(a), convert(kw)) for n, k, t, a, kw in steps],
                 lambda: convert(output)).run(inputs)


def run_chain(model, x):
    """Run a chain of layers (a Sequential) from the model's plan."""
    def steps():
        names = [f"step{i}" for i in range(len(model._modules))]
        return [("input", "input", None, (), {})] + [
            (name, "module", layer, (Use(prev),), {})
            for name, prev, layer in zip(names, ["input", *names], model._modules.values())]
    return _plan(model, steps, lambda: Use(f"step{len(model._modules) - 1}" if model._modules else "input")).run((x,))


def _plan(model, steps, output) -> "Plan":
    plan = model.__dict__.get(ATTR)
    if plan is None or not plan.valid():
        plan = Plan(steps(), output())
        object.__setattr__(model, ATTR, plan)
    return plan


def _map(v, fn):
    """v with fn applied to every leaf of its lists, tuples and dicts."""
    if isinstance(v, (list, tuple)):
        return type(v)(_map(a, fn) for a in v)
    if isinstance(v, dict):
        return {k: _map(a, fn) for k, a in v.items()}
    return fn(v)


def _uses(v) -> list[str]:
    found = []
    _map(v, lambda a: found.append(a.name) if isinstance(a, Use) else None)
    return found


class Step:
    """One step of a graph as given: kind 'input' takes the next input, any other stores
    fn(*args, **kwargs) with each Use replaced by its value."""

    def __init__(self, name, kind, fn, args, kwargs):
        self.name, self.kind, self.fn, self.args, self.kwargs = name, kind, fn, args, kwargs
        self.uses = _uses((args, kwargs))

    def __call__(self, env):
        fetch = lambda v: env[v.name] if isinstance(v, Use) else v  # noqa: E731
        return self.fn(*_map(self.args, fetch), **_map(self.kwargs, fetch))

    def sole_use(self) -> str | None:
        """The name of the value this step takes, when it takes exactly one (positionally)."""
        return self.args[0].name if len(self.args) == 1 and isinstance(self.args[0], Use) and not self.kwargs \
            else None

    def module(self, cls):
        """The module this step calls, if it is a `cls` with its class's own forward and real
        (not shape-only) parameters."""
        m = self.fn
        if self.kind != "module" or not isinstance(m, cls) or m.__dict__.get("_meta"):
            return None
        return m if inspect.unwrap(type(m).forward) is inspect.unwrap(cls.forward) else None


class Plan:
    """The steps of one model after fusion, with the values each step frees once it ran."""

    def __init__(self, steps, output):
        self.version = state_version()
        self.sources = []  # (owner, attribute, array): the plan holds while each is still there
        self.output = output
        steps = [Step(*s) for s in steps]
        self.steps = _fuse(steps, self, set(_uses(output)))
        self.frees = _last_uses(self.steps, set(_uses(output)))

    def watch(self, owner, attr):
        value = getattr(owner, attr)
        array = value.data if isinstance(value, Tensor) else value
        self.sources.append((value, array) if isinstance(value, Tensor) else (owner, attr, array))
        return array

    def valid(self) -> bool:
        if self.version != state_version():
            return False
        return all(s[0].data is s[1] if len(s) == 2 else getattr(s[0], s[1]) is s[2] for s in self.sources)

    def run(self, inputs):
        env, feed = {}, iter(inputs)
        with single_threaded_blas() if ENGINE_THREADS_ONLY else contextlib.nullcontext(), \
                tuning.override(parallel_bytes=PARALLEL_BYTES if ENGINE_THREADS_ONLY else tuning.current().parallel_bytes):
            for step, frees in zip(self.steps, self.frees):
                env[step.name] = next(feed) if step.kind == "input" else step(env)
                for name in frees:
                    del env[name]
        return _map(self.output, lambda v: env[v.name] if isinstance(v, Use) else v)


def _last_uses(steps, outputs) -> list[list[str]]:
    """For each step, the values no later step takes (and that are not outputs)."""
    last = {}
    for i, step in enumerate(steps):
        for name in step.uses:
            last[name] = i
    frees = [[] for _ in steps]
    for name, i in last.items():
        if name not in outputs:
            frees[i].append(name)
    return frees


# ------------------------------------------------------------------------------ fusion

def _fuse(steps, plan, outputs):
    """Replace runs of steps by fused ones (see the module's docstring)."""
    takers = {}
    for i, step in enumerate(steps):
        for name in set(step.uses):
            takers.setdefault(name, []).append(i)
    index = {s.name: i for i, s in enumerate(steps)}

    def only_taker(name):
        """The step that alone takes value `name`, once and as its only input."""
        found = takers.get(name, [])
        return steps[found[0]] if len(found) == 1 and name not in outputs and steps[found[0]].uses == [name] \
            else None

    def residual_taker(name, before):
        """A step adding value `name` to one computed before step `before`, which alone takes `name`."""
        found = takers.get(name, [])
        if len(found) != 1 or name in outputs:
            return None, None
        step = steps[found[0]]
        if len(step.uses) != 2 or step.kind not in ("function", "method", "op") or _recognise(step) != "add":
            return None, None
        other = step.uses[1] if step.uses[0] == name else step.uses[0]
        return (step, other) if other != name and index.get(other, -1) < before else (None, None)

    def relu_after(name):
        step = only_taker(name)
        return step if step is not None and (step.module(ReLU) or _recognise(step) == "relu") else None

    absorbed, fused = set(), {}
    for i, step in enumerate(steps):
        conv, bn, lin, pool = (step.module(c) for c in (_ConvNd, _BatchNorm, Linear, _PoolNd))
        if step.name in absorbed or step.sole_use() is None:
            continue
        if conv is not None and not conv.transposed:
            run = [step]
            nxt = only_taker(step.name)
            norm = nxt.module(_BatchNorm) if nxt is not None else None
            if norm is not None and not norm.training and norm.num_features == conv.out_channels:
                run.append(nxt)
            else:
                norm = None
            add, residual = residual_taker(run[-1].name, i)
            if add is not None:
                run.append(add)
            relu = relu_after(run[-1].name)
            if relu is not None:
                run.append(relu)
            fused[i] = FusedConv(run, conv, norm, residual, relu is not None, plan)
        elif bn is not None and not bn.training:
            relu = relu_after(step.name)
            run = [step] + ([relu] if relu is not None else [])
            fused[i] = Affine(run, bn, relu is not None, plan)
        elif pool is not None and pool.kind == "max":
            fused[i] = MaxPool([step], pool)
        elif lin is not None:
            relu = relu_after(step.name)
            fused[i] = Dense([step] + ([relu] if relu is not None else []), lin, relu is not None, plan)
        else:
            continue
        absorbed.update(s.name for s in fused[i].original[1:])
    return [fused.get(i, s) for i, s in enumerate(steps) if s.name not in absorbed]


class _Fused(Step):
    """Steps run as one; with an input the fast path does not take (another dtype, a bad shape),
    the original steps run instead, so that their own checks and messages apply."""

    def __init__(self, original):
        first, last = original[0], original[-1]
        super().__init__(last.name, "fused", None, first.args, first.kwargs)
        self.original = original
        self.uses = sorted({u for s in original for u in s.uses if u not in {o.name for o in original}},
                           key=lambda u: 0 if u == first.sole_use() else 1)

    def __call__(self, env):
        x = env[self.uses[0]]
        try:
            y = self.fast(x.data, env) if isinstance(x, Tensor) else None
        except (ValueError, TypeError):  # the original steps raise it again, with their layer's name
            y = None
        if y is not None:
            return Tensor(y)
        local = dict(env)
        for step in self.original:
            local[step.name] = step(local)
        return local[self.name]


def _folded(plan, norm, dtype):
    """A BatchNorm's eval-mode scale s and shift t per channel (y = x s + t), in float64."""
    mean = plan.watch(norm, "running_mean").astype(np.float64)
    s = 1.0 / np.sqrt(plan.watch(norm, "running_var").astype(np.float64) + norm.eps)
    shift = -mean * s
    if norm.weight is not None:
        gamma = plan.watch(norm, "weight").astype(np.float64)
        s, shift = s * gamma, shift * gamma
    if norm.bias is not None:
        shift = shift + plan.watch(norm, "bias")
    return s, shift


class FusedConv(_Fused):
    """conv -> [BatchNorm folded] -> [+ residual] -> [ReLU], one engine call."""

    def __init__(self, original, conv, norm, residual, relu, plan):
        super().__init__(original)
        self.conv, self.residual, self.relu = conv, residual, relu
        w = plan.watch(conv, "weight")
        b = plan.watch(conv, "bias") if conv.bias is not None else None
        if norm is not None:
            s, t = _folded(plan, norm, w.dtype)
            w = (w * s.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype)
            b = ((0 if b is None else b) * s + t).astype(w.dtype)
        self.w, self.b = w, b

    def fast(self, x, env):
        conv = self.conv
        if x.dtype != self.w.dtype or x.ndim != conv.n + 2:
            return None
        geo = conv_geometry(x.shape, self.w.shape, conv.stride, conv.padding, conv.dilation, conv.groups, conv.label)
        residual = None
        if self.residual is not None:
            r = env[self.residual]
            residual = r.data if isinstance(r, Tensor) else None
            if residual is None or residual.shape != (len(x), len(self.w), *geo.out_size) or residual.dtype != x.dtype:
                return None
        return engine.forward(x, self.w, geo, self.b, Epilogue(residual, self.relu))


class Affine(_Fused):
    """An eval-mode BatchNorm (and a ReLU after it): y = x s + t per channel, image by image."""

    def __init__(self, original, norm, relu, plan):
        super().__init__(original)
        self.norm, self.relu = norm, relu
        self.s, self.t = _folded(plan, norm, None)

    def fast(self, x, env):
        if x.ndim not in self.norm.dims or x.shape[1] != len(self.s) or x.dtype.kind != "f":
            return None
        shape = (-1, *([1] * (x.ndim - 2)))
        s, t = self.s.astype(x.dtype).reshape(shape), self.t.astype(x.dtype).reshape(shape)
        y = np.empty_like(x)
        step = max(1, CHUNK_BYTES // max(x[:1].nbytes, 1))
        for n in range(0, len(x), step):  # a few images at a time stay in cache across the passes
            part = y[n:n + step]
            np.multiply(x[n:n + step], s, out=part)
            part += t
            if self.relu:
                np.maximum(part, 0, out=part)
        return y


class Dense(_Fused):
    """A fully connected layer (and a ReLU after it) through the engine's few-rows path."""

    def __init__(self, original, linear, relu, plan):
        super().__init__(original)
        self.linear, self.relu = linear, relu
        self.w = plan.watch(linear, "weight")
        self.b = plan.watch(linear, "bias") if linear.bias is not None else None

    def fast(self, x, env):
        if x.ndim != 2 or x.shape[1] != self.w.shape[1] or x.dtype != self.w.dtype:
            return None
        return dense_forward(x, self.w, self.b, Epilogue(relu=self.relu))


class MaxPool(_Fused):
    """Max pooling without the winners' indices, which only a backward pass would read, an axis
    at a time (`ops.engine.maxpool`)."""

    def __init__(self, original, pool):
        super().__init__(original)
        self.pool = pool

    def fast(self, x, env):
        p = self.pool
        if x.ndim != p.n + 2 or x.dtype.kind != "f" or 0 in x.shape:
            return None
        geo = pool_geometry(x.shape, p.kernel_size, p.stride, p.padding, p.dilation, p.ceil_mode, p.label)
        return maxpool.forward(x, geo)


# ------------------------------------------------------------------------------ what a function does

class _Recorder:
    """An interpreter that runs ops eagerly and records which ones ran on which inputs."""

    def __init__(self):
        self.ops = []

    def apply(self, op, inputs, attrs):
        self.ops.append((op.name, inputs))
        return Tensor(op.forward(*[t.data for t in inputs], **attrs)[0])

    def call_module(self, module, args):
        self.ops.append((None, args))
        return module.forward(*args)


def _recognise(step) -> str | None:
    """The name of the one registered op a function step applies to its inputs as they come
    ('add', 'relu', ...), found by running it on small probes; None for anything else."""
    if step.kind not in ("function", "method", "op") or step.kwargs or len(step.uses) != len(step.args):
        return None
    if not hasattr(step, "_op"):
        probes = tuple(Tensor(np.full((1, 2, 1, 1), 1.5 + i, np.float32)) for i in range(len(step.args)))
        recorder = _Recorder()
        try:
            with interpreting(recorder):
                step.fn(*probes)
        except Exception:  # noqa: BLE001  (a function that cannot take the probes is simply not fused)
            recorder.ops = []
        ran = recorder.ops[0] if len(recorder.ops) == 1 else (None, ())
        step._op = ran[0] if len(ran[1]) == len(probes) and all(a is b for a, b in zip(ran[1], probes)) else None
    return step._op
