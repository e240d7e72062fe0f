"""The package's import picture: each top-level module and subpackage is a unit, and no unit imports one
that imports it back; nor, module by module (inside one package too), does any module import one that
imports it back at any depth. Imports inside functions and under TYPE_CHECKING count."""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dreamvideo"


def unit(module: str) -> str:
    """'dreamvideo.video.render' -> 'dreamvideo.video'; 'dreamvideo.config' stays."""
    return ".".join(module.split(".")[:2])


def imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Which units each unit imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] if node.module != "dreamvideo" else [f"dreamvideo.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("dreamvideo.") and unit(name) != unit(module):
                    edges[unit(module)].add(unit(name))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found = []

    def walk(path: list[str]) -> None:
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest unit
                walk(path + [nxt])

    for start in sorted(edges):
        walk([start])
    return found


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """'dreamvideo/video/render.py' -> 'dreamvideo.video.render'; a package's __init__.py is the package."""
    return ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")


def module_imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Which of the package's modules each module imports, wherever the import stands (at the top, inside a
    function, under TYPE_CHECKING), relative imports and ``importlib.import_module("...")`` included.
    ``from a.b import c`` is an import of the module ``a.b.c`` where there is one, else of ``a.b``; the
    packages above a module imported are not counted (importing them is Python's, not the module's, doing)."""
    root = package.name
    modules = {module_name(path, package): path for path in package.rglob("*.py")}

    def target(name: str) -> str | None:  # the longest module that ``name`` is or is inside
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]  # for relative imports
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and \
                    isinstance(node.args[0].value, str) and ast.unparse(node.func) in (
                        "importlib.import_module", "import_module", "__import__"):
                names = [node.args[0].value]
            else:
                continue
            for name in names:
                if (name == root or name.startswith(root + ".")) and (found := target(name)) and found != module:
                    edges[module].add(found)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One circle for each group of modules that import each other, at any depth (a strongly connected
    component of the import graph): its smallest module, the shortest way back to it, and that module again."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []
    nodes = sorted(set(edges) | {m for targets in edges.values() for m in targets})
    for start in nodes:  # Tarjan's algorithm, without recursion
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, targets = work[-1]
            for nxt in targets:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    break
                if nxt in stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in edges.get(node, ()):
                        groups.append(group)
    found = []
    for group in groups:  # breadth first inside the group: the shortest way from its smallest module back
        first = min(group)
        came: dict[str, str | None] = {first: None}
        waiting = deque([first])
        while waiting:
            node = waiting.popleft()
            if first in edges.get(node, ()):
                path = [node]
                while (before := came[path[-1]]) is not None:
                    path.append(before)
                found.append(path[::-1] + [first])
                break
            for nxt in sorted(edges.get(node, ())):
                if nxt in group and nxt not in came:
                    came[nxt] = node
                    waiting.append(nxt)
    return sorted(found)


def test_no_unit_imports_one_that_imports_it_back():
    assert cycles(imports()) == []


def test_no_module_imports_one_that_imports_it_back():
    """Module by module, inside a package as well as across: no circle at any depth."""
    found = circles(module_imports())
    assert found == [], "import circles:\n" + "\n".join(" -> ".join(circle) for circle in found)


def test_the_ground_floor_imports_nothing_above_it():
    edges = imports()
    assert edges["dreamvideo.media"] <= {"dreamvideo.errors"}
    for lower in ("dreamvideo.dreamer", "dreamvideo.engine", "dreamvideo.composite", "dreamvideo.react",
                  "dreamvideo.look", "dreamvideo.coherence"):
        assert not edges[lower] & {"dreamvideo.video", "dreamvideo.studio", "dreamvideo.cli", "dreamvideo.batch"}, lower


def test_the_check_finds_a_cycle(tmp_path):
    for name, body in {"a.py": "from dreamvideo.b import x\n", "b.py": "def f():\n    from dreamvideo.a import y\n"}.items():
        (tmp_path / "dreamvideo").mkdir(exist_ok=True)
        (tmp_path / "dreamvideo" / name).write_text(body)
    assert cycles(imports(tmp_path / "dreamvideo")) == [["dreamvideo.a", "dreamvideo.b", "dreamvideo.a"]]


def test_the_circle_finder_finds_every_circle_once_at_any_depth():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a", "f"}, "f": {"e"}, "g": {"h"}}
    assert circles(edges) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"d"}}) == []
    # one group, two ways round: its shortest circle through the smallest module
    assert circles({"a": {"b", "x"}, "b": {"c"}, "c": {"a"}, "x": {"a"}}) == [["a", "x", "a"]]


def test_the_module_check_finds_a_circle_inside_one_package(tmp_path):
    """The circle the unit check cannot see (both ends in one package), through a function's import, a
    TYPE_CHECKING import and a relative one."""
    package = tmp_path / "dreamvideo"
    files = {
        "__init__.py": "",
        "studio/__init__.py": "",
        "studio/app.py": "from dreamvideo.studio.live import page\nfrom dreamvideo import errors\n",
        "studio/live.py": "def page():\n    from dreamvideo.studio import app\n",
        "errors.py": "",
        "web/__init__.py": "",
        "web/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "web/b.py": "from dreamvideo.web.c import C\n",
        "web/c.py": "import dreamvideo.web.a\n",
        "media/__init__.py": "from dreamvideo.media import ffmpeg\n",
        "media/ffmpeg.py": "from dreamvideo.errors import MediaError\n",
    }
    for name, body in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(body)
    assert cycles(imports(package)) == []  # unit by unit: nothing
    assert circles(module_imports(package)) == [
        ["dreamvideo.studio.app", "dreamvideo.studio.live", "dreamvideo.studio.app"],
        ["dreamvideo.web.a", "dreamvideo.web.b", "dreamvideo.web.c", "dreamvideo.web.a"]]
