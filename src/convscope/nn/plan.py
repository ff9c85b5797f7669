"""Execution plans: how a model runs in eval mode under no_grad, faster than step by step.

A plan is made from the model's graph (`model.graph()`: a converted network's steps, a Sequential's
chain of layers) the first time it runs in eval mode with no gradients, and kept on the model until
the model's state changes. It rewrites the execution, never the model, so the analysis, the bridges
and training still see every layer as it is. The plan is a pass that asks each step for its eval
form (`nn.forms`: declared by the layer in the layer registry, or by the op in the op registry) and
joins a form to the one step that alone takes its output, where the form accepts it:
- a convolution takes a following eval-mode BatchNorm into its weights, then a residual add and a
  ReLU into the engine's epilogue (applied to each output chunk right after its GEMM);
- an eval-mode BatchNorm is one per-channel multiply-add (a ReLU after it in the same pass);
- a fully connected layer takes the engine's few-rows path, a ReLU after it;
- max pooling skips the winners' indices, which only a backward pass reads;
- each value is dropped as soon as its last consumer ran, so memory peaks at the live values only.
A plan is used only when nothing watches the steps (no interpreter such as the shape tracer, no
`observe()` callbacks). It is dropped when the model's state changes: `train()`/`eval()` switching
a mode, `load_state_dict`, an optimizer step (all counted by `tensor.state_version()`), or a
parameter or buffer array replaced (e.g. by `.to(dtype)`). Edits of a parameter's `.data` in place
by hand are not seen: call `plan.drop(model)` after them.
"""
from __future__ import annotations

import numpy as np

from ..ops.engine import tuning
from ..ops.engine.parallel import single_threaded_blas
from ..ops.registry import current_interpreter
from ..tensor import Tensor, is_grad_enabled, state_version
from . import forms, graph
from . import module as module_mod
from .registry import declaration

ATTR = "_execution_plan"
# BLAS runs single-threaded inside a plan, the engine's own threads sharing out the big ops.
# OpenBLAS's threads synchronise after every GEMM; when another process keeps a core busy they
# wait on each other (measured with 4 test processes on the 2 cores: SqueezeNet b8 828-1116 ms
# with BLAS's 2 threads, 213-351 ms with the engine's threads alone, PyTorch 237-332 ms).
# With BLAS on one thread, an op left to one engine thread leaves the second core idle: the engine
# shares out ops from this size on (instead of `Tuning.parallel_bytes`, set against BLAS's threads).
PARALLEL_BYTES = 1 << 20


def applies(model) -> bool:
    """Whether `model`'s forward may run from a plan: eval mode, no_grad, nobody watching."""
    return (not model.training and not is_grad_enabled() and current_interpreter() is None
            and not module_mod._observers)


def drop(model) -> None:
    """Forget the model's plan (after editing its weights in place by hand)."""
    model.__dict__.pop(ATTR, None)


def run(model, inputs: tuple):
    """Run `model.graph()` on `inputs` from the model's plan (made or remade as needed)."""
    plan = model.__dict__.get(ATTR)
    if plan is None or not plan.valid():
        plan = Plan(model, *model.graph())
        object.__setattr__(model, ATTR, plan)
    return plan.run(inputs)


class Step:
    """One step of the graph as given, its target resolved in `owner` (the model, or a container
    inlined into it): kind 'input' takes the next input, any other stores fn(*args, **kwargs) with
    each Ref replaced by its value."""

    def __init__(self, owner, name, kind, path, args, kwargs):
        self.name, self.kind, self.path, self.args, self.kwargs = name, kind, path, args, kwargs
        self.fn = None if kind == "input" else graph.target(owner, kind, path)
        self.op = graph.op_of(owner, kind, path)
        self.uses = graph.refs((args, kwargs))

    def __call__(self, env):
        return graph.call(self.name, self.kind, self.path, self.fn, graph.resolve(self.args, env),
                          graph.resolve(self.kwargs, env))

    def form(self, watch) -> forms.Form | None:
        """This step's eval form: its layer's (declared in the layer registry) or its op's."""
        if self.kind == "input" or self.kwargs or len(self.uses) != len(self.args):
            return None  # only steps that take graph values as they come
        if isinstance(self.fn, module_mod.Module):
            return layer_form(self.fn, watch)
        return forms.of_op(self.op) if self.op is not None else None


def layer_form(layer, watch) -> forms.Form | None:
    """The eval form a layer declares, for a registered layer of exactly its class (a subclass may
    compute something else) in eval mode with real (not shape-only) parameters."""
    decl = declaration(layer)
    if decl is None or decl.form is None or layer.training or layer.__dict__.get("_meta"):
        return None
    return decl.form(layer, watch)


