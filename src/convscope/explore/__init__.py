"""`convscope explore`: one self-contained HTML page for any model: a convolution playground, the
layer table with receptive fields, every unit's input box, and (with weights) feature maps,
saliency, kernels and the prediction. All numbers are computed here; the page only draws them."""
from .build import explore, page_data

__all__ = ["explore", "page_data"]
