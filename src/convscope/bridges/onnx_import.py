"""ONNX import: a convscope model from an ONNX file of any framework.

Every node becomes one module named by the ONNX node (registered layers for Conv, Gemm,
BatchNormalization, ...; an `OnnxNode` running registered ops for the rest), so summary rows carry
the file's names. Constant subgraphs are folded at import (onnx_fold), rules per op type live in
onnx_rules, and the file is read by onnx_load. `meta=True` builds shape-only layers for analysis:
weights are never read, and an op convscope cannot run becomes an opaque row with the shapes of
ONNX's own shape inference instead of a refusal.
"""
from __future__ import annotations

import re

import numpy as np

from ..messages import excerpt
from ..nn import init
from ..nn import registry
from ..nn.module import Module, Parameter
from ..ops import registry as op_registry
from ..ops.registry import Aval
from ..tensor import Tensor, apply, no_grad
from ..nn.containers import GraphModel
from ..nn.graph import Ref
from .onnx_fold import TABLE, VARIABLE, fold
from .onnx_load import is_shape_only, read, shape_only
from . import onnx_rules_extended  # noqa: F401  (registers its rules beside onnx_rules')
from .onnx_rules import RULES, NodeView, conversion


GRAPH, ABSENT = object(), object()  # OnnxNode slots: a graph value; an optional input left out


class OnnxNode(Module):
    """One ONNX node that is not a layer: `fn` of its inputs, with its float initializers as
    parameters (counted by the analysis) and its other constants held as tensors. Each op type gets
    its own subclass named like it ("Transpose", "LayerNormalization"), the kind a summary shows."""

    def __init__(self, fn, slots):
        super().__init__()
        object.__setattr__(self, "fn", fn)
        # per argument of fn: GRAPH (the next forward input), ABSENT (None), a parameter's name, or a Tensor
        object.__setattr__(self, "slots", slots)

    def forward(self, *xs):
        values = iter(xs)
        args = [next(values) if s is GRAPH else None if s is ABSENT else getattr(self, s) if isinstance(s, str)
                else s for s in self.slots]
        shape_only = any(init.is_meta(p.data) for p in self._parameters.values())
        if shape_only and not all(init.is_meta(getattr(x, "data", x)) for x in xs):  # the tracer's inputs pass
            raise ValueError("its parameters are shape-only (meta), built for analysis: it cannot run; "
                             "import the file without meta=True")
        return self.fn(*args)


_CLASSES: dict[str, type] = {}


def _node_class(op: str) -> type:
    if op not in _CLASSES:
        _CLASSES[op] = type(op, (OnnxNode,), {"__doc__": f"The ONNX {op} node of an imported model."})
    return _CLASSES[op]


class _Node:
    """An ONNX node as the importer walks it (fusion may make nodes of its own)."""

    def __init__(self, op, name, inputs, outputs, attrs):
        self.op, self.name, self.inputs, self.outputs, self.attrs = op, name, list(inputs), list(outputs), attrs


def from_onnx(path, meta: bool = False) -> GraphModel:
    """A convscope model from an ONNX file: Conv, ConvTranspose, Gemm/MatMul, BatchNormalization,
    InstanceNormalization, PRelu, pools (LpPool too), activations (Relu, Clip, HardSwish, HardSigmoid,
    Sigmoid, Tanh, LeakyRelu, Elu, Selu, Celu, Softplus, Softsign, Mish, Softmax, Hardmax, the Erf
    form of GELU, ...), element-wise and variadic arithmetic, Concat, Split, Slice, Gather, Transpose,
    Reshape, Flatten, Squeeze/Unsqueeze, Tile, Expand, DepthToSpace/SpaceToDepth, ReduceMean/Sum/Max,
    Layer- and GroupNormalization, Pad and Resize (docs/bridges.md lists them); shape
    subgraphs (Shape, Gather, Concat, ...) are folded to constants when the input shape is static.

    `meta=True` (what the analysis entry points use) reads no weights: layers are shape-only, and
    ops convscope cannot run become opaque rows ("not counted") shaped by ONNX's shape inference.
    Otherwise a file with unsupported nodes gives one ValueError with a line per op type and count.
    Modules are named by the ONNX nodes (sanitised into attribute names; the summary shows the
    original names).
    """
    file = read(path, meta)
    builder = _Builder(file, meta)
    for i, node in enumerate(_fuse_gelu(_nodes(file), file)):
        builder.add(i, node)
    builder.refuse_or_pass(path)
    return builder.finish()


