"""The package layout holds: lower parts never import higher ones, and no module imports itself
back through others (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

AGENT = Path(__file__).resolve().parent.parent / "agent"

# Lower number = lower layer. A module may import its own package and lower layers only.
LAYERS = {
    "agent": 0, "lineprotocol": 0, "system": 0,
    "plugin": 1,
    "config": 2, "delivery": 2,
    "common": 3, "parsers": 3,
    "inputs": 4, "outputs": 4, "aggregators": 4,
    "engine": 5,
    "commands": 6,
    "cli": 7, "__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(AGENT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "agent")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "agent":
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _graph() -> Dict[str, Set[str]]:
    modules = {_module_name(p): p for p in AGENT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "agent"


def test_every_part_has_a_layer():
    parts = {_part(m) for m in _graph()}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def test_lower_parts_never_import_higher_ones():
    wrong = []
    for module, imported in _graph().items():
        for target in imported:
            if _part(target) != _part(module) and LAYERS[_part(target)] >= LAYERS[_part(module)]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_circles():
    graph = _graph()
    circles: List[str] = []

    def visit(node: str, path: List[str], done: Set[str]) -> None:
        if node in path:
            circles.append(" -> ".join(path[path.index(node):] + [node]))
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            if target.startswith(node + "."):
                continue  # a package importing its own submodules is not a circle
            visit(target, path + [node], done)
        done.add(node)

    done: Set[str] = set()
    for module in sorted(graph):
        visit(module, [], done)
    assert not circles, "\n".join(sorted(set(circles)))


def test_the_layers_check_can_fail():
    """The checks above see real imports: the engine imports config, so config sits lower."""
    graph = _graph()
    assert "agent.config.model" in graph["agent.engine.agent"]
    assert LAYERS["config"] < LAYERS["engine"]
