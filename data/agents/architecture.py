"""Analysis agent 1, System Architecture: components, entry points, dependencies, import edges,
services and configuration, and the runtime versions the project declares.

``--lite`` is the standby backup: two directory levels and no import graph, for a repository too
large or too broken for the full pass. ``runtime.<name>`` is the declared range (``>=3.9``),
reported under the same path as the infrastructure agent's configured versions, so consolidation
can check that every configured version fits the range; ``evidence`` says where each was read.
"""

from __future__ import annotations

import argparse
import ast
import re
import time
from collections import defaultdict
from pathlib import Path

import agentlib
import manifests
import repo_scan
import runtimes
from repo_scan import Repo, is_test_file, risk

CONFIG_PATTERNS = (
    "docker-compose*.yml", "docker-compose*.yaml", "compose.yml", "compose.yaml", "Dockerfile*",
    ".env.example", ".env.sample", "*.toml", "*.ini", "*.cfg", "Makefile", "Procfile",
    "package.json", "tsconfig.json", "go.mod", "Cargo.toml", "requirements*.txt",
)  # fmt: skip
_JS_IMPORT = re.compile(r"""(?:from\s*|require\(\s*|import\s*\(?\s*)['"](\.{1,2}/[^'"]+)['"]""")
_MAIN_GUARD = re.compile(r"^if __name__ == ['\"]__main__['\"]", re.M)
_JS_EXTS = ("", ".js", ".ts", ".jsx", ".tsx", ".mjs", "/index.js", "/index.ts")


def python_edges(repo: Repo) -> set[tuple[str, str]]:
    """(importer, imported) pairs between the project's own Python modules, tests left out."""
    modules = repo.python_modules
    edges: set[tuple[str, str]] = set()
    for name, rel in modules.items():
        tree = repo.python_tree(rel)
        if tree is None or is_test_file(rel):
            continue
        package = name if rel.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".") if package else []
                    parts = parts[: len(parts) - node.level + 1] if node.level > 1 else parts
                    base = ".".join(p for p in [*parts, base] if p)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                found = _longest_known(target, modules)
                if found and found != name and not is_test_file(modules[found]):
                    edges.add((name, found))
                    break
    return edges


def _longest_known(dotted: str, modules: dict[str, str]) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def js_edges(repo: Repo) -> set[tuple[str, str]]:
    known = set(repo.files)
    edges: set[tuple[str, str]] = set()
    for rel in repo.source_files("javascript") + repo.source_files("typescript"):
        if is_test_file(rel):
            continue
        for spec in _JS_IMPORT.findall(repo.text(rel) or ""):
            base = Path(rel).parent / spec
            for ext in _JS_EXTS:
                target = Path(str(base) + ext)
                resolved = _normpath(target)
                if resolved in known:
                    edges.add((rel.rsplit(".", 1)[0], resolved.rsplit(".", 1)[0]))
                    break
    return edges


def _normpath(path: Path) -> str:
    parts: list[str] = []
    for part in path.as_posix().split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def go_edges(repo: Repo) -> set[tuple[str, str]]:
    match = re.search(r"^module\s+(\S+)", repo.text("go.mod") or "", re.M)
    if not match:
        return set()
    prefix = match.group(1) + "/"
    edges: set[tuple[str, str]] = set()
    for rel in repo.source_files("go"):
        here = str(Path(rel).parent) if "/" in rel else "."
        for target in re.findall(rf'"{re.escape(prefix)}([^"]+)"', repo.text(rel) or ""):
            if target != here:
                edges.add((here, target))
    return edges


def components(repo: Repo) -> tuple[list[dict[str, object]], dict[str, str]]:
    """Source directories (Python packages by dotted name) with module and line counts, and the
    component owning each import-graph node (Python module, JS file stem, Go directory)."""
    groups: dict[str, dict[str, object]] = {}
    owner: dict[str, str] = {}
    dotted = {rel: name for name, rel in repo.python_modules.items()}
    for rel in repo.source_files():
        if is_test_file(rel):
            continue
        folder = rel.rsplit("/", 1)[0] if "/" in rel else "."
        module = dotted.get(rel, "")
        if rel.endswith("__init__.py") and module:
            name = module
        elif "." in module:
            name = module.rpartition(".")[0]
        else:
            name = folder
        owner[module or rel.rsplit(".", 1)[0]] = name
        owner.setdefault(folder, name)
        entry = groups.setdefault(
            name,
            {"name": name, "path": folder, "language": _language(rel), "modules": 0, "lines": 0},
        )
        entry["modules"] = int(str(entry["modules"])) + 1
        entry["lines"] = int(str(entry["lines"])) + len(repo.lines(rel))
    return sorted(groups.values(), key=lambda c: str(c["name"])), owner


