"""Bridges to PyTorch and ONNX (optional extras: convscope[torch], convscope[onnx]); the core of
convscope never imports them."""


def from_torch(module, input_shape=None):
    from .torch import from_torch as f

    return f(module, input_shape)


def analysis_model(module, input_shape):
    from .torch import analysis_model as f

    return f(module, input_shape)


def to_torch(model):
    from .torch import to_torch as f

    return f(model)


def to_onnx(model, input_shape, path, batch_size="batch"):
    from .onnx import to_onnx as f

    return f(model, input_shape, path, batch_size)


def from_onnx(path, meta=False):
    from .onnx_import import from_onnx as f

    return f(path, meta)


__all__ = ["from_torch", "analysis_model", "to_torch", "to_onnx", "from_onnx"]
