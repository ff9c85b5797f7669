"""Bridges to PyTorch and ONNX (optional extras: convscope[torch], convscope[onnx]); the core of
convscope never imports them."""


def from_torch(module, input_shape=None):
    from .torch import from_torch as f

    return f(module, input_shape)


def to_torch(model):
    from .torch import to_torch as f

    return f(model)


__all__ = ["from_torch", "to_torch"]
