"""Static analysis of any model from a shape-only trace: summary tables, receptive fields, input
regions, saliency, class-activation maps, integrated gradients, and design comparisons."""
from .cam import cam, integrated_gradients
from .compare import Comparison, bottleneck, compare, conv_arithmetic, stacking
from .receptive import Field, receptive_field, receptive_region
from .saliency import saliency
from .summary import Row, Summary, summary
from .trace import Graph, trace

__all__ = ["summary", "Summary", "Row", "receptive_field", "receptive_region", "Field", "saliency", "cam", "integrated_gradients", "compare",
           "Comparison", "stacking", "bottleneck", "conv_arithmetic", "trace", "Graph"]
