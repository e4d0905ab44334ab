"""The package's shape: folders by layer, imports only downward, small files.

Every module under ``leakwatch/`` is parsed with ``ast`` (never imported), and
every import between leakwatch modules is an edge, wherever it sits: at the
top, inside a function, or under ``TYPE_CHECKING``.  An import that runs up
the layers fails wherever it sits; an import cycle fails unless one of its
edges is under ``TYPE_CHECKING`` only (a type named for annotations runs no
code).  A file over the size limit (unless listed with its reason) or a
module without a docstring fails here with the offender named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import leakwatch
from leakwatch._base.model import KINDS

PACKAGE = Path(leakwatch.__file__).parent
MAX_LINES = 350

# Bottom to top: a module may import from its own layer or a lower one.  The
# longest matching prefix decides a module's layer.
LAYERS: dict[str, int] = {
    "leakwatch._base": 0,  # value types, file names, files, platform, Python versions
    "leakwatch._report": 1,  # the Report and its forms: text, HTML, JSON schema, errors
    "leakwatch._attribution": 2,  # creation stacks, origins, why-alive
    "leakwatch._probes": 3,  # one probe per kind of resource
    "leakwatch._native": 3,  # native allocator counters and their stacks
    "leakwatch._engine": 4,  # snapshot, settle, diff, describe
    "leakwatch._rules": 5,  # config, settings, ignore rules, known leaks, policy
    "leakwatch._watch": 6,  # the Python API shell: watch() and check()
    "leakwatch._suite": 6,  # what the test-runner shells share: spans, findings, results
    "leakwatch._pytest": 7,  # the pytest plugin shell
    "leakwatch._run": 7,  # the leakwatch run shell
    "leakwatch._unittest": 7,  # the unittest runner shell (and Django's)
    "leakwatch._service": 7,  # the running-service shell: middleware, debug pages, diff
    "leakwatch._cli": 8,
    "leakwatch.pytest_plugin": 8,
    "leakwatch.unittest": 8,  # python -m leakwatch.unittest: runs the shell only
    "leakwatch.django": 8,  # Django's DiscoverRunner, watched: re-exports only
    "leakwatch.service": 8,  # re-exports of leakwatch._service
    "leakwatch.__main__": 9,
    "leakwatch": 10,  # the public facade: re-exports only
}

# Files allowed over MAX_LINES, each with its reason: a cohesive module that
# would only be split into parts that call each other back.  None so far.
TOO_BIG_OK: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(leakwatch module imported, name taken from it or "") for one import."""
    if isinstance(node, ast.Import):
        return [(alias.name, "") for alias in node.names]
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        out.append((sub, "") if sub in MODULES else (source, alias.name))
    return out


def _owner(name: str) -> str | None:
    """The leakwatch module that ``name`` (a dotted import target) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of import nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            found.update(id(n) for part in node.body for n in ast.walk(part))
    return found


def _graph(type_checking: bool = True) -> dict[str, dict[str, str]]:
    """module -> {imported module: "path:line" of the first such import}
    (``type_checking=False``: leaving out imports made for annotations only)."""
    graph: dict[str, dict[str, str]] = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set() if type_checking else _type_checking_only(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skip:
                continue
            for target, _ in _targets(module, path, node):
                owner = _owner(target) if target.startswith("leakwatch") else None
                if owner is not None and owner != module:
                    where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                    graph[module].setdefault(owner, where)
    return graph


GRAPH = _graph()


def _layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_checker_sees_the_package() -> None:
    assert "leakwatch._engine.watcher" in MODULES
    assert "leakwatch._base.model" in GRAPH["leakwatch._engine.watcher"]
    assert _cycle({"a": {"b": ""}, "b": {"a": ""}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b": ""}, "b": {}}) is None
    under = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\nimport y\n"
    )
    inside = _type_checking_only(under)
    names = [
        n.names[0].name for n in ast.walk(under) if isinstance(n, ast.Import) and id(n) in inside
    ]
    assert names == ["x"]


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph(type_checking=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        assert any(module == p or module.startswith(p + ".") for p in LAYERS), module


def test_imports_only_run_down_the_layers() -> None:
    upward = [
        f"{where}: {module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target, where in targets.items()
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_nothing_inside_imports_the_facade() -> None:
    """``from leakwatch import _x`` names a submodule; the facade's names are for users."""
    bad = []
    for module, path in MODULES.items():
        if module == "leakwatch":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, name in _targets(module, path, node):
                    if target == "leakwatch" and (name or isinstance(node, ast.Import)):
                        bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not bad, bad


def test_files_stay_small() -> None:
    big = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(big) <= set(TOO_BIG_OK), dict(sorted(big.items(), key=lambda kv: -kv[1]))


def test_every_module_says_what_it_is_for() -> None:
    missing = [
        str(path.relative_to(PACKAGE.parent))
        for path in MODULES.values()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not missing, missing


def _folder(module: str) -> str:
    """The layer folder a module is in (``leakwatch._probes``), or the module."""
    return ".".join(module.split(".")[:2])


def test_no_private_name_is_taken_across_folders() -> None:
    """A name another layer uses is public in its module: ``_x`` stays inside
    its folder (a module aliased ``as _x`` is not a name taken)."""
    taken = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            for source, name in _targets(module, path, node):
                if (
                    name.startswith("_")
                    and not name.startswith("__")
                    and source.startswith("leakwatch")
                    and _folder(source) != _folder(module)
                ):
                    taken.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}")
    assert not taken, "\n".join(taken)


def _kind_names(path: Path) -> set[str]:
    """Resource kinds named as string constants in code (docstrings aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in KINDS and id(node) not in docs
    }


#: Where the engine still names a kind, and why.
ENGINE_NAMES_KINDS = {
    # A warning a gc pass brought out is filed under the kind it speaks of.
    "_engine/collect.py": {"fd", "task", "heap"},
}


def test_the_engine_names_no_kind() -> None:
    """What differs between kinds is a fact or a method of the kind's probe
    (``leakwatch._probes.protocol.Probe``): settling and describing ask it."""
    named = {
        str(path.relative_to(PACKAGE)): found
        for module, path in MODULES.items()
        if module.startswith("leakwatch._engine") and (found := _kind_names(path))
    }
    assert named == ENGINE_NAMES_KINDS


def test_referents_are_asked_only_through_the_version_shim() -> None:
    """``gc.get_referents`` corrupts the interpreter when asked of the
    ``_asyncio`` module on some Pythons (``_base.pyversion.referents``): every
    other module asks through the shim, so no search can meet it unguarded."""
    shim = PACKAGE / "_base" / "pyversion.py"
    asking = {
        str(path.relative_to(PACKAGE))
        for path in MODULES.values()
        if path != shim
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "get_referents"
    }
    assert asking == set()
