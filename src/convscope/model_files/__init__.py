"""Model files and the names that lead to them, in one package above `nn`:

- `document`: a model file read and written (`load_model`, `to_yaml`), in either form:
- `layer_spec`: the layer form, one layer as a mapping of its type and arguments, and back;
- `graph_form`: the graph form a converted network is written in (modules, steps, output);
- `zoo`: reference architectures (AlexNet, VGG-16, ResNets, ...) as model files, by name;
- `examples`: the small bundled models the tour, the experiments and the README train;
- `runs`: the run folders `convscope train` writes (model file, weights, history, checkpoint);
- `named`: what a user names (any of the above, a torch: spec or an .onnx file) made a model.
"""
from . import examples, zoo
from .document import load_model, to_yaml
from .values import parse_shape
from .named import resolve_model, summary
from .runs import load_run

__all__ = ["load_model", "to_yaml", "parse_shape", "resolve_model", "summary", "load_run", "zoo", "examples"]
