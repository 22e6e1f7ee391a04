"""The package's layers, read from its imports (ast, nothing is imported):

    wgpu_tensor (__init__) -> tensor -> opdefs, autograd -> ops.* -> view -> runtime.*, dtypes

A module may import modules of its own layer or below, never above; the imports
form no cycle; and no package import hides inside a function (the old way of
holding a cycle apart)."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "wgpu_tensor"

RANK = {"wgpu_tensor": 0, "wgpu_tensor.tensor": 1, "wgpu_tensor.opdefs": 2, "wgpu_tensor.autograd": 2,
        "wgpu_tensor.ops": 3, "wgpu_tensor.view": 4, "wgpu_tensor.runtime": 5, "wgpu_tensor.dtypes": 5,
        "wgpu_tensor.shaders": 5, "wgpu_tensor.nn": 0}


def rank(mod):
    """The layer of a module: its own entry, else its package's (ops.select -> ops)."""
    while mod not in RANK:
        if "." not in mod:
            raise KeyError(mod)
        mod = mod.rsplit(".", 1)[0]
    return RANK[mod]


def module_name(path, root):
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_imports(source, mod, is_pkg, modules):
    """[(imported module, line, at module level?)] for the imports of ``mod`` that
    name a module of the package (``modules``: every module's dotted name)."""
    out = []
    tree = ast.parse(source)
    top = set(map(id, tree.body))

    def resolve(node):
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = mod if is_pkg else mod.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            base = base.rsplit(".", 1)[0]
        target = (base + "." + node.module if node.module else base) if node.level else node.module
        # `from . import creation` names a module; `from .view import View` a name in one.
        return [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in resolve(node):
                if name == "wgpu_tensor" or name.startswith("wgpu_tensor."):
                    out.append((name, node.lineno, id(node) in top))
    return out


def check(sources):
    """Problems in a {module: (source, is_package)} map: upward imports,
    function-local package imports, cycles."""
    modules = set(sources)
    problems, graph = [], {m: set() for m in modules}
    for mod, (src, is_pkg) in sources.items():
        for target, line, at_top in package_imports(src, mod, is_pkg, modules):
            if not at_top:
                problems.append(f"{mod}:{line} imports {target} inside a function or block")
            if rank(target) < rank(mod):
                problems.append(f"{mod}:{line} imports {target}, a layer above it")
            if target in graph and target != mod:
                graph[mod].add(target)
    # Cycles: Tarjan's strongly connected components.
    index, low, stack, on, counter = {}, {}, [], set(), [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                problems.append("import cycle: " + " -> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return problems


def package_sources():
    return {module_name(p, PKG): (p.read_text(), p.name == "__init__.py") for p in PKG.rglob("*.py")}


def test_every_module_has_a_layer():
    for mod in package_sources():
        rank(mod)


def test_no_cycle_no_upward_import_no_local_import():
    assert check(package_sources()) == []


@pytest.mark.parametrize("mod, src, what", [
    ("wgpu_tensor.ops.select", "from ..tensor import Tensor\n", "a layer above"),
    ("wgpu_tensor.ops.select", "def f():\n    from . import index\n", "inside a function"),
    ("wgpu_tensor.view", "import wgpu_tensor.opdefs\n", "a layer above"),
])
def test_checker_catches(mod, src, what):
    """The checker is not blind: a planted upward or function-local import is reported."""
    sources = package_sources()
    sources[mod] = (sources[mod][0] + src, False)
    assert any(what in p and p.startswith(mod) for p in check(sources)), check(sources)


def test_checker_catches_a_cycle():
    sources = package_sources()
    index_src, _ = sources["wgpu_tensor.ops.index"]
    sources["wgpu_tensor.ops.index"] = (index_src + "from . import select\n", False)
    assert any(p.startswith("import cycle") and "wgpu_tensor.ops.select" in p for p in check(sources))