class Plan:
    """The steps of one model after joining forms, with the values each step frees once it ran."""

    def __init__(self, model, steps, output):
        self.version = state_version()
        self.sources = []  # (owner, attribute, array): the plan holds while each is still there
        steps, self.output = _inline(model, steps, output)
        outputs = set(graph.refs(self.output))
        self.steps = _join(steps, self.watch, outputs)
        self.frees = _last_uses(self.steps, outputs)

    def watch(self, owner, attr) -> np.ndarray:
        """The array at `owner.attr`, remembered: the plan is remade once it is replaced."""
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
        with single_threaded_blas(), tuning.override(parallel_bytes=PARALLEL_BYTES):
            for step, frees in zip(self.steps, self.frees):
                env[step.name] = next(feed) if step.kind == "input" else step(env)
                for name in frees:
                    del env[name]
        return graph.resolve(self.output, env)


def _inline(owner, steps, output, prefix="", fed=None):
    """`owner`'s graph as plan Steps, with the graph of each nested container (a Sequential, Residual,
    Concat or converted graph in eval mode, called on graph values) put in the place of its step,
    its values named `<step>/<value>`, its inputs the values the step took. Returns (steps, output)."""
    out, fed = [], iter(fed or ())
    names = {}  # a local value's name -> the Ref to it in the plan (graph.resolve renames through it)
    for name, kind, path, args, kwargs in steps:
        if kind == "input" and prefix:
            names[name] = next(fed)
            continue
        args, kwargs = graph.resolve(args, names), graph.resolve(kwargs, names)
        sub = owner.get(path) if kind == "module" else None
        inner_graph = _inlined_graph(sub, args, kwargs) if sub is not None else None
        if inner_graph is not None:
            inner, names[name] = _inline(sub, *inner_graph, f"{prefix}{name}/", args)
            out += inner
            continue
        names[name] = graph.Ref(prefix + name)
        out.append(Step(owner, prefix + name, kind, path, args, kwargs))
    return out, graph.resolve(output, names)


def _inlined_graph(sub, args, kwargs):
    """The graph of a module whose forward is its graph (a container's, marked `runs_graph`), called on
    graph values and returning one, or None."""
    if not getattr(getattr(type(sub), "forward", None), "runs_graph", False) or sub.training or kwargs \
            or not all(isinstance(a, graph.Ref) for a in args):
        return None
    steps, output = sub.graph()
    return (steps, output) if isinstance(output, graph.Ref) else None


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


def _join(steps, watch, outputs):
    """Replace each run of steps whose forms join by one `Joined` step."""
    takers, index = {}, {s.name: i for i, s in enumerate(steps)}
    for i, step in enumerate(steps):
        for name in set(step.uses):
            takers.setdefault(name, []).append(i)

    def follower(name, head):
        """The step that alone takes value `name` (and nothing else, but for values computed before
        step `head`), with those other values."""
        found = takers.get(name, [])
        if len(found) != 1 or name in outputs:
            return None, []
        step = steps[found[0]]
        others = [u for u in step.uses if u != name]
        if step.uses.count(name) != 1 or any(index.get(u, len(steps)) >= head for u in others):
            return None, []
        return step, others

    absorbed, joined = set(), {}
    for i, step in enumerate(steps):
        if step.name in absorbed or len(step.uses) != 1:
            continue
        form = step.form(watch)
        if form is None or isinstance(form, forms.Epilogue):
            continue
        run, extra = [step], []
        while True:
            nxt, others = follower(run[-1].name, i)
            after = nxt.form(watch) if nxt is not None else None
            bigger = form.join(after) if after is not None and len(others) == after.extra else None
            if bigger is None:
                break
            form, extra = bigger, extra + others
            run.append(nxt)
        joined[i] = Joined(run, form, extra)
        absorbed.update(s.name for s in run[1:])
    return [joined.get(i, s) for i, s in enumerate(steps) if s.name not in absorbed]


class Joined:
    """Steps run as one form; where the form declines an input (returns None or raises), the original
    steps run instead, so that their own checks and messages apply."""
    kind = "joined"

    def __init__(self, original, form, extra):
        self.original, self.form = original, form
        self.name = original[-1].name
        self.inputs = original[0].uses + extra
        own = {s.name for s in original}
        self.uses = [u for s in original for u in s.uses if u not in own]

    def __call__(self, env):
        values = [env[name] for name in self.inputs]
        y = None
        if all(isinstance(v, Tensor) for v in values):
            try:
                y = self.form(*(v.data for v in values))
            except (ValueError, TypeError):  # the original steps raise it again, with their layer's name
                y = None
        if y is not None:
            return Tensor(y)
        local = dict(env)
        for step in self.original:
            local[step.name] = step(local)
        return local[self.name]
