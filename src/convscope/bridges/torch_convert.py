"""A captured PyTorch graph (torch_capture) as the steps of a GraphModel.

Each call of a module convscope has a twin for (its exact class, or a subclass running the parent's
forward) becomes one step calling the converted layer, placed at the module's path: its ATen nodes
(those recorded inside the call, `nn_module_stack`) are replaced by the call. Every other node maps
through the op registry's ATen names (`Op.aten`, arguments by `Op.from_aten`) or a graph function
named "aten.<name>" or sharing torch's signature; assertions are dropped. Parameters and buffers
the ops read are placed at their PyTorch names and read by "const" steps, so they train and save.
"""
from __future__ import annotations

import numpy as np

from ..nn.graph import FUNCTIONS, Ref
from ..nn.graph_aten import SAME_AS_TORCH
from ..nn.module import Module, Parameter
from ..ops import registry as op_registry
from . import torch_capture as cap

DROPPED = {"_assert_scalar", "_assert_tensor_metadata", "sym_constrain_range", "sym_constrain_range_for_size",
           "_assert_async", "_functional_assert_async", "_functional_assert_scalar", "_check_is_size"}
DROPPED_PY = {"_assert", "_assert_scalar", "sym_constrain_range_for_size", "_check_is_size"}


def _ops_by_aten() -> dict:
    """Registered ops by ATen name (an op declaring none is looked up by its torch names, which
    are often ATen's too: a name whose arguments differ is refused by the argument check)."""
    return {name: op for op in op_registry.all_ops() for name in (op.aten or op.torch)}


def _refs(value):
    """A node's argument with every fx Node as a Ref (lists, tuples and dicts kept)."""
    import torch.fx

    return torch.fx.node.map_aggregate(value, lambda v: Ref(v.name) if isinstance(v, torch.fx.Node) else v)


