"""torchvision's model builders, importable beside a CPU-only torch: torchvision's compiled ops are
CUDA-linked, and only its meta and autograd registrations touch them at import time. The
classification and segmentation models use none of those ops, so the two modules are stubbed."""
import sys
import types


def builders():
    """(torchvision.models, torchvision.models.segmentation)."""
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision.models as models
    import torchvision.models.segmentation as segmentation

    return models, segmentation
