"""Analysis agent 2, Code and Patterns: sizes, longest and most complex functions, TODO/FIXME/XXX
markers, naming against each language's convention, and duplicated blocks.

Python is read through its syntax tree; JavaScript, TypeScript, Go and Rust functions are found
by their headers and braces, which is enough for lengths and a branch count.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import agentlib
import repo_scan
from repo_scan import Repo, is_test_file, risk

WINDOW = 6
"""Consecutive meaningful lines that make a duplicated block."""
_MARKER = re.compile(r"(?:#|//|/\*|\*|<!--|--|;)\s*(TODO|FIXME|XXX)\b[:\s]*(.*)")
_BRANCHES = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.IfExp, ast.comprehension,
    ast.match_case,
)  # fmt: skip
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_PY_FUNC_OK = re.compile(
    r"^_{0,2}[a-z][a-z0-9_]*$|^__\w+__$|^(visit|depart|leave)_\w+$|^do_[A-Z]+$"
)
_PY_FRAMEWORK = frozenset(
    {"setUp", "tearDown", "setUpClass", "tearDownClass", "setUpModule", "tearDownModule",
     "asyncSetUp", "asyncTearDown", "addCleanup"}
)  # fmt: skip
_PY_CLASS_OK = re.compile(r"^_{0,2}[A-Z][A-Za-z0-9]*$")
_C_HEADERS = {
    "javascript": re.compile(
        r"function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(|([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s*)?"
        r"(?:function\b|\([^()]*\)\s*=>)"
    ),
    "go": re.compile(r"^func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)\s*[\[(]"),
    "rust": re.compile(r"\bfn\s+([A-Za-z_]\w*)\s*[<(]"),
}
_C_HEADERS["typescript"] = _C_HEADERS["javascript"]
_C_BRANCH = re.compile(r"\b(?:if|for|while|case|catch|match)\b|&&|\|\||\?\s")


def python_functions(repo: Repo, rel: str) -> Iterator[dict[str, Any]]:
    tree = repo.python_tree(rel)
    if tree is None:
        return
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield {
                    "name": prefix + child.name,
                    "short": child.name,
                    "kind": "function",
                    "path": rel,
                    "line": child.lineno,
                    "lines": (child.end_lineno or child.lineno) - child.lineno + 1,
                    "complexity": python_complexity(child),
                }
                stack.append((child, f"{prefix}{child.name}."))
            elif isinstance(child, ast.ClassDef):
                yield {
                    "name": prefix + child.name,
                    "short": child.name,
                    "kind": "class",
                    "path": rel,
                    "line": child.lineno,
                }
                stack.append((child, f"{prefix}{child.name}."))
            else:
                stack.append((child, prefix))


def python_complexity(function: ast.AST) -> int:
    """McCabe's count: one plus each branch and each extra operand of ``and``/``or``."""
    count = 1
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, _NESTED):
            continue
        if isinstance(node, _BRANCHES):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
        pending.extend(ast.iter_child_nodes(node))
    return count


def braced_functions(repo: Repo, rel: str, language: str) -> Iterator[dict[str, Any]]:
    """Functions of a brace language: a header, then lines until its braces balance."""
    lines = repo.lines(rel)
    header = _C_HEADERS[language]
    for index, line in enumerate(lines):
        match = header.search(line)
        if not match or line.lstrip().startswith(("//", "*")):
            continue
        depth, opened, body = 0, False, []
        for end in range(index, min(len(lines), index + 2000)):
            text = re.sub(r"(['\"`]).*?\1", "", lines[end].split("//")[0])
            depth += text.count("{") - text.count("}")
            opened = opened or "{" in text
            body.append(text)
            if opened and depth <= 0:
                break
        if not opened:
            continue
        name = next(g for g in match.groups() if g)
        yield {
            "name": name,
            "short": name,
            "kind": "function",
            "path": rel,
            "line": index + 1,
            "lines": len(body),
            "complexity": 1 + sum(len(_C_BRANCH.findall(b)) for b in body[1:]),
        }


def naming_violation(item: dict[str, Any], language: str) -> str | None:
    """The convention ``item``'s name breaks, or None."""
    name = item["short"]
    if language == "python":
        if item["kind"] == "class":
            return None if _PY_CLASS_OK.match(name) else "CapWords"
        return None if _PY_FUNC_OK.match(name) or name in _PY_FRAMEWORK else "snake_case"
    if language in ("javascript", "typescript"):
        return "camelCase" if "_" in name.strip("_$") else None
    if language == "go":
        test = is_test_file(item["path"]) and name.startswith(("Test", "Benchmark", "Example"))
        return "MixedCaps" if "_" in name and not test else None
    if language == "rust":
        return None if re.match(r"^[a-z_][a-z0-9_]*$", name) else "snake_case"
    return None