def _nodes(file) -> list:
    from onnx import helper

    return [_Node(n.op_type, n.name, n.input, n.output, {a.name: helper.get_attribute_value(a) for a in n.attribute})
            for n in file.graph.node]


class _Builder:
    def __init__(self, file, meta: bool):
        self.file, self.meta, self.consts = file, meta, file.consts
        self.model, self.params, self.taken = GraphModel(), {}, set()
        self.refused: dict[str, list] = {}  # op type -> [(where, reason)]
        self.unshaped = 0  # refused nodes not even shown as opaque rows (no static shape)
        self.ints: set = set()  # values computed at run time from shapes (a dynamic batch axis)
        for v in file.graph.input:
            if v.name not in self.consts:
                self.model.steps.append((v.name, "input", None, (), {}))
                if getattr(file.dtypes.get(v.name), "kind", "f") in "iub":  # integers: shape arithmetic's values
                    self.ints.add(v.name)

    def add(self, i: int, node: _Node) -> None:
        where = f"node {i} '{node.name or node.op}' ({node.op})"
        if node.op == "Constant":  # exporters store small tensors (and sometimes weights) as Constant nodes
            self.consts[node.outputs[0]] = _constant(node.attrs)
            return
        if self._fold(node) or self._shape_arithmetic(node):
            return
        view = NodeView(node.op, node.name, node.inputs, node.outputs, node.attrs, self.file, where)
        try:
            layer = self._layer(view)
            conv = None if layer is not None else conversion(view)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            layer, conv, reason = None, None, str(err).splitlines()[0]
        else:
            reason = "no convscope op for it"
        if layer is not None:
            self._place(node, i, layer, [Ref(node.inputs[0])], 1)
        elif conv is not None:
            self._add_node(node, i, conv)
        elif self._computed_settings(node):
            self._add_deferred(node, i)
        else:
            self.refused.setdefault(node.op, []).append((where, reason))
            if not (self.meta and self._add_opaque(node, i, where)):
                self.unshaped += 1

    # ---------------------------------------------------------------- constants
    def _fold(self, node: _Node) -> bool:
        """Evaluate a node whose inputs are all constants (Shape: whose input shape is static)."""
        values = [None if n == "" else self.consts.get(n, VARIABLE) for n in node.inputs]
        if node.op == "Identity" and values and values[0] is not VARIABLE:
            self.consts[node.outputs[0]] = values[0]
            if node.inputs[0] in self.file.initializers:  # PyTorch's exporter shares equal weights this way:
                self.file.initializers.add(node.outputs[0])  # each alias is a parameter of its own, as in the model
            return True
        out = fold(node.op, node.attrs, values, [self.file.static_shape(n) if n else None for n in node.inputs],
                   [self.file.static_shape(n) for n in node.outputs])
        if out is None and values and all(v is not VARIABLE for v in values):
            out = self._run_constant(node, values)
        if out is None:
            return False
        for name, value in zip(node.outputs, out):
            self.consts[name] = value
        return True

    def _shape_arithmetic(self, node: _Node) -> bool:
        """Shape computations that cannot fold (a dynamic batch axis) run with the model instead: the
        same NumPy table, on shapes read at run time; a plain step, not a module (no summary row)."""
        variable = [n for n in node.inputs if n and n not in self.consts]
        if node.op in ("Shape", "Size"):
            start, end = node.attrs.get("start", 0), node.attrs.get("end", None)
            fn = (lambda x: np.array(x.shape[start:end], np.int64)) if node.op == "Shape" else \
                (lambda x: np.array(int(np.prod(x.shape)), np.int64))
        elif node.op in TABLE and variable and all(n in self.ints for n in variable):
            values = [None if n == "" else self.consts.get(n, VARIABLE) for n in node.inputs]

            def fn(*xs, op=node.op, attrs=node.attrs, values=values):
                fed = iter(xs)
                return np.asarray(TABLE[op](attrs, *(next(fed) if v is VARIABLE else v for v in values)))
        else:
            return False
        self.model.steps.append((node.outputs[0], "onnx", fn, tuple(Ref(n) for n in variable), {}))
        self.ints.add(node.outputs[0])
        return True

    def _run_constant(self, node: _Node, values):
        """Any other all-constant node: its conversion run once on the constants (registered ops)."""
        view = NodeView(node.op, node.name, node.inputs, node.outputs, node.attrs, self.file, node.name)
        try:
            conv = conversion(view)
        except (ValueError, TypeError, KeyError, IndexError):
            return None
        if conv is None:
            return None
        if any(is_shape_only(v) for v in values if v is not None):
            shapes = [self.file.static_shape(n) for n in node.outputs]
            return None if None in shapes else [shape_only(s, np.float32) for s in shapes]
        with no_grad():
            out = conv.fn(*(Tensor(values[i]) for i in conv.used))
        return [np.asarray(o.data) for o in (out if conv.outputs > 1 else (out,))]

    def _input(self, name: str):
        """A node input for `fn`: a graph value (Ref), a parameter (float initializer), or a tensor."""
        if name not in self.consts:
            return Ref(name)
        value = self.consts[name]
        if value.dtype.kind == "f" and value.dtype != np.float32:
            value = shape_only(value.shape, np.float32) if is_shape_only(value) else value.astype(np.float32)
        if name not in self.file.initializers or value.dtype.kind != "f":
            return Tensor(value)
        if name not in self.params:
            self.params[name] = Parameter(value if is_shape_only(value) else np.array(value))
        return self.params[name]

    # ---------------------------------------------------------------- modules
    def _layer(self, view):
        """The registered layer this node builds (its `OnnxImport` rule), with its weights unless shape-only."""
        return _built_layer(view, self.meta)

    def _add_node(self, node: _Node, i: int, conv) -> None:
        slots, refs, params = [], [], {}
        for index in conv.used:
            if index >= len(node.inputs) or node.inputs[index] == "":
                slots.append(ABSENT)
                continue
            value = self._input(node.inputs[index])
            if isinstance(value, Ref):
                slots.append(GRAPH)
                refs.append(value)
            elif isinstance(value, Parameter):
                key = f"p{len(params)}"
                params[key] = value
                slots.append(key)
            else:
                slots.append(value)
        module = _node_class(node.op)(conv.fn, slots)
        for key, p in params.items():
            setattr(module, key, p)
        self._place(node, i, module, refs, conv.outputs)

    def _place(self, node: _Node, i: int, module, refs: list, outputs: int) -> None:
        attr = _attribute(node.name, node.op, i, self.taken)
        display = node.name or attr
        object.__setattr__(module, "_name", display)  # errors name the layer as the file does
        object.__setattr__(module, "display_name", display)
        self.model.place(attr, module)
        if outputs == 1:
            self.model.steps.append((node.outputs[0], "onnx", module, tuple(refs), {}))
            return
        key = f"{attr}:outputs"
        self.model.steps.append((key, "onnx", module, tuple(refs), {}))
        for k, name in enumerate(node.outputs):
            if name:
                self.model.steps.append((name, "onnx", lambda t, k=k: t[k], (Ref(key),), {}))

    def _computed_settings(self, node: _Node) -> bool:
        """Whether a node of a known op type reads inputs after its first (weights, pads, shapes,
        scales) that the graph computes at run time: it is then converted at each call, with them."""
        known = node.op in RULES or registry.onnx_imports(node.op) or any(
            op.onnx == node.op for op in op_registry.all_ops())
        return bool(known) and not self.meta and any(n and n not in self.consts for n in node.inputs[1:])

    def _add_deferred(self, node: _Node, i: int) -> None:
        """A node converted when it runs: the values of its computed inputs join the constants, the
        layer or rule is chosen and built from them, and run on its first input. Gradients reach
        that input; the computed settings are read as values."""
        computed = [n for n in node.inputs if n and n not in self.consts]
        builder, where = self, f"node {i} '{node.name or node.op}' ({node.op})"

        def convert(known):
            file = _WithValues(builder.file, {n: np.asarray(getattr(v, "data", v)) for n, v in known.items()
                                              if n != node.inputs[0]})
            view = NodeView(node.op, node.name, node.inputs, node.outputs, node.attrs, file, where)
            value = lambda k: None if k >= len(node.inputs) or not node.inputs[k] else known.get(  # noqa: E731
                node.inputs[k], Tensor(file.consts.get(node.inputs[k], np.zeros(0, np.float32))))
            layer = _built_layer(view)
            if layer is not None:
                return layer(value(0))
            conv = conversion(view)
            if conv is None:
                raise ValueError(f"{where}: no convscope op for it with these inputs")
            return conv.fn(*(value(k) for k in conv.used))

        def run(*values):
            try:
                return convert(dict(zip(computed, values)))
            except (TypeError, KeyError, IndexError) as err:  # a setting the rule cannot read, in the node's name
                raise ValueError(f"{where}: cannot convert it with these inputs ({type(err).__name__}: "
                                 f"{excerpt(str(err))})") from None
        module = _node_class(node.op)(run, [GRAPH] * len(computed))
        self._place(node, i, module, [Ref(n) for n in computed], len([o for o in node.outputs if o]) or 1)

    def _add_opaque(self, node: _Node, i: int, where: str) -> bool:
        shapes = [self.file.static_shape(n) for n in node.outputs if n]
        graph_inputs = [n for n in node.inputs if n and n not in self.consts]
        if None in shapes or not graph_inputs:
            return False  # nothing to shape it by: it stays a refusal
        op = _opaque_op(node.op)
        expected = [self.file.static_shape(n) for n in graph_inputs]
        dtypes = [self.file.dtypes.get(n) or np.dtype(np.float32) for n in node.outputs if n]

        def run(*xs):
            outs = tuple(apply(op, *xs, out_shape=(xs[0].shape[0], *s[1:]), dtype=d, expected=expected, where=where)
                         for s, d in zip(shapes, dtypes))
            return outs if len(outs) > 1 else outs[0]
        module = _node_class(node.op)(run, [GRAPH] * len(graph_inputs))
        self._place(node, i, module, [Ref(n) for n in graph_inputs], len(shapes))
        return True

    # ---------------------------------------------------------------- the end
    def refuse_or_pass(self, path) -> None:
        """One line per refused op type, with its count, its first node and why."""
        if not self.unshaped:
            return
        lines = [f"  {op} x{len(found)}: {found[0][1]} (first: {found[0][0]})"
                 for op, found in self.refused.items()]
        n = sum(len(f) for f in self.refused.values())
        hint = "" if self.meta else "; from_onnx(path, meta=True), as the analysis reads it, shows them as rows"
        raise ValueError(f"from_onnx {path}: cannot convert {n} node(s) of {len(lines)} op type(s){hint}:\n"
                         + "\n".join(lines))

    def finish(self) -> GraphModel:
        g, model = self.file.graph, self.model
        outs = [Ref(v.name) for v in g.output]
        object.__setattr__(model, "output_ref", outs[0] if len(outs) == 1 else tuple(outs))
        shape = self.file.shapes.get(next((v.name for v in g.input if v.name not in self.consts), ""))
        object.__setattr__(model, "input_shape", tuple(shape[1:]) if shape and None not in shape[1:] else None)
        object.__setattr__(model, "name", g.name or "onnx")
        return model.eval()


