"""What a function's code can reach: a reference graph of the layer and the handler modules.

A node is a module-level function, class, method or global of ``lifecycle`` or of a handler
(``fn:<folder>`` for ``functions/<folder>/app.py``). A node's edges go to everything its code
names: ``name`` or ``module.name`` through its imports (lazy ones included), a class to its
methods, ``obj.method`` (whose object the graph cannot type) to every method of that name, and
``f("lifecycle.x", "name")`` to ``lifecycle.x.name`` (actions imported on first use). A handler
module reaches all its own definitions (routes register by decorator). Over-approximate by
design: a path through the graph may be one the code never takes, which ``NARROWED`` corrects
with its reason; a path the code takes is never missing unless it goes through a dynamic name.
"""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from local_runtime.template import ROOT

LAYER = ROOT / "layers" / "shared" / "python"
FUNCTIONS = ROOT / "functions"
HANDLER = "fn:"

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass
class Graph:
    modules: dict[str, ast.Module] = field(default_factory=dict)
    nodes: set[str] = field(default_factory=set)
    methods: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    imports: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def reach(self, start: str, narrowed: dict[tuple[str, str], tuple[str, ...]]) -> dict[str, str]:
        """Every node reachable from ``start`` → the node it was reached from (``start`` → "")."""
        came_from = {start: ""}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            targets = set(self.edges.get(node, ()))
            for (source, target), callers in narrowed.items():
                if node == source:
                    targets.discard(target)
                if node in callers:
                    targets.add(target)
            for target in targets - came_from.keys():
                came_from[target] = node
                queue.append(target)
        return came_from

    def path(self, came_from: dict[str, str], node: str) -> list[str]:
        found = [node]
        while came_from.get(found[-1]):
            found.append(came_from[found[-1]])
        return found[::-1]


def _module_name(path: Path) -> str:
    if path.is_relative_to(FUNCTIONS):
        return HANDLER + path.parent.name
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _assigned(statement: ast.stmt) -> list[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
    return [
        node.id for target in targets if target is not None for node in ast.walk(target) if isinstance(node, ast.Name)
    ]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _collect(graph: Graph, module: str, tree: ast.Module) -> None:
    imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.setdefault(
                    alias.asname or alias.name.split(".")[0], alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imports.setdefault(alias.asname or alias.name, f"{node.module}.{alias.name}")
    graph.imports[module] = imports
    for statement in tree.body:
        if isinstance(statement, _DEFS):
            graph.nodes.add(f"{module}.{statement.name}")
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            graph.nodes.update(f"{module}.{name}" for name in _assigned(statement))
        elif isinstance(statement, ast.ClassDef):
            graph.nodes.add(f"{module}.{statement.name}")
            for member in statement.body:
                if isinstance(member, _DEFS):
                    qualified = f"{module}.{statement.name}.{member.name}"
                    graph.nodes.add(qualified)
                    graph.methods[member.name].add(qualified)


def _resolve(graph: Graph, module: str, dotted: str) -> str | None:
    head, _, rest = dotted.partition(".")
    if f"{module}.{head}" in graph.nodes:
        base = f"{module}.{head}"
    elif head in graph.imports[module]:
        base = graph.imports[module][head]
    else:
        return None
    parts = (f"{base}.{rest}" if rest else base).split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in graph.nodes or candidate in graph.modules:
            return candidate
    return None


def _scan(graph: Graph, owner: str, module: str, code: list[ast.AST]) -> None:
    edges = graph.edges[owner]
    for top in code:
        for node in ast.walk(top):
            if isinstance(node, ast.Attribute | ast.Name):
                dotted = _dotted(node)
                target = _resolve(graph, module, dotted) if dotted else None
                if target is not None:
                    edges.add(target)
                elif isinstance(node, ast.Attribute):
                    edges.update(graph.methods.get(node.attr, ()))
            elif isinstance(node, ast.Call) and len(node.args) >= 2:
                first, second = node.args[:2]
                if isinstance(first, ast.Constant) and isinstance(second, ast.Constant):
                    edges.add(f"{first.value}.{second.value}")
    edges.discard(owner)


def _link(graph: Graph, module: str, tree: ast.Module) -> None:
    for statement in tree.body:
        if isinstance(statement, _DEFS):
            _scan(graph, f"{module}.{statement.name}", module, [*statement.body, *statement.args.defaults])
            _scan(graph, module, module, list(statement.decorator_list))
        elif isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            for name in _assigned(statement):
                _scan(graph, f"{module}.{name}", module, [statement.value])
        elif isinstance(statement, ast.ClassDef):
            owner = f"{module}.{statement.name}"
            members = [member for member in statement.body if not isinstance(member, _DEFS)]
            _scan(graph, owner, module, [*members, *statement.bases, *statement.decorator_list])
            for member in statement.body:
                if isinstance(member, _DEFS):
                    graph.edges[owner].add(f"{owner}.{member.name}")
                    _scan(graph, f"{owner}.{member.name}", module, list(member.body))
        elif not isinstance(statement, ast.Import | ast.ImportFrom):
            _scan(graph, module, module, [statement])
    if module.startswith(HANDLER):
        graph.edges[module].update(node for node in graph.nodes if node.startswith(f"{module}."))


@cache
def graph() -> Graph:
    built = Graph()
    paths = sorted(LAYER.joinpath("lifecycle").rglob("*.py")) + sorted(FUNCTIONS.glob("*/app.py"))
    for path in paths:
        built.modules[_module_name(path)] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for module, tree in built.modules.items():
        _collect(built, module, tree)
    for module, tree in built.modules.items():
        _link(built, module, tree)
    return built


def attribute_reads(names: frozenset[str], but_of: str) -> list[tuple[str, int, str]]:
    """Every ``<object>.<name>`` in the layer and the handlers, (module, line, name), but where
    ``<object>`` is the module ``but_of`` itself, and but in ``but_of``."""
    built = graph()
    found = []
    for module, tree in built.modules.items():
        if module == but_of:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in names:
                owner = _dotted(node.value)
                if owner is None or _resolve(built, module, owner) != but_of:
                    found.append((module, node.lineno, node.attr))
    return found
