"""Testing agent 3, Documentation: README sections, docstring coverage of the Python code, broken
relative links in Markdown, and the presence of a changelog and a docs folder.

``findings.documentation.incomplete`` counts the missing documentation items (a README section,
files with broken links, docstring coverage under the bar, no changelog): the number the
production-readiness decision adds to its warnings.
"""

from __future__ import annotations

import argparse
import ast
import re
import time
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import agentlib
import repo_scan
from doc_sections import changelog, readme
from repo_scan import Repo, is_test_file, risk

_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
_REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_FENCED = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def docstrings(repo: Repo) -> dict[str, Any]:
    """Public modules, classes and functions with a docstring, out of all: the public API.
    Tests, private modules (``_parser.py``, anything inside ``_internal/``), the docs' own
    Python and packaging scripts (``setup.py``, ``noxfile.py``) are not API and are left out."""
    documented = total = 0
    missing: list[str] = []
    exported = _reexported(repo)
    for rel in repo.source_files("python"):
        tree = repo.python_tree(rel)
        public = _public_module(rel)
        if tree is None or is_test_file(rel) or not (public or rel in exported):
            continue
        items: list[tuple[str, Any]] = [(f"{rel} (module)", tree)] if tree.body and public else []
        items += [
            (f"{rel}:{node.lineno} {node.name}", node)
            for node in _public_defs(tree.body)
            if public or node.name in exported[rel]
        ]
        for label, node in items:
            total += 1
            if ast.get_docstring(node):
                documented += 1
            else:
                missing.append(label)
    percent = round(100 * documented / total, 1) if total else 100.0
    return {"documented": documented, "total": total, "percent": percent, "missing": missing[:20]}


def _reexported(repo: Repo) -> dict[str, set[str]]:
    """Names a public module imports from a private sibling (``from ._parser import loads``):
    API defined in a private module, which counts as public."""
    found: dict[str, set[str]] = {}
    for rel in repo.source_files("python"):
        tree = repo.python_tree(rel)
        if tree is None or not _public_module(rel) or is_test_file(rel):
            continue
        folder = PurePosixPath(rel).parent
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                target = (folder / (node.module.replace(".", "/") + ".py")).as_posix()
                found.setdefault(target, set()).update(a.name for a in node.names)
    return found


def _public_module(rel: str) -> bool:
    parts = rel.split("/")
    if parts[0] in ("docs", "doc") or parts[-1] in ("setup.py", "noxfile.py", "fabfile.py"):
        return False
    names = [p.removesuffix(".py") for p in parts]
    return not any(n.startswith("_") and n not in ("__init__", "__main__") for n in names)


def _public_defs(body: list[ast.stmt]) -> list[Any]:
    """Public classes, functions and methods; functions nested in functions are not API."""
    found: list[Any] = []
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                found.append(node)
            if isinstance(node, ast.ClassDef):
                found += _public_defs(node.body)
    return found


def broken_links(repo: Repo) -> list[dict[str, Any]]:
    broken = []
    known = set(repo.files)
    folders = {str(PurePosixPath(f).parent) for f in known}
    for rel in repo.matching("*.md", "*.markdown"):
        text = _FENCED.sub("", repo.text(rel) or "")
        text = re.sub(r"`[^`\n]*`", "", text)
        base = PurePosixPath(rel).parent
        for target in _INLINE_LINK.findall(text) + _REF_LINK.findall(text):
            if _SCHEME.match(target) or target.startswith(("#", "//")):
                continue
            path = unquote(target.split("#", 1)[0].split("?", 1)[0])
            if not path:
                continue
            candidate = PurePosixPath(path.lstrip("/")) if path.startswith("/") else base / path
            resolved = _normalise(candidate)
            if resolved is None or not (
                resolved in known or resolved in folders or repo.path(resolved).exists()
            ):
                broken.append({"path": rel, "target": target})
    return broken


def _normalise(path: PurePosixPath) -> str | None:
    """The path inside the repository, or None when it climbs out of it."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts) or "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-docstrings", type=float, default=50.0, help="percent expected")
    root, args = repo_scan.start("documentation review", parser)
    started = time.monotonic()
    repo = Repo(root)
    found_readme = readme(repo)
    agentlib.progress(f"README: {found_readme['path'] or 'missing'}")
    doc = docstrings(repo)
    agentlib.progress(f"docstrings: {doc['documented']}/{doc['total']} ({doc['percent']}%)")
    broken = broken_links(repo)
    agentlib.progress(f"{len(broken)} broken relative links")
    found_changelog = changelog(repo)
    docs_dir = any(f.startswith("docs/") for f in repo.files)

    incomplete: list[str] = []
    if found_readme["path"] is None:
        incomplete.append("README missing")
    else:
        incomplete += [f"README section missing: {s}" for s in found_readme["missing_sections"]]
    incomplete += [f"broken links in {p}" for p in sorted({b["path"] for b in broken})]
    if doc["total"] and doc["percent"] < args.min_docstrings:
        incomplete.append(f"docstring coverage {doc['percent']}% < {args.min_docstrings}%")
    if found_changelog is None:
        incomplete.append("no changelog")
    risks = []
    if broken:
        where = ", ".join(f"{b['path']} -> {b['target']}" for b in broken[:5])
        title = f"{len(broken)} broken relative link(s)"
        risks.append(risk("docs.broken_links", "medium", title, where))
    if incomplete:
        title = f"{len(incomplete)} documentation item(s) missing"
        risks.append(risk("docs.incomplete", "low", title, "; ".join(incomplete)))
    agentlib.result(
        {
            "summary": (
                f"{len(incomplete)} documentation item(s) missing; docstrings {doc['percent']}%; "
                f"{len(broken)} broken link(s)"
            ),
            "findings": {
                "documentation": {
                    "readme": found_readme,
                    "docstrings": {**doc, "min_percent": args.min_docstrings},
                    "broken_links": broken[:50],
                    "changelog": found_changelog,
                    "docs_dir": docs_dir,
                    "incomplete_items": incomplete,
                    "incomplete": len(incomplete),
                }
            },
            "risks": risks,
            "dependencies": [],
            "metrics": {"files": len(repo.files), "duration_ms": repo_scan.elapsed_ms(started)},
        }
    )


if __name__ == "__main__":
    main()