def _plain(value):
    """fx's immutable containers as plain tuples, lists and dicts (a step's arguments are data)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def node_step(node, ops: dict):
    """(kind, target, args, kwargs) computing an fx node of a captured graph, "drop" for an assertion,
    or None when nothing in convscope computes it."""
    name = cap.aten_name(node.target)
    args, kwargs = _plain(_refs(node.args)), _plain(_refs(node.kwargs))
    if name is None:
        fname = getattr(node.target, "__name__", str(node.target))
        if fname in DROPPED_PY:
            return "drop"
        return ("function", fname, args, kwargs) if fname in FUNCTIONS and callable(node.target) else None
    if name in DROPPED:
        return "drop"
    if f"aten.{name}" in FUNCTIONS:
        return "function", f"aten.{name}", args, kwargs
    op = ops.get(name)
    step = _op_step(node, name, op) if op is not None else None
    if step is None and name in SAME_AS_TORCH:
        step = "function", name, args, kwargs
    return step


def _op_step(node, name: str, op):
    """The registered op's step: its inputs and attributes from ATen's named arguments."""
    named = _plain(_refs(cap.named_arguments(node)))
    if op.from_aten is not None:
        got = op.from_aten(dict(named), name)
        return None if got is None else ("op", op.name, tuple(got[0]), got[1])
    first = next(iter(named))
    x = named.pop(first)
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in named.items() if k in op.attrs}
    if attrs.get("stride") == ():  # ATen's pools: no stride given means the kernel's
        attrs["stride"] = None
    given = cap.defaults(node)
    if any(k not in op.attrs and (k not in given or given[k] != v) for k, v in named.items()):
        return None  # an argument the op has no attribute for, at a value other than ATen's default
    return "op", op.name, (x,), attrs


class Converter:
    """Builds `model`'s steps from a torch.export program of `module`. `layer_for(module)` gives the
    convscope layer standing for a torch module (or None); `opaque` makes a node nothing converts a
    step known by its shape only (for the analysis) instead of a refusal."""

    def __init__(self, module, program, model, layer_for, opaque: bool = False):
        self.module, self.program, self.model = module, program, model
        self.layer_for, self.opaque = layer_for, opaque
        sig = program.graph_signature
        self.params, self.buffers = dict(sig.inputs_to_parameters), dict(sig.inputs_to_buffers)
        self.consts = dict(sig.inputs_to_lifted_tensor_constants)
        self.ops, self.steps, self.problems = _ops_by_aten(), [], {}
        self.firsts: set = set()  # nodes whose op gives the first of ATen's outputs (batch_norm's)
        self.multi: dict = {}  # unknown nodes with several outputs: their input refs (opaque mode)
        self.renamed: dict = {}  # node name -> the name of the module step standing for it
        self.calls_made: dict = {}
        self.node_names = {n.name for n in program.graph.nodes}

    # ---------------------------------------------------------------- twin layers
    def groups(self) -> dict:
        """node name -> (call key, path) for the nodes recorded inside a call of a twin module."""
        out = {}
        for node in self.program.graph.nodes:
            if node.op != "call_function":
                continue
            for key, path, _ in cap.module_stack(node)[1:]:
                if self.layer_for(path) is not None:
                    out[node.name] = (key, path)
                    break
        return out

    def calls(self) -> dict:
        """(key, path) -> (input nodes, output node) of each twin call that is one module step."""
        nodes = list(self.program.graph.nodes)
        where = {n.name: i for i, n in enumerate(nodes)}
        members = self.groups()
        by_call: dict = {}
        for node in nodes:
            if node.name in members:
                by_call.setdefault(members[node.name], []).append(node)
        out = {}
        for (key, path), group in by_call.items():
            names = {n.name for n in group}
            ins = []
            for n in group:
                for i in n.all_input_nodes:
                    own = self.params.get(i.name) or self.buffers.get(i.name)
                    if i.name not in names and i not in ins and not (own and own.startswith(path + ".")):
                        ins.append(i)
            outs = [n for n in group if any(u.name not in names for u in n.users)]
            if len(outs) == 1 and ins and all(where[i.name] < where[outs[0].name] for i in ins) and \
                    all(cap.shape_of(i) is not None for i in ins):
                out[(key, path)] = (ins, outs[0], names)
        return out

    # ---------------------------------------------------------------- conversion
    def run(self):
        calls = self.calls()
        inside = {name: call for call, (_, _, names) in calls.items() for name in names}
        for (key, path) in calls:
            self._place(path, self.layer_for(path))
        for node in self.program.graph.nodes:
            if (node.name in self.params or node.name in self.buffers) and all(u.name in inside for u in node.users):
                continue  # a twin's own parameter: its layer holds it
            if node.name in inside:
                ins, out, _ = calls[inside[node.name]]
                if node is out:
                    path = inside[node.name][1]
                    name = self._call_name(path)
                    self.renamed[node.name] = name
                    self.steps.append((name, "module", path, tuple(Ref(i.name) for i in ins), {}))
                continue
            self._node(node)
        steps = [(n, kind, t, self._renamed(a), self._renamed(kw)) for n, kind, t, a, kw in self.steps]
        return steps, self._renamed(self._output())

    def _renamed(self, value):
        """`value` with references to a module call's output node by the call's step name."""
        if isinstance(value, Ref):
            return Ref(self.renamed.get(value.name, value.name))
        if isinstance(value, dict):
            return {k: self._renamed(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._renamed(v) for v in value)
        return value

    def _call_name(self, path: str) -> str:
        """A module step's name: its path with underscores, `_1`, `_2` for further calls (as torch.fx
        names them), unless a node has that name already."""
        base = path.replace(".", "_")
        count = self.calls_made.get(base, 0)
        self.calls_made[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        return name if name not in self.node_names else f"{name}_call"

    def _node(self, node):
        if node.op == "placeholder":
            self._placeholder(node)
        elif node.op == "call_function":
            step = self._getitem(node) if node.target.__name__ == "getitem" else node_step(node, self.ops)
            if step == "drop":
                return
            if step is None and self.opaque:
                step = self._opaque(node)
            if step is None:
                self._refuse(node)
                return
            if step[0] == "op" and isinstance(node.meta.get("val"), (tuple, list)):
                self.firsts.add(node.name)
            self.steps.append((node.name, *step))
        elif node.op != "output":
            self._refuse(node)

    def _getitem(self, node):
        source, index = node.args
        if source.name in self.firsts:  # an op giving the first of ATen's outputs
            return ("function", "aten.alias", (Ref(source.name),), {}) if index == 0 else None
        if source.name in self.multi:
            return None  # the opaque rule below stands for it
        return "function", "getitem", (Ref(source.name), index), {}

    def _placeholder(self, node):
        name = node.name
        if name in self.params or name in self.buffers:
            path = self.params.get(name) or self.buffers[name]
            if not _has(self.model, path):
                value = _numpy(self.program.state_dict[path])
                if name in self.params:
                    self._place(path, Parameter(value))
                else:
                    owner, leaf = _owner(self.model, path)
                    owner.register_buffer(leaf, value)
            self.steps.append((name, "const", path, (), {}))
        elif name in self.consts:
            value = _numpy(self.program.constants[self.consts[name]])
            self.steps.append((name, "function", "aten.alias", (value,), {}))
        else:
            self.steps.append((name, "input", None, (), {}))

    def _place(self, path: str, thing) -> None:
        if not _has(self.model, path):
            self.model.place(path, thing)

    def _output(self):
        import torch.utils._pytree as pytree

        out = [Ref(a.name) if hasattr(a, "name") else a for a in list(self.program.graph.output_node().args[0])]
        return _plain(pytree.tree_unflatten(out, self.program.call_spec.out_spec))

    # ---------------------------------------------------------------- what does not convert
    def _opaque(self, node):
        """A step known by its shape only: torch's recorded shape, the node's tensor inputs."""
        import torch.fx

        ins = [i for i in node.all_input_nodes if cap.shape_of(i) is not None and i.name not in self.params
               and i.name not in self.buffers]
        ins = ins or [i for i in node.all_input_nodes if cap.shape_of(i) is not None]
        val = node.meta.get("val")
        if isinstance(val, (tuple, list)) and ins:
            self.multi[node.name] = ins
            return ("function", "aten.alias", (Ref(ins[0].name),), {})
        source = node
        if node.target.__name__ == "getitem" and node.args[0].name in self.multi:
            ins, source = self.multi[node.args[0].name], node.args[0]
        if not hasattr(val, "shape") or not ins or not isinstance(node.target, (torch._ops.OpOverload,)) and \
                node.target.__name__ != "getitem":
            return None
        name = cap.aten_name(source.target)
        op = op_registry.opaque_op(f"torch.aten.{name}", _given_shape)
        shape = tuple(_hint(s) for s in val.shape)
        attrs = {} if shape == tuple(_hint(s) for s in ins[0].meta["val"].shape) else {"out_shape": shape[1:]}
        return "op", op.name, tuple(Ref(i.name) for i in ins), attrs

    def _refuse(self, node):
        name = cap.aten_name(node.target) if node.op == "call_function" else None
        what = f"aten.{name}" if name else getattr(node.target, "__name__", str(node.target))
        if what == "getitem" and node.args[0].name in self.firsts:  # an output the op does not give
            what = f"aten.{cap.aten_name(node.args[0].target)} output {node.args[1]}"
        stack = cap.module_stack(node)
        where = f"{stack[-1][1]} ({stack[-1][2].rsplit('.', 1)[-1]})" if len(stack) > 1 else \
            f"the forward of {type(self.module).__name__}"
        self.problems.setdefault(what, []).append(where)

    def refusal(self) -> str | None:
        """The one message for what did not convert: each op with its count and where it is."""
        if not self.problems:
            return None
        lines = []
        for what, places in self.problems.items():
            seen = list(dict.fromkeys(places))
            lines.append(f"{what} x{len(places)} in {', '.join(seen[:3])}{', ...' if len(seen) > 3 else ''}")
        count = sum(len(p) for p in self.problems.values())
        return (f"from_torch: cannot convert {count} operation(s) of {type(self.module).__name__}:\n  " +
                "\n  ".join(lines) + "\n(cs.summary(module, input_shape) still describes it, those rows not counted)")


def place_state(model, module, layer_for) -> None:
    """Place the module's state in `model`, in PyTorch's order: its layers with a twin (the same
    objects the captures call), plain modules for the others, and every parameter and buffer
    (those the twins hold are theirs), so `state_dict()` and parameter counts are the module's."""
    for path, sub in module.named_modules():
        if path and not _has(model, path):
            model.place(path, layer_for(path) or Module())
    def free(path: str) -> bool:  # not held by a twin (which keeps what it keeps: no num_batches_tracked)
        return not _has(model, path) and layer_for(path.rpartition(".")[0]) is None

    for path, p in module.named_parameters():
        if free(path):
            model.place(path, Parameter(_numpy(p)))
    for path, b in module.named_buffers():
        if free(path):
            owner, leaf = _owner(model, path)
            owner.register_buffer(leaf, _numpy(b))