def _built_layer(view, meta: bool = False):
    """The registered layer a node builds (its `OnnxImport` rule), with its weights unless shape-only."""
    for decl, rule in registry.onnx_imports(view.op):
        if rule.when(view):
            kwargs, state = rule.build(view)
            with init.meta():  # no random draws: the file's weights replace them
                layer = decl.cls(**kwargs)
            if not meta:
                layer.load_state_dict({k: np.asarray(v, np.float32) for k, v in state.items()})
            return layer.eval()
    return None


class _WithValues:
    """An OnnxFile seen with some run-time values among its constants."""

    def __init__(self, file, values: dict):
        self._file, self.consts = file, {**file.consts, **values}

    def __getattr__(self, name):
        return getattr(self._file, name)


def _attribute(name: str, op: str, i: int, taken: set) -> str:
    """A module attribute from an ONNX node name: '/features/features.0/Conv' -> 'features_features_0_Conv'."""
    base = re.sub(r"\W+", "_", name).strip("_") or f"{op.lower()}_{i}"
    base = base if base[0].isalpha() else f"n{base}"
    attr, k = base, 1
    while attr in taken:
        k += 1
        attr = f"{base}_{k}"
    taken.add(attr)
    return attr


def _constant(attrs: dict) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype)
    raise ValueError(f"Constant with attributes {sorted(attrs)} is not supported")