def module_naming(rel: str) -> str | None:
    stem = Path(rel).stem
    return None if re.match(r"^[a-z_][a-z0-9_]*$", stem) else "lowercase module name"


def markers(repo: Repo, files: list[str]) -> list[dict[str, Any]]:
    found = []
    for rel in files:
        for number, line in enumerate(repo.lines(rel), 1):
            match = _MARKER.search(line)
            if match:
                text = match.group(2).strip().rstrip("*/-> ").strip()
                found.append(
                    {"path": rel, "line": number, "kind": match.group(1), "text": text[:120]}
                )
    return found


Lines = dict[str, list[tuple[int, str]]]
"""File -> its meaningful lines, as (line number, stripped text)."""


def duplicates(repo: Repo, files: list[str]) -> tuple[list[dict[str, Any]], int, int]:
    """Blocks of ``WINDOW`` or more meaningful lines that appear in more than one place; also the
    duplicated and the total count of meaningful lines."""
    meaningful: Lines = {rel: _meaningful_lines(repo, rel) for rel in files}
    blocks = [
        block
        for rel, starts in sorted(_duplicated_windows(meaningful).items())
        for block in _blocks(rel, starts, meaningful)
    ]
    total = sum(len(kept) for kept in meaningful.values())
    return blocks, sum(b["lines"] for b in blocks), total


def _meaningful_lines(repo: Repo, rel: str) -> list[tuple[int, str]]:
    """Lines that say something: not blank, not trivial, not comments or imports."""
    return [
        (n, text)
        for n, raw in enumerate(repo.lines(rel), 1)
        if len(text := raw.strip()) >= 4
        and not text.startswith(("#", "//", "import ", "from ", '"""', "*", "/*"))
    ]


def _duplicated_windows(meaningful: Lines) -> dict[str, dict[int, tuple[str, int]]]:
    """File -> start of each duplicated window -> another place where it occurs."""
    seen: dict[bytes, list[tuple[str, int]]] = defaultdict(list)
    for rel, kept in meaningful.items():
        for i in range(len(kept) - WINDOW + 1):
            text = "\n".join(t for _, t in kept[i : i + WINDOW])
            seen[hashlib.blake2b(text.encode(), digest_size=12).digest()].append((rel, i))
    duplicated: dict[str, dict[int, tuple[str, int]]] = defaultdict(dict)
    for places in seen.values():
        for place in places if len(places) > 1 else []:
            if (other := _apart_from(place, places)) is not None:
                duplicated[place[0]][place[1]] = other
    return duplicated


def _blocks(rel: str, starts: dict[int, tuple[str, int]], meaningful: Lines) -> list[dict]:
    """Consecutive duplicated windows of one file merged into blocks."""
    kept = meaningful[rel]
    blocks: list[dict[str, Any]] = []
    run: list[int] = []
    for index in [*sorted(starts), -10]:
        if run and index != run[-1] + 1:
            other_rel, other_index = starts[run[0]]
            blocks.append(
                {
                    "path": rel,
                    "start": kept[run[0]][0],
                    "end": kept[run[-1] + WINDOW - 1][0],
                    "lines": len(run) + WINDOW - 1,
                    "also_in": f"{other_rel}:{meaningful[other_rel][other_index][0]}",
                }
            )
            run = []
        run.append(index)
    return blocks


def _apart_from(place: tuple[str, int], places: list[tuple[str, int]]) -> tuple[str, int] | None:
    """Another occurrence that does not overlap ``place``, or None (``places`` is in file order)."""
    first, last = places[0], places[-1]
    if place[0] != first[0]:
        return first
    if last[0] != first[0]:
        return last
    if place[1] - first[1] >= WINDOW:
        return first
    return last if last[1] - place[1] >= WINDOW else None


class Measured:
    """Sizes, functions and naming of a set of source files."""

    def __init__(self, repo: Repo, files: list[str]) -> None:
        self.by_language: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "lines": 0})
        self.sizes: list[dict[str, Any]] = []
        self.functions: list[dict[str, Any]] = []
        self.naming: list[dict[str, Any]] = []
        self.checked = 0
        for rel in files:
            self._file(repo, rel, repo_scan.SOURCE_LANGUAGES[Path(rel).suffix])

    def _file(self, repo: Repo, rel: str, language: str) -> None:
        count = len(repo.lines(rel))
        self.by_language[language]["files"] += 1
        self.by_language[language]["lines"] += count
        self.sizes.append({"path": rel, "lines": count})
        if language == "python":
            items = list(python_functions(repo, rel))
            if (why := module_naming(rel)) and not rel.endswith("__init__.py"):
                self.naming.append(
                    {"path": rel, "line": 1, "name": Path(rel).stem, "expected": why}
                )
        elif language in _C_HEADERS:
            items = list(braced_functions(repo, rel, language))
        else:
            return
        for item in items:
            self.checked += 1
            if why := naming_violation(item, language):
                self.naming.append(
                    {"path": rel, "line": item["line"], "name": item["name"], "expected": why}
                )
            if item["kind"] == "function":
                self.functions.append({k: v for k, v in item.items() if k not in ("short", "kind")})

    @property
    def lines(self) -> int:
        return sum(s["lines"] for s in self.sizes)


