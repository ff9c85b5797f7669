"""convscope: convolutional neural networks from first principles — exact, fast, explainable."""
from . import ops

__version__ = "0.1.0"
__all__ = ["ops", "__version__"]
