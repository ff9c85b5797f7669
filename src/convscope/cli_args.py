"""What every command's arguments share: the usage error, --input and --padding parsed, and one
sample's shape checked against the model's first layer."""
from __future__ import annotations

from .model_files import parse_shape

PADDINGS = ("same", "valid", "full")


class UsageError(ValueError):
    """A mistake in the command line itself (missing or contradictory options)."""


def named_path(text: str) -> str:
    """An argparse type for --out and -o: a path that names something (an empty one would write into
    the working folder, over files nobody named)."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: name the folder or file to write")
    return text


def parse_input(text: str) -> tuple:
    return parse_shape(text, "--input")


def parse_padding(text: str):
    if text in PADDINGS:
        return text
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--padding {text!r} must be an int or one of {', '.join(PADDINGS)}") from None


def first_layer(model):
    """(name, module) of the first layer with input channels and a kernel, or None."""
    return next(((n, m) for n, m in model.named_modules() if hasattr(m, "in_channels") and
                 hasattr(m, "kernel_size")), None)


def sample_shape(args, model) -> tuple:
    """One sample's shape: --input, or the model file's input_shape, checked against the first layer."""
    shape = parse_input(args.input) if args.input else getattr(model, "input_shape", None)
    if not shape:
        raise UsageError("give --input, e.g. --input 3x224x224 (the model names no input_shape)")
    first = first_layer(model)
    if first is not None:
        check_axes(shape, *first)
    return shape


def check_axes(shape: tuple, name: str, layer, given_as: str = "--input") -> None:
    """A shape with the wrong number of axes for the first layer, named with the shape it wants."""
    spatial = len(layer.kernel_size)
    if len(shape) == spatial + 1:
        return
    missing_channels = len(shape) == spatial and shape[0] != layer.in_channels
    sizes = list(shape if missing_channels else shape[1:] or shape)
    want = "x".join(map(str, [layer.in_channels, *(sizes + sizes[-1:] * spatial)[:spatial]]))
    given, what = f"{given_as} {'x'.join(map(str, shape))}", f"{type(layer).__name__} {name!r}"
    hint = f": {given_as} {want}" if given_as.startswith("--") else ""  # a data set's shape is no option
    if missing_channels:
        raise UsageError(f"{given} has no channel axis: {what} takes {layer.in_channels} channel(s) "
                         f"(channels x spatial sizes){hint}")
    raise UsageError(f"{given} has {len(shape)} axes but {what} takes {spatial + 1} "
                     f"(channels x {spatial} spatial sizes){hint}")
