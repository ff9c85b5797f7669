"""Dependencies point one way: no convscope module imports itself through others, counting the imports
inside functions too (a deferred import is a dependency all the same, only a later one)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "convscope"

# The imports that still close a cycle, each a deferred one between modules that belong together: a
# Module's to_yaml and the model-file modules, the model-file modules among themselves, data/ and its files.
KNOWN = {("nn.module", "nn.spec"), ("nn.spec", "graphfile"), ("modelfile", "specs"), ("data.files", "data")}


def _modules() -> dict:
    """Dotted name (below convscope) -> (path, is a package)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _imports(name: str, path: Path, package: bool, modules: dict) -> set:
    """The convscope modules that module `name` imports, anywhere in its code."""
    here = name.split(".") if name else []
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name.removeprefix("convscope").lstrip(".") for a in node.names if
                       a.name.split(".")[0] == "convscope"]
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "convscope"):
            base = here if package else here[:-1]
            base = base[:len(base) - node.level + 1] if node.level else []
            module = (node.module or "").removeprefix("convscope").lstrip(".") if not node.level else node.module
            stem = ".".join(base + ([module] if module else []))
            named = [f"{stem}.{a.name}".lstrip(".") for a in node.names]  # a module, or a name in stem
            targets = [m if m in modules else stem for m in named]
        else:
            continue
        out |= {t for t in targets if t in modules and t != name}
    return out


def _cycles(edges: dict) -> list:
    """The groups of modules that reach each other (strongly connected, more than one module)."""
    reach = {m: set() for m in edges}
    for start in edges:
        todo = list(edges[start])
        while todo:
            m = todo.pop()
            if m not in reach[start]:
                reach[start].add(m)
                todo.extend(edges[m])
    groups = {frozenset(m2 for m2 in reach[m] if m in reach[m2]) | {m} for m in edges if m in reach[m]}
    return sorted(map(sorted, groups))


def test_the_import_graph_has_no_cycles_but_the_known_ones():
    modules = _modules()
    edges = {name: _imports(name, path, package, modules) for name, (path, package) in modules.items()}
    assert edges["cli"] >= {"cli_args", "draw_command"} and edges["nn.module"] >= {"nn.spec"}  # deferred ones too
    assert _cycles({m: {t for t in targets if (m, t) not in KNOWN} for m, targets in edges.items()}) == []


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == [["a", "b", "c"]]
