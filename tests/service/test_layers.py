"""The layering of docs ARCHITECTURE.md, read from the source: every import statement of
`service/`, `resolvers/`, `schema/` and `domain/`, function-level ones included (an import
hidden in a function to dodge a circle is still a circle).

A module's edge goes to the module it names: `from a.b import c` to `a.b.c` when that is a
module, else to `a.b`. The parent packages Python runs first are not edges of their own: a
package's `__init__` that re-exports its modules (service/usecases/engine) only looks down.
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "resolvers", "schema", "domain")
OURS = {*PACKAGES, "tests", "tools"}
DRIVER = {"pymongo", "bson", "motor"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES
            for path in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def _imported(name: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules one import statement of module `name` names."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from the importing module's package
        package = name.split(".")
        if not MODULES[name].name == "__init__.py":
            package.pop()
        package = package[:len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in MODULES else base


def imports_of(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    return {target for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
            for target in _imported(name, node)}


IMPORTS = {name: imports_of(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]


def test_no_service_module_imports_itself_round_a_circle() -> None:
    service = {name for name in MODULES if name.split(".")[0] == "service"}
    graph = {name: IMPORTS[name] & service for name in service}
    assert _cycles(graph) == []


def test_the_accrual_engine_has_no_function_level_imports() -> None:
    engine = [name for name in MODULES if name.startswith("service.usecases.engine")]
    assert engine, "the accrual engine package is gone"
    for name in engine:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        hidden = [node.lineno for function in ast.walk(tree)
                  if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                  for node in ast.walk(function) if isinstance(node, ast.Import | ast.ImportFrom)]
        assert hidden == [], f"{name}: imports inside functions at lines {hidden}"


USE_CASES = sorted(name for name in MODULES if name.startswith("service.usecases."))


@pytest.mark.parametrize("name", USE_CASES)
def test_a_use_case_never_touches_the_driver(name: str) -> None:
    driver = sorted(target for target in IMPORTS[name] if target.split(".")[0] in DRIVER)
    assert driver == [], f"{name} imports {driver}: give the repository a function for it"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.split(".")[0] == "domain"))
def test_the_domain_imports_only_the_standard_library_and_itself(name: str) -> None:
    outside = sorted(target for target in IMPORTS[name]
                     if target.split(".")[0] in OURS - {"domain"}
                     or target.split(".")[0] not in {*sys.stdlib_module_names, "domain"})
    assert outside == [], f"{name} imports {outside}"


# ---- schema/ and resolvers/: one direction only --------------------------------------------
# schema/root.py assembles Query and Mutation, naming each root field's resolver: it is the
# one module of schema/ that looks at resolvers/. Every other schema module is types, which
# read nested data through the loaders of the context (schema/context.py), so they import
# nothing of resolvers/ nor of the repositories; and resolvers/ (which build those types)
# never import the assembly.
SCHEMA_ROOT = "schema.root"
SCHEMA_TYPES = sorted(n for n in MODULES if n.split(".")[0] == "schema" and n != SCHEMA_ROOT)
RESOLVERS = sorted(n for n in MODULES if n.split(".")[0] == "resolvers")
FORBIDDEN_TO_TYPES = ("resolvers", "service.repositories")


def _under(target: str, package: str) -> bool:
    return target == package or target.startswith(f"{package}.")


def test_the_layer_rules_see_every_module() -> None:
    assert SCHEMA_ROOT in MODULES and {"schema", "schema.dealers"} <= set(SCHEMA_TYPES)
    assert "resolvers.loaders" in RESOLVERS and "resolvers.context" in RESOLVERS


@pytest.mark.parametrize("name", SCHEMA_TYPES)
def test_a_schema_type_module_never_imports_resolvers_nor_the_repositories(name: str) -> None:
    """Every import counts: at module level, under TYPE_CHECKING and inside functions."""
    found = sorted(target for target in IMPORTS[name]
                   if any(_under(target, banned) for banned in FORBIDDEN_TO_TYPES))
    assert found == [], f"{name} imports {found}: read it through info.context.loaders"


@pytest.mark.parametrize("name", RESOLVERS)
def test_a_resolver_module_never_imports_the_schema_assembly(name: str) -> None:
    assert SCHEMA_ROOT not in IMPORTS[name], \
        f"{name} imports {SCHEMA_ROOT}, which imports the resolvers"


def test_no_circle_runs_through_both_schema_and_resolvers() -> None:
    """Circles among schema types are the GraphQL type graph (Dealer.accruals, Accrual.dealer)
    and stay inside schema/; one reaching into resolvers/ would be the old knot."""
    ours = {*SCHEMA_TYPES, SCHEMA_ROOT, *RESOLVERS}
    graph = {name: IMPORTS[name] & ours for name in ours}
    crossing = [cycle for cycle in _cycles(graph)
                if len({member.split(".")[0] for member in cycle}) > 1]
    assert crossing == []


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _run_at_import(name: str) -> set[str]:
    """What importing `name` runs: its module-level imports (not those in functions or under
    TYPE_CHECKING), each with the parent packages Python runs first."""
    found: set[str] = set()
    pending = list(ast.parse(MODULES[name].read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _imported(name, node):
                parts = target.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.If | ast.Try) and not _is_type_checking(node):
            pending.extend([*node.body, *node.orelse,
                            *(s for h in getattr(node, "handlers", ()) for s in h.body)])
    return found - {name}


def test_importing_any_schema_or_resolver_module_first_never_meets_a_half_initialised_one(
        ) -> None:
    """The runtime view, parent packages included: `import resolvers.context` runs
    schema/__init__.py as soon as a type is imported, so that file must not lead back."""
    ours = {*SCHEMA_TYPES, SCHEMA_ROOT, *RESOLVERS}
    graph = {name: _run_at_import(name) & ours for name in ours}
    crossing = [cycle for cycle in _cycles(graph)
                if len({member.split(".")[0] for member in cycle}) > 1]
    assert crossing == []


def test_the_layer_rules_catch_a_function_level_import_of_a_resolver() -> None:
    source = "def f():\n    from resolvers.programs import visible_program\n"
    tree = ast.parse(source)
    found = {target for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
             for target in _imported("schema.dealers", node)}
    assert any(_under(target, "resolvers") for target in found)
