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
    BatchNorm statistics drawn non-trivially (`randomise_norms`); eval mode. Seed torch before
    calling for repeatable weights."""
    models, segmentation = builders()
    kw = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kw.update(aux_logits=False, init_weights=False)
    if name in SEGMENTATION:
        kw["weights_backbone"] = None
        if not name.startswith("lraspp"):
            kw["aux_loss"] = False
    return randomise_norms(getattr(segmentation if name in SEGMENTATION else models, name)(**kw))


def randomise_norms(model, seed: int = 0):
    """BatchNorm running statistics and affine parameters drawn away from the identity (fresh ones are
    mean 0, variance 1, weight 1, bias 0, which would hide a wrong eval path or fold); eval mode."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                if m.affine:
                    m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                    m.bias.copy_(0.3 * torch.randn(c, generator=gen))
    return model.eval()
