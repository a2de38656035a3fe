"""Every third-party package phaseboard's code imports is one it declares: a plain
``pip install phaseboard`` (no test tools, which bring their own dependencies along) must be able
to import every module. Checked statically, from the import statements and the installed
distributions' top-level names."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = {"engine", "tui", "screens"}
PROVIDED_BY = {"rich": "textual"}
"""Imported directly, and pinned through the package that requires it (textual pins rich)."""


EXTRAS = {"dask": "engine/execution/dask_"}
"""Optional extras, and where the only modules importing what they add live (the import
contracts of pyproject.toml hold the others to it)."""


def declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {_norm(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in specs}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported() -> dict[str, str]:
    """Top-level third-party module -> a file importing it (at module level or lazily)."""
    found: dict[str, str] = {}
    for folder in sorted(OWN):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    owners = packages_distributions()
    wanted = declared()
    missing = {}
    for module, where in imported().items():
        dists = {_norm(d) for d in owners.get(module, [module])}
        here = wanted.union(*(declared(x) for x, at in EXTRAS.items() if where.startswith(at)))
        if not dists & here and PROVIDED_BY.get(module) not in wanted:
            missing[module] = where
    assert missing == {}, f"imported but not in [project].dependencies: {missing}"
