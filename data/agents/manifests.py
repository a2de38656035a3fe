"""What a repository's manifests and configuration say: declared and configured runtime versions,
CI files and their matrices, and declared dependencies of Python, Node, Go and Rust projects.

Read without third-party parsers (no YAML library): CI matrices are found line by line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from repo_scan import Repo, read_text

_VERSION = re.compile(r"(\d+)\.(\d+)")
_MAJOR = re.compile(r"(\d+)")
RUNTIMES: dict[str, dict[str, Any]] = {
    "python": {"files": [".python-version", "runtime.txt"], "ci_key": "python-version",
               "image": "python", "asdf": "python", "major_only": False},
    "node": {"files": [".nvmrc", ".node-version"], "ci_key": "node-version",
             "image": "node", "asdf": "nodejs", "major_only": True},
    "go": {"files": [".go-version"], "ci_key": "go-version",
           "image": "golang", "asdf": "golang", "major_only": False},
}  # fmt: skip
CI_PATTERNS = (
    ".github/workflows/*.yml", ".github/workflows/*.yaml", ".gitlab-ci.yml", ".circleci/config.yml",
    "Jenkinsfile", "azure-pipelines.yml", ".travis.yml", "bitbucket-pipelines.yml", ".drone.yml",
)  # fmt: skip


def normalise_version(text: str, runtime: str = "python") -> str | None:
    """'>=3.11' -> '3.11', 'python:3.12-slim' -> '3.12'; node to its major ('v20.1' -> '20')."""
    if RUNTIMES.get(runtime, {}).get("major_only"):
        match = _MAJOR.search(text)
        return match.group(1) if match else None
    match = _VERSION.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def declared_runtimes(repo: Repo) -> dict[str, dict[str, str]]:
    """Runtime versions the project's manifests declare: {runtime: {spec, version, source}}."""
    found: dict[str, dict[str, str]] = {}
    project = repo.toml("pyproject.toml").get("project", {})
    poetry = repo.toml("pyproject.toml").get("tool", {}).get("poetry", {})
    spec = project.get("requires-python") or poetry.get("dependencies", {}).get("python")
    source = "pyproject.toml"
    if not spec:
        match = re.search(r"python_requires\s*=\s*['\"]?([^'\"\n]+)", repo.text("setup.cfg") or "")
        match = match or re.search(
            r"python_requires\s*=\s*['\"]([^'\"]+)", repo.text("setup.py") or ""
        )
        spec, source = (match.group(1).strip(), "setup.cfg/setup.py") if match else (None, "")
    if isinstance(spec, str) and (version := normalise_version(spec)):
        found["python"] = {"spec": spec, "version": version, "source": source}
    engines = package_json(repo).get("engines") or {}
    node = engines.get("node") if isinstance(engines, dict) else None
    if isinstance(node, str) and (version := normalise_version(node, "node")):
        found["node"] = {"spec": node, "version": version, "source": "package.json"}
    match = re.search(r"^go\s+(\d+\.\d+)", repo.text("go.mod") or "", re.M)
    if match:
        found["go"] = {"spec": match.group(1), "version": match.group(1), "source": "go.mod"}
    return found


def configured_runtimes(repo: Repo) -> dict[str, list[dict[str, str]]]:
    """Runtime versions the environment is set up with, most authoritative source first."""
    found: dict[str, list[dict[str, str]]] = {}
    for runtime in RUNTIMES:
        seen = [
            {"version": version, "source": source}
            for text, source in _version_sources(repo, runtime)
            if (version := normalise_version(text, runtime))
        ]
        if seen:
            found[runtime] = seen
    return found


def _version_sources(repo: Repo, runtime: str) -> list[tuple[str, str]]:
    """(text holding a version, where it was found) for one runtime, in order of authority."""
    how = RUNTIMES[runtime]
    sources: list[tuple[str, str]] = []
    for name in how["files"]:
        first = next((ln.strip() for ln in repo.lines(name) if ln.strip()), "")
        if first:
            sources.append((first, name))
    for line in repo.lines(".tool-versions"):
        words = line.split()
        if len(words) >= 2 and words[0] == how["asdf"]:
            sources.append((words[1], ".tool-versions"))
    for rel in ci_files(repo):
        sources += [(value, rel) for value in ci_matrix_values(repo.text(rel) or "", how["ci_key"])]
    image = re.compile(rf"^\s*FROM\s+(?:\S+/)?{how['image']}:(\S+)", re.I | re.M)
    for rel in repo.matching("Dockerfile", "Dockerfile.*", "*.Dockerfile"):
        sources += [(match.group(1), rel) for match in image.finditer(repo.text(rel) or "")]
    if runtime == "python":
        for venv in (".venv", "venv"):
            cfg = read_text(repo.root / venv / "pyvenv.cfg") or ""
            match = re.search(r"^version(?:_info)?\s*=\s*(\S+)", cfg, re.M)
            if match:
                sources.append((match.group(1), f"{venv}/pyvenv.cfg"))
    return sources


def ci_files(repo: Repo) -> list[str]:
    return repo.matching(*CI_PATTERNS)


def ci_matrix_values(text: str, key: str) -> list[str]:
    """The values given to ``key`` in a CI file (inline lists, block lists, scalars), in order."""
    values: list[str] = []
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