def unconverted(program, layer_for) -> set:
    """The ATen ops (OpOverloads) of a program that neither a twin layer nor the op registry nor a
    graph function computes: candidates for PyTorch's decompositions."""
    conv = Converter(None, program, Module(), layer_for)
    inside = {n for _, _, names in conv.calls().values() for n in names}
    out = set()
    for node in program.graph.nodes:
        if node.op == "call_function" and node.name not in inside and cap.aten_name(node.target) and \
                node.target.__name__ != "getitem" and node_step(node, conv.ops) is None:
            out.add(node.target)
    return out


def _given_shape(*ins, out_shape=None):
    """Pass-through (the first input's shape) unless torch's recorded shape is another one."""
    shape = ins[0].shape if out_shape is None else (ins[0].shape[0], *out_shape)
    return op_registry.Aval(tuple(shape), ins[0].dtype)


def _hint(size) -> int:
    return size if isinstance(size, int) else int(size.node.hint)


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def _has(model, path: str) -> bool:
    owner = model
    for name in path.split("."):
        tables = (owner._modules, owner._parameters, owner._buffers) if isinstance(owner, Module) else ()
        found = next((t[name] for t in tables if name in t), None)
        if found is None:
            return False
        owner = found
    return True


def _owner(model, path: str):
    """The module owning the last name of `path` (plain modules made on the way) and that name."""
    *parents, leaf = path.split(".")
    owner = model
    for name in parents:
        if name not in owner._modules:
            setattr(owner, name, Module())
        owner = owner._modules[name]
    return owner, leaf
