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


SEGMENTATION = ("fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")


def build(name: str):
    """A torchvision model by factory name: weights=None (no download), no auxiliary heads, and
    BatchNorm running statistics drawn non-trivially (so their eval path matters); eval mode.
    Seed it before calling for repeatable weights."""
    import torch

    models, segmentation = builders()
    kw = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kw.update(aux_logits=False, init_weights=False)
    if name in SEGMENTATION:
        kw["weights_backbone"] = None
        if not name.startswith("lraspp"):
            kw["aux_loss"] = False
    model = getattr(segmentation if name in SEGMENTATION else models, name)(**kw).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model
