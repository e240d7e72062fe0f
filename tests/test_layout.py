"""The package's import picture: each top-level module and subpackage is a unit, and no unit imports one
that imports it back, counting imports inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from collections import defaultdict
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


def test_no_unit_imports_one_that_imports_it_back():
    assert cycles(imports()) == []


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