def _opaque_shape(*ins, out_shape, dtype, expected, where):
    for a, (got, want) in enumerate(zip(ins, expected)):
        if want is not None and tuple(got.shape[1:]) != tuple(want[1:]):
            raise ValueError(f"{where} is known by its shape only, from the file's shape inference at input "
                             f"{tuple(want[1:])}; it got input {a} of shape {tuple(got.shape[1:])}: summarise "
                             "the model at the file's own input shape")
    return Aval(tuple(out_shape), np.dtype(dtype))


def _opaque_op(op_type: str):
    """The registered opaque op standing for an ONNX op convscope cannot run (one per op type)."""
    return op_registry.opaque_op(f"onnx.{op_type}", _opaque_shape)


def _fuse_gelu(nodes: list, file) -> list:
    """PyTorch writes GELU as x * (erf(x / sqrt 2) + 1) * 0.5 (five nodes): one Gelu node instead."""
    consts = dict(file.consts)
    for n in nodes:
        if n.op == "Constant":
            try:
                consts[n.outputs[0]] = _constant(n.attrs)
            except ValueError:
                pass
    producer = {o: n for n in nodes for o in n.outputs}
    users: dict = {}
    for n in nodes:
        for name in n.inputs:
            users.setdefault(name, []).append(n)

    def scalar(name, value):
        c = consts.get(name)
        return c is not None and c.size == 1 and np.isclose(float(c.reshape(())), value, rtol=1e-4)

    def only_user(n, op):
        u = users.get(n.outputs[0], [])
        return u[0] if len(u) == 1 and u[0].op == op else None

    def other(n, name):
        return n.inputs[1] if n.inputs[0] == name else n.inputs[0]

    drop, fused = set(), {}
    for erf in (n for n in nodes if n.op == "Erf"):
        div = producer.get(erf.inputs[0])
        if div is None or not ((div.op == "Div" and scalar(div.inputs[1], np.sqrt(2))) or
                               (div.op == "Mul" and scalar(div.inputs[1], 1 / np.sqrt(2)))):
            continue
        x = div.inputs[0]
        add = only_user(erf, "Add")
        mul = add and only_user(add, "Mul")
        half = mul and only_user(mul, "Mul")
        if not (add and scalar(other(add, erf.outputs[0]), 1.0) and mul and other(mul, add.outputs[0]) == x
                and half and scalar(other(half, mul.outputs[0]), 0.5)) or len(users.get(div.outputs[0], [])) != 1:
            continue
        drop.update(id(n) for n in (div, erf, add, mul))
        name = erf.name.rsplit("/", 1)[0] + "/Gelu" if "/" in erf.name else (erf.name or "") + "_gelu"
        fused[id(half)] = _Node("Gelu", name, [x], half.outputs, {"approximate": "none"})
    return [fused.get(id(n), n) for n in nodes if id(n) not in drop]
