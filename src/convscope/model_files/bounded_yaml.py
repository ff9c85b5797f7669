"""YAML read with bounds, before anything is built from it: a model file is text a user (or anyone)
hands over, and YAML's anchors and aliases let a few hundred bytes stand for billions of values.

The document is composed into YAML's node graph first (aliases there are shared nodes, so this is
linear in the text), its size counted as if every alias were written out (memoised, so also
linear), and refused past `MAX_VALUES` values or `MAX_DEPTH` levels of nesting. Only then are
Python values made. Text that is not UTF-8 is refused naming the byte.
"""
from __future__ import annotations

MAX_VALUES = 200_000  # every scalar, list and mapping, aliases written out: DenseNet-121 is ~15,000
MAX_DEPTH = 100  # nesting levels: model files need a few dozen at most

def decode(data: bytes | str, where: str) -> str:
    """The text of a model file; a ValueError naming the file and the first byte that is not UTF-8."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not UTF-8 text (byte {err.start}: {data[err.start:err.start + 1]!r}); "
                         "a model file is YAML text") from None


def load(text: str, where: str, loader_class):
    """The Python value of a YAML document, refused (one ValueError) when it is not valid YAML, nests
    deeper than MAX_DEPTH or holds more than MAX_VALUES values with its aliases written out."""
    import yaml

    loader = loader_class(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ValueError(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
        except yaml.YAMLError as err:
            raise ValueError(f"{where}: not valid YAML{_at(err)}: {getattr(err, 'problem', None) or err}") from None
        if node is None:
            return None
        _check_size(node, where)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as err:  # a tag such as !!python/object: safe loading makes no objects
            raise ValueError(f"{where}: not a model file{_at(err)}: {getattr(err, 'problem', None) or err}") from None
    finally:
        loader.dispose()


def _check_size(root, where: str) -> None:
    """Count values and depth bottom-up, each node once (an alias is the same node object again)."""
    import yaml

    size, depth, stack = {}, {}, [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        children = [] if isinstance(node, yaml.ScalarNode) else \
            [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if not children_done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        size[id(node)] = 1 + sum(size[id(c)] for c in children)
        depth[id(node)] = 1 + max((depth[id(c)] for c in children), default=0)
        if size[id(node)] > MAX_VALUES:
            raise ValueError(f"{where}: line {node.start_mark.line + 1} stands for more than {MAX_VALUES:,} values "
                             "once its aliases (*name) are written out; write the layers themselves")
        if depth[id(node)] > MAX_DEPTH:
            raise ValueError(f"{where}: line {node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")


def _at(err) -> str:
    mark = getattr(err, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