def _language(rel: str) -> str:
    return repo_scan.SOURCE_LANGUAGES.get(Path(rel).suffix, "other")


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Groups of modules that import each other in a ring (strongly connected, size > 1).

    Tarjan's algorithm, iterative so that a long import chain cannot exhaust the stack.
    """
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    item = stack.pop()
                    on_stack.discard(item)
                    group.append(item)
                    if item == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def entry_points(repo: Repo) -> list[dict[str, str]]:
    points: list[dict[str, str]] = []
    pyproject = repo.toml("pyproject.toml")
    project = pyproject.get("project", {})
    for table in ("scripts", "gui-scripts"):
        for name, target in project.get(table, {}).items():
            points.append({"name": name, "kind": "console_script", "target": str(target)})
    for name, target in pyproject.get("tool", {}).get("poetry", {}).get("scripts", {}).items():
        points.append({"name": name, "kind": "console_script", "target": str(target)})
    for module, rel in sorted(repo.python_modules.items()):
        if rel.endswith("__main__.py") and "." in module:
            package = module.rpartition(".")[0]
            points.append({"name": package, "kind": "python -m", "target": f"python -m {package}"})
        elif not is_test_file(rel) and _MAIN_GUARD.search(repo.text(rel) or ""):
            points.append({"name": module, "kind": "script", "target": rel})
    package = manifests.package_json(repo)
    bins = package.get("bin")
    for name, target in (
        bins if isinstance(bins, dict) else {package.get("name", "bin"): bins}
    ).items():
        if isinstance(target, str):
            points.append({"name": str(name), "kind": "node_bin", "target": target})
    if isinstance(package.get("main"), str):
        points.append({"name": "main", "kind": "node_main", "target": package["main"]})
    for rel in repo.source_files("go"):
        if re.search(r"^package main\b", repo.text(rel) or "", re.M) and rel.endswith("main.go"):
            folder = rel.rsplit("/", 1)[0] if "/" in rel else "."
            points.append({"name": folder, "kind": "go_main", "target": f"go run ./{folder}"})
    if repo.exists("src/main.rs"):
        points.append({"name": "main", "kind": "cargo_bin", "target": "cargo run"})
    return points[:50]


def services(repo: Repo) -> list[dict[str, str]]:
    """Services of docker-compose files and Procfiles (read without a YAML parser)."""
    found: list[dict[str, str]] = []
    for rel in repo.matching("docker-compose*.yml", "docker-compose*.yaml", "compose.y*ml"):
        inside, indent = False, None
        for line in repo.lines(rel):
            if re.match(r"^services\s*:", line):
                inside, indent = True, None
                continue
            if inside and line.strip() and not line.startswith((" ", "\t")):
                inside = False
            match = re.match(r"^(\s+)([\w.-]+)\s*:\s*$", line) if inside else None
            if match and (indent is None or len(match.group(1)) == indent):
                indent = len(match.group(1))
                found.append({"name": match.group(2), "source": rel})
    for line in repo.lines("Procfile"):
        if ":" in line and not line.startswith("#"):
            found.append({"name": line.split(":", 1)[0].strip(), "source": "Procfile"})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lite", action="store_true", help="shallow pass without import graph")
    root, args = repo_scan.start("architecture analysis", parser)
    started = time.monotonic()
    depth = repo_scan.depth_limit() or (2 if args.lite else None)
    repo = Repo(root, max_depth=depth)
    agentlib.progress(f"listed {len(repo.files)} files" + (f" (depth {depth})" if depth else ""))

    comps, owner = components(repo)
    agentlib.progress(f"found {len(comps)} components")
    edges: set[tuple[str, str]] = set()
    if not args.lite:
        edges = python_edges(repo) | js_edges(repo) | go_edges(repo)
        agentlib.progress(f"resolved {len(edges)} internal import edges")
    component_edges = sorted(
        {(a, b) for x, y in edges if (a := owner.get(x, ".")) != (b := owner.get(y, "."))}
    )
    rings = cycles(edges)
    deps = manifests.declared_dependencies(repo)
    declared = runtimes.declared_runtimes(repo)
    points = entry_points(repo)
    languages: dict[str, int] = defaultdict(int)
    for rel in repo.source_files():
        languages[_language(rel)] += 1
    agentlib.progress(f"{len(points)} entry points, {sum(map(len, deps.values()))} dependencies")

    risks = []
    if rings:
        shown = "; ".join(" <-> ".join(group[:4]) for group in rings[:3])
        risks.append(risk("arch.import_cycles", "medium", f"{len(rings)} import cycle(s)", shown))
    if repo.source_files() and not points:
        risks.append(risk("arch.no_entry_point", "low", "No entry point declared"))
    if repo.source_files("python") and "python" not in declared:
        risks.append(
            risk("arch.python_undeclared", "low", "No requires-python in the project metadata")
        )
    findings = {
        "project": {
            "name": repo.toml("pyproject.toml").get("project", {}).get("name") or root.name,
            "files": len(repo.files),
            "languages": dict(sorted(languages.items())),
            "truncated": repo.truncated,
        },
        "components": comps[:100],
        "modules": len(repo.python_modules),
        "entry_points": points,
        "dependencies": deps,
        "imports": {
            "edges": sorted(map(list, edges))[:500],
            "component_edges": [list(e) for e in component_edges][:300],
            "cycles": rings[:10],
        },
        "services": services(repo),
        "config_files": repo.matching(*CONFIG_PATTERNS, *manifests.CI_PATTERNS)[:100],
        "declared_runtime": declared,
        "runtime": {name: item["range"] for name, item in declared.items()},
    }
    runtime = ", ".join(f"{k} {v['spec']} ({v['source']})" for k, v in declared.items())
    agentlib.result(
        {
            "summary": (
                f"{len(comps)} components, {len(repo.python_modules)} Python modules, "
                f"{len(points)} entry points, {len(edges)} internal import edges; "
                f"declared runtime: {runtime or 'none'}"
            ),
            "findings": findings,
            "risks": risks,
            "dependencies": [
                f"{eco}:{d['name']}{d['spec']}"
                for eco, items in deps.items()
                for d in items
                if not d["dev"]
            ],
            "metrics": {"files": len(repo.files), "duration_ms": repo_scan.elapsed_ms(started)},
            "evidence": {
                f"runtime.{name}": [
                    {
                        "file": item["source"],
                        "line": item["line"],
                        "text": item["text"],
                        "value": item["range"],
                    }
                ]
                for name, item in declared.items()
            },
        }
    )


if __name__ == "__main__":
    main()
