"""The Einstein sum (torch.einsum, ONNX Einsum): NumPy's einsum forward; the gradient of each
operand is the einsum of the output gradient with the other operands, written to that operand's
subscripts (letters only it has are broadcast back; a repeated letter, a diagonal, is scattered
onto it; ellipsis axes broadcast between operands are summed back).
"""
from __future__ import annotations

import string

import numpy as np

from ..registry import GLOBAL, Aval, define, keeps_input
from .elementwise import unbroadcast


def parse(equation: str, shapes) -> tuple[list[str], str]:
    """Each operand's subscripts and the output's, with every '...' spelt out in letters the
    equation does not use (aligned from the right, as NumPy broadcasts them)."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum {equation!r}: {len(terms)} operand subscripts for {len(shapes)} operands")
    if any(ch not in string.ascii_letters + "." for ch in lhs.replace(",", "") + rhs):
        raise ValueError(f"einsum {equation!r}: subscripts are letters and '...'")
    spare = [ch for ch in string.ascii_letters if ch not in eq]
    lengths = [len(shape) - len(t.replace("...", "")) for t, shape in zip(terms, shapes)]
    for t, n, shape in zip(terms, lengths, shapes):
        if ("..." in t and n < 0) or ("..." not in t and n != 0):
            raise ValueError(f"einsum {equation!r}: subscripts {t!r} do not fit an operand of shape {tuple(shape)}")
    width = max([n for t, n in zip(terms, lengths) if "..." in t], default=0)
    ell = "".join(spare[:width])
    subs = [t.replace("...", ell[width - n:] if n else "") for t, n in zip(terms, lengths)]
    if arrow:
        out = rhs.replace("...", ell)
    else:  # implicit output: the ellipsis, then the letters seen once, in alphabetical order
        letters = "".join(subs)
        out = ell + "".join(sorted(ch for ch in set(letters) if letters.count(ch) == 1 and ch not in ell))
    return subs, out


def _sizes(subs, shapes, equation) -> dict:
    """Letter -> size; a letter of size 1 on one operand broadcasts (ellipsis axes)."""
    size: dict = {}
    for s, shape in zip(subs, shapes):
        for ch, n in zip(s, shape):
            if size.get(ch, 1) == 1:
                size[ch] = n
            elif n not in (1, size[ch]):
                raise ValueError(f"einsum {equation!r}: subscript {ch!r} has sizes {size[ch]} and {n}")
    return size


def _shape(*xs, equation):
    subs, out = parse(equation, [x.shape for x in xs])
    size = _sizes(subs, [x.shape for x in xs], equation)
    if any(ch not in size for ch in out) or len(set(out)) != len(out):
        raise ValueError(f"einsum {equation!r}: output subscripts {out!r} must be distinct letters of the operands")
    return Aval(tuple(size[ch] for ch in out), xs[0].dtype)


def _macs(ins, out, a) -> int:
    subs, _ = parse(a["equation"], [x.shape for x in ins])
    size = _sizes(subs, [x.shape for x in ins], a["equation"])
    """Every product of the sum once, per sample (the output's first axis)."""
    products = int(np.prod([size[ch] for ch in set("".join(subs))], dtype=np.int64))
    return products // max(out.shape[0] if out.shape else 1, 1)


def _onnx(e, node):
    e.emit("Einsum", e.inputs, e.output, equation=node.attrs["equation"])


def _grad(i, g, xs, subs, out, size):
    """The gradient of operand i."""
    mine = subs[i]
    unique = "".join(dict.fromkeys(mine))
    others = [(s, np.broadcast_to(x, tuple(size[ch] for ch in s))) for j, (s, x) in enumerate(zip(subs, xs)) if j != i]
    seen = set(out).union(*(s for s, _ in others))
    kept = "".join(ch for ch in unique if ch in seen)
    r = np.einsum(",".join([out, *(s for s, _ in others)]) + "->" + kept, g, *(x for _, x in others))
    full = r.reshape([size[ch] if ch in kept else 1 for ch in unique])  # letters only i has: broadcast
    full = np.broadcast_to(full, tuple(size[ch] for ch in unique))
    if len(unique) == len(mine):
        dx = full.transpose([unique.index(ch) for ch in mine])
    else:  # a diagonal: each cell of the unique letters lands where its repeated letters agree
        dx = np.zeros(tuple(size[ch] for ch in mine), g.dtype)
        grid = np.indices(full.shape)
        dx[tuple(grid[unique.index(ch)] for ch in mine)] = full
    return unbroadcast(dx, xs[i].shape).reshape(xs[i].shape).astype(xs[i].dtype, copy=False)


@define("einsum", GLOBAL, macs=_macs, shape=_shape, saved=keeps_input, torch=("einsum",), onnx=_onnx)
def einsum(*xs, equation):
    """np.einsum(equation, *xs): the products and sums its subscripts say ('bchw,bkc->bkhw',
    '...ij,...jk->...ik', 'ii->i')."""
    subs, out = parse(equation, [x.shape for x in xs])
    size = _sizes(subs, [x.shape for x in xs], equation)
    _shape(*(Aval(x.shape, x.dtype) for x in xs), equation=equation)
    spread = [np.broadcast_to(x, tuple(size[ch] for ch in s)) for s, x in zip(subs, xs)]  # size-1 axes broadcast
    y = np.asarray(np.einsum(",".join(subs) + "->" + out, *spread))
    return y.astype(xs[0].dtype, copy=False), lambda g: tuple(_grad(i, g, xs, subs, out, size) for i in range(len(xs)))
