"""The arrows of DESIGN.md, checked on the source: which app may import which, and how long a
module may grow.

    config ──> every app; apps read settings from django.conf, never `config`
    core   <── every app (core imports no app)
    accounts <── listings <── marketplace ──> payments ──> accounts
    devtools/ is never imported by the product

Every import counts, at module level or inside a function (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "accounts", "listings", "marketplace", "payments")
# app → the apps it may import besides itself
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "accounts": frozenset({"core"}),
    "listings": frozenset({"core", "accounts"}),
    "payments": frozenset({"core", "accounts"}),
    "marketplace": frozenset({"core", "accounts", "listings", "payments"}),
}
NEVER_IMPORTED = frozenset({"config", "devtools", "bench", "scripts", "tests"})
MAX_MODULE_LINES = 550
# folders whose modules may be long (generated migrations, tests, benchmarks) or are not ours
LENGTH_EXEMPT_PARTS = frozenset({"migrations", "tests", "bench", ".venv", ".git", "node_modules", ".run"})


def _product_modules(app: str) -> list[Path]:
    return sorted(
        path
        for path in (ROOT / app).rglob("*.py")
        if not {"migrations", "tests"} & set(path.relative_to(ROOT).parts)
    )


def _imported_top_levels(path: Path) -> list[tuple[int, str]]:
    """(line, first dotted part) of every absolute import in the module, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _violations(app: str) -> list[str]:
    project = set(APPS) | NEVER_IMPORTED
    forbidden = []
    for path in _product_modules(app):
        for line, top in _imported_top_levels(path):
            if top == app or top not in project:
                continue
            if top in NEVER_IMPORTED or top not in ALLOWED[app]:
                forbidden.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    return forbidden


@pytest.mark.parametrize("app", APPS)
def test_imports_follow_the_arrows_of_the_design(app):
    assert _violations(app) == []


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from config import settings\n    import listings.models\n")
    assert [top for _, top in _imported_top_levels(module)] == ["config", "listings"]


def _project_modules() -> list[Path]:
    """Every .py file of the project outside the exempt folders (which are not even walked)."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in LENGTH_EXEMPT_PARTS]
        found.extend(Path(folder) / name for name in files if name.endswith(".py"))
    return found


def test_no_module_outside_migrations_tests_and_bench_is_too_long():
    """DESIGN.md: a module that passes ~500 lines becomes a package with one module per domain."""
    too_long = []
    for path in _project_modules():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert too_long == []
