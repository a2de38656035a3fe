"""What a repository's manifests and configuration say: CI files and their matrices, and the
declared dependencies of Python, Node, Go and Rust projects (runtime versions: :mod:`runtimes`).

Read without third-party parsers (no YAML library): CI matrices are found line by line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from repo_scan import Repo

CI_PATTERNS = (
    ".github/workflows/*.yml", ".github/workflows/*.yaml", ".gitlab-ci.yml", ".circleci/config.yml",
    "Jenkinsfile", "azure-pipelines.yml", ".travis.yml", "bitbucket-pipelines.yml", ".drone.yml",
)  # fmt: skip


def ci_files(repo: Repo) -> list[str]:
    return repo.matching(*CI_PATTERNS)


def ci_matrix_values(text: str, key: str) -> list[str]:
    """The values given to ``key`` in a CI file (inline lists, block lists, scalars), in order;
    ``python-version: ${{ matrix.python }}`` is followed to the matrix's ``python`` values."""
    values: list[str] = []
    for name in re.findall(rf"{re.escape(key)}\s*:\s*\$\{{\{{\s*matrix\.([\w-]+)", text, re.I):
        if name.lower() != key.lower():
            values += ci_matrix_values(text, name)
    lines = text.splitlines()
    pattern = re.compile(rf"^(\s*)-?\s*{re.escape(key)}\s*:\s*(.*)$", re.I)
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if not match:
            continue
        indent, value = len(match.group(1)), match.group(2).split("#")[0].strip()
        if value.startswith("${{"):
            continue
        if value.startswith("["):
            values += [v.strip(" '\"") for v in value.strip("[]").split(",") if v.strip(" '\"")]
        elif value:
            values.append(value.strip("'\""))
        else:
            for follow in lines[index + 1 :]:
                item = re.match(r"^(\s*)-\s*(.+)$", follow)
                if not item or len(item.group(1)) < indent:
                    break
                values.append(item.group(2).split("#")[0].strip(" '\""))
    return values


def package_json(repo: Repo) -> dict[str, Any]:
    try:
        data = json.loads(repo.text("package.json") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


_GO_REQUIRE = re.compile(r"^\s*(?:require\s+)?([\w.\-]+\.[\w.\-/]+)\s+(v[\w.\-+]+)", re.M)
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;#]*)")


def _python_requirement(text: str, source: str, dev: bool) -> dict[str, Any] | None:
    match = _REQ.match(text)
    if not match or text.strip().startswith(("-", "#")):
        return None
    return {"name": match.group(1), "spec": match.group(3).strip(), "source": source, "dev": dev}


def declared_dependencies(repo: Repo) -> dict[str, list[dict[str, Any]]]:
    """Dependencies the manifests declare, per ecosystem: [{name, spec, source, dev}]."""
    deps: dict[str, list[dict[str, Any]]] = {}

    def add(ecosystem: str, item: dict[str, Any] | None) -> None:
        if item:
            deps.setdefault(ecosystem, []).append(item)

    pyproject = repo.toml("pyproject.toml")
    project = pyproject.get("project", {})
    for text in project.get("dependencies", []):
        add("python", _python_requirement(text, "pyproject.toml", False))
    for group in project.get("optional-dependencies", {}).values():
        for text in group:
            add("python", _python_requirement(text, "pyproject.toml", True))
    poetry = pyproject.get("tool", {}).get("poetry", {})
    for table, dev in (("dependencies", False), ("dev-dependencies", True)):
        for name, spec in poetry.get(table, {}).items():
            if name != "python":
                text = spec if isinstance(spec, str) else str(spec.get("version", ""))
                add("python", {"name": name, "spec": text, "source": "pyproject.toml", "dev": dev})
    for rel in repo.matching("requirements*.txt", "requirements/*.txt"):
        dev = any(w in rel for w in ("dev", "test", "lint", "doc"))
        for line in repo.lines(rel):
            add("python", _python_requirement(line, rel, dev))
    package = package_json(repo)
    for table, dev in (("dependencies", False), ("devDependencies", True)):
        for name, spec in (package.get(table) or {}).items():
            add("node", {"name": name, "spec": str(spec), "source": "package.json", "dev": dev})
    for match in _GO_REQUIRE.finditer(repo.text("go.mod") or ""):
        add(
            "go", {"name": match.group(1), "spec": match.group(2), "source": "go.mod", "dev": False}
        )
    cargo = repo.toml("Cargo.toml")
    for table, dev in (("dependencies", False), ("dev-dependencies", True)):
        for name, spec in cargo.get(table, {}).items():
            text = spec if isinstance(spec, str) else str(spec.get("version", ""))
            add("rust", {"name": name, "spec": text, "source": "Cargo.toml", "dev": dev})
    return deps