def code_risks(
    measured: Measured,
    threshold: int,
    long: int,
    found_markers: list[dict[str, Any]],
    blocks: list[dict[str, Any]],
    dup_percent: float,
) -> list[dict[str, str]]:
    risks = []
    complex_functions = [f for f in measured.functions if f["complexity"] > threshold]
    if complex_functions:
        worst = max(complex_functions, key=lambda f: f["complexity"])
        severity = "high" if worst["complexity"] >= 3 * threshold else "medium"
        detail = f"worst: {worst['name']} ({worst['path']}:{worst['line']}, {worst['complexity']})"
        title = f"{len(complex_functions)} function(s) over complexity {threshold}"
        risks.append(risk("code.complex_functions", severity, title, detail))
    long_functions = [f for f in measured.functions if f["lines"] > long]
    if long_functions:
        title = f"{len(long_functions)} function(s) longer than {long} lines"
        risks.append(risk("code.long_functions", "low", title))
    if found_markers:
        kinds = sorted({m["kind"] for m in found_markers})
        counts = ", ".join(f"{sum(m['kind'] == k for m in found_markers)} {k}" for k in kinds)
        risks.append(risk("code.markers", "low", f"Open markers in the code: {counts}"))
    if blocks:
        severity = "medium" if dup_percent > 5 else "low"
        title = f"{len(blocks)} duplicated block(s), {dup_percent}% of code lines"
        risks.append(risk("code.duplication", severity, title))
    if measured.naming:
        title = f"{len(measured.naming)} name(s) against the language convention"
        risks.append(risk("code.naming", "low", title))
    return risks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complexity", type=int, default=10, help="complexity threshold")
    parser.add_argument("--long", type=int, default=60, help="lines that make a function long")
    root, args = repo_scan.start("code and pattern analysis", parser)
    started = time.monotonic()
    repo = Repo(root, max_depth=repo_scan.depth_limit())
    files = repo.source_files()
    agentlib.progress(f"reading {len(files)} source files")
    measured = Measured(repo, files)
    functions = measured.functions
    agentlib.progress(f"measured {len(functions)} functions")
    found_markers = markers(repo, files)
    blocks, dup_lines, meaningful = duplicates(repo, [f for f in files if not is_test_file(f)])
    dup_percent = round(100 * dup_lines / meaningful, 1) if meaningful else 0.0
    agentlib.progress(f"{len(found_markers)} markers, {len(blocks)} duplicated blocks")

    complex_functions = sorted(
        (f for f in functions if f["complexity"] > args.complexity), key=lambda f: -f["complexity"]
    )
    kinds: dict[str, int] = defaultdict(int)
    for item in found_markers:
        kinds[item["kind"]] += 1
    findings = {
        "sizes": {
            "files": len(files),
            "lines": measured.lines,
            "by_language": dict(sorted(measured.by_language.items())),
            "largest_files": sorted(measured.sizes, key=lambda s: -s["lines"])[:10],
        },
        "functions": {"count": len(functions), "complexity_threshold": args.complexity},
        "longest_functions": sorted(functions, key=lambda f: -f["lines"])[:10],
        "complex_functions": complex_functions[:20],
        "markers": {
            "count": len(found_markers),
            "by_kind": dict(kinds),
            "items": found_markers[:50],
        },
        "naming": {
            "checked": measured.checked,
            "violations": len(measured.naming),
            "items": measured.naming[:20],
        },
        "duplicates": {
            "blocks": len(blocks),
            "duplicated_lines": dup_lines,
            "percent": dup_percent,
            "items": blocks[:10],
        },
    }
    agentlib.result(
        {
            "summary": (
                f"{len(files)} source files, {measured.lines} lines; {len(functions)} functions, "
                f"{len(complex_functions)} over complexity {args.complexity}; "
                f"{len(found_markers)} TODO/FIXME/XXX; {len(blocks)} duplicated blocks"
            ),
            "findings": findings,
            "risks": code_risks(
                measured, args.complexity, args.long, found_markers, blocks, dup_percent
            ),
            "dependencies": [],
            "metrics": {"files": len(files), "duration_ms": repo_scan.elapsed_ms(started)},
        }
    )


if __name__ == "__main__":
    main()
