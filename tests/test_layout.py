"""Import layering, read from the source with ``ast`` (nothing is imported).

:func:`check_package` takes a package folder and a layer rule. It guards the whole of ``hdc_video``
(no import circle, no import of a higher layer: :data:`LAYERS`) and, more strictly, ``hdc_video.data``
(nothing from ``hdc_video`` but itself and the foundation modules).

Imports anywhere in a file count (inside functions too: they run eventually), and so do the
packages a dotted import passes through: ``from ..indexes.common import x`` runs
``indexes/__init__.py`` first, so it is an edge to ``indexes`` as well as to ``indexes.common``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

Rule = Callable[[str, str], bool]  # (importing module, imported dotted name) -> allowed?


def package_modules(pkg_dir: Path, pkg_name: str) -> dict[str, tuple[Path, bool]]:
    """``{dotted module name: (file, is_package)}`` for every ``.py`` file under ``pkg_dir``."""
    out = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = list(path.relative_to(pkg_dir).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join([pkg_name, *parts])] = (path, is_pkg)
    return out


def imported_names(path: Path, module: str, is_pkg: bool) -> list[tuple[str, int]]:
    """``(absolute dotted name, line)`` of everything ``path`` imports: a module, or
    ``module.attribute`` for ``from module import attribute`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if is_pkg else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out += [(base if a.name == "*" else f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def _resolve(name: str, known) -> str | None:
    """The longest prefix of ``name`` that is a known module (``None``: outside the package)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        candidate = ".".join(parts[:k])
        if candidate in known:
            return candidate
    return None


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def import_graph(pkg_dir: Path, pkg_name: str) -> dict[str, dict[str, int]]:
    """``{module: {imported module of the package: line}}``. An import of ``a.b.c`` is an edge to
    ``a.b.c`` and to the packages ``a.b`` / ``a`` it passes through, except those already being
    imported when the importer runs (its own package and their parents)."""
    mods = package_modules(pkg_dir, pkg_name)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for module, (path, is_pkg) in mods.items():
        running = set(_ancestors(module)) | {module}
        for name, line in imported_names(path, module, is_pkg):
            target = _resolve(name, mods)
            if target is None:
                continue
            for t in [*_ancestors(target), target]:
                if t in mods and t not in running:
                    graph[module].setdefault(t, line)
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import circle as ``[m0, m1, ..., m0]``, or ``None``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def describe_cycle(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def check_package(pkg_dir: Path, pkg_name: str, allowed: Rule) -> list[str]:
    """Every problem found: the import circle (if any) and every import ``allowed`` refuses."""
    problems = []
    graph = import_graph(pkg_dir, pkg_name)
    cycle = find_cycle(graph)
    if cycle:
        problems.append(f"import circle: {describe_cycle(cycle, graph)}")
    for module, (path, is_pkg) in package_modules(pkg_dir, pkg_name).items():
        for name, line in imported_names(path, module, is_pkg):
            if not allowed(module, name):
                problems.append(f"{path.relative_to(pkg_dir.parent)}:{line}: {module} imports {name}")
    return problems


FOUNDATION = ("hdc_video.dist", "hdc_video.checkpoint", "hdc_video.logs", "hdc_video.losses", "hdc_video.views")


def data_layer(module: str, name: str) -> bool:
    """``hdc_video.data`` uses itself, the foundation modules and third-party code only."""
    del module
    return not (name == "hdc_video" or name.startswith("hdc_video.")) or any(
        name == p or name.startswith(p + ".") for p in ("hdc_video.data", *FOUNDATION)
    )


def test_data_has_no_import_circle_and_imports_only_itself():
    problems = check_package(SRC / "hdc_video" / "data", "hdc_video.data", data_layer)
    assert not problems, "\n".join(problems)


def test_the_check_finds_circles_through_packages_and_layer_breaches(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from .x import X\n")
    (pkg / "a" / "x.py").write_text("def f():\n    from ..b import y\n")
    (pkg / "b.py").write_text("from pkg.a.x import X\nimport json\nfrom outside import z\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a.x"] == {"pkg.b": 2} and graph["pkg.b"] == {"pkg.a": 1, "pkg.a.x": 1}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and {"pkg.a.x", "pkg.b"} <= set(cycle)
    problems = check_package(pkg, "pkg", lambda m, n: n != "outside.z")
    assert problems[0].startswith("import circle: ") and "pkg.b (line 1)" in problems[0]
    assert problems[1:] == ["pkg/b.py:3: pkg.b imports outside.z"]
    (pkg / "a" / "x.py").write_text("import pkg\nfrom . import y\n")  # its own packages: no edge
    (pkg / "a" / "y.py").write_text("")
    assert find_cycle(import_graph(pkg, "pkg")) is None


# The layers of hdc_video, bottom up: a module may import its own layer and the ones below it
# (docs/ARCHITECTURE.md draws them). Within a layer, packages may use each other as long as no
# import circle forms (checked over the whole package).
LAYERS = [
    ("foundation", FOUNDATION),
    ("data", ("hdc_video.data",)),
    ("config and benchmark", ("hdc_video.config", "hdc_video.synth")),
    ("models", ("hdc_video.models",)),
    ("training", ("hdc_video.train",)),
    ("evaluation", ("hdc_video.eval",)),
    ("workflows and report", ("hdc_video.workflows", "hdc_video.report")),
    ("command line", ("hdc_video.commands", "hdc_video.cli", "hdc_video.__main__", "hdc_video")),
]


def layer_of(name: str) -> int | None:
    """The layer of a dotted ``hdc_video`` name (the longest matching prefix), None outside."""
    best, found = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    return found


def no_upward_import(module: str, name: str) -> bool:
    if not (name == "hdc_video" or name.startswith("hdc_video.")):
        return True
    mine, theirs = layer_of(module), layer_of(name)
    return theirs is None or mine is None or theirs <= mine


def test_hdc_video_has_no_import_circle_and_no_upward_import():
    problems = check_package(SRC / "hdc_video", "hdc_video", no_upward_import)
    assert not problems, "\n".join(problems)


def test_every_module_has_a_layer():
    mods = package_modules(SRC / "hdc_video", "hdc_video")
    assert [m for m in mods if layer_of(m) is None] == []
    assert layer_of("hdc_video.data.decoders.pyav") == 1 and layer_of("hdc_video") == 7
    assert not no_upward_import("hdc_video.models.hdc", "hdc_video.train.distributed.gather_with_grad")
