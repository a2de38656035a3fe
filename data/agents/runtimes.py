"""Runtime versions a repository declares, and those it is configured or tested with, each with
the file, line and text it was read from (the evidence a conflict shows the operator).

*Declared* is a range the project promises to support (``requires-python``, ``engines.node``,
``go.mod``'s ``go`` line), written as a range even where the manifest writes a bare version.
*Configured* is a version an environment actually uses or a job tests: ``.python-version`` and
friends, ``.tool-versions``, CI matrices, tox and nox environments, Dockerfile base images and the
workspace's own virtual environment. Consolidation compares the two with ``version_in_range``:
a configured version outside the declared range is a conflict, any other difference is not.
"""

from __future__ import annotations

import re
from typing import Any

from manifests import ci_files, ci_matrix_values, package_json
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
_TOX_ENV = re.compile(r"^(?:py|pypy)(\d)\.?(\d{1,2})(?:$|[-_])")
_NOX_PYTHON = re.compile(r"python\s*=\s*(\[[^\]]*\]|\(.*?\)|['\"][^'\"]+['\"])", re.S)
Evidence = dict[str, Any]


def normalise_version(text: str, runtime: str = "python") -> str | None:
    """'3.12-slim' -> '3.12', 'pypy3.10' -> '3.10'; node to its major ('v20.1' -> '20')."""
    if RUNTIMES.get(runtime, {}).get("major_only"):
        match = _MAJOR.search(text)
        return match.group(1) if match else None
    match = _VERSION.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def where(repo: Repo, rel: str, needle: str | re.Pattern[str]) -> tuple[int | None, str]:
    """(line number, stripped line) of the first line of ``rel`` holding ``needle``."""
    for number, line in enumerate(repo.lines(rel), 1):
        if needle.search(line) if isinstance(needle, re.Pattern) else needle in line:
            return number, line.strip()[:200]
    return None, ""


def declared_runtimes(repo: Repo) -> dict[str, Evidence]:
    """{runtime: {spec, range, version, source, line, text}}: what the manifests promise.
    ``range`` is ``spec`` as a range (a bare ``3.11`` from Poetry is ``==3.11.*``, go.mod's
    ``go 1.21`` is ``>=1.21``, npm's ``18`` is ``18.x``); ``version`` its lowest version named."""
    found: dict[str, Evidence] = {}
    pyproject = repo.toml("pyproject.toml")
    spec = (pyproject.get("project") or {}).get("requires-python")
    key = "requires-python"
    if not spec:
        deps = ((pyproject.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
        spec, key = deps.get("python"), "python"
    source = "pyproject.toml"
    if not isinstance(spec, str):
        spec = None
        for rel, pattern in (
            ("setup.cfg", r"python_requires\s*=\s*['\"]?([^'\"\n]+)"),
            ("setup.py", r"python_requires\s*=\s*['\"]([^'\"]+)"),
        ):
            match = re.search(pattern, repo.text(rel) or "")
            if match:
                spec, source, key = match.group(1).strip(), rel, "python_requires"
                break
    if spec:
        bare = re.fullmatch(r"\s*v?(\d+(?:\.\d+)*)\s*", spec)
        as_range = f"=={bare.group(1)}.*" if bare else spec
        found["python"] = _declared(repo, spec, as_range, "python", source, key)
    engines = package_json(repo).get("engines") or {}
    node = engines.get("node") if isinstance(engines, dict) else None
    if isinstance(node, str) and normalise_version(node, "node"):
        bare = re.fullmatch(r"\s*v?(\d+(?:\.\d+)*)\s*", node)
        as_range = f"{bare.group(1)}.x" if bare else node
        found["node"] = _declared(repo, node, as_range, "node", "package.json", '"node"')
    match = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)", repo.text("go.mod") or "", re.M)
    if match:
        found["go"] = _declared(
            repo, match.group(1), f">={match.group(1)}", "go", "go.mod", re.compile(r"^go\s")
        )
    return {name: item for name, item in found.items() if item["version"]}


def _declared(
    repo: Repo, spec: str, as_range: str, runtime: str, source: str, needle: Any
) -> Evidence:
    line, text = where(repo, source, needle)
    return {
        "spec": spec,
        "range": as_range,
        "version": normalise_version(spec, runtime),
        "source": source,
        "line": line,
        "text": text or spec,
    }


def lower_bound(spec: str) -> tuple[int, ...] | None:
    """The lowest version a declared range admits, when it names one (``>=3.8`` -> (3, 8))."""
    match = re.search(r"(?:>=|~=|\^|~|==)\s*v?(\d+(?:\.\d+)*)", spec) or re.fullmatch(
        r"\s*v?(\d+(?:\.\d+)*)\s*", spec
    )
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def configured_runtimes(repo: Repo) -> dict[str, list[Evidence]]:
    """{runtime: [{version, source, line, text, tested}]}, most authoritative source first;
    ``tested`` marks CI, tox and nox entries (versions a job runs the project's tests on)."""
    found: dict[str, list[Evidence]] = {}
    for runtime in RUNTIMES:
        seen = [
            {"version": version, **item}
            for item in _version_sources(repo, runtime)
            if (version := normalise_version(item["found"], runtime))
        ]
        if seen:
            found[runtime] = seen
    return found


def _source(value: str, rel: str, line: int | None, text: str, tested: bool) -> Evidence:
    return {"found": value, "source": rel, "line": line, "text": text[:200], "tested": tested}


def _version_sources(repo: Repo, runtime: str) -> list[Evidence]:
    how = RUNTIMES[runtime]
    sources: list[Evidence] = []
    for name in how["files"]:
        for number, line in enumerate(repo.lines(name), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                sources.append(_source(line.strip(), name, number, line.strip(), False))
                break
    for number, line in enumerate(repo.lines(".tool-versions"), 1):
        words = line.split()
        if len(words) >= 2 and words[0] == how["asdf"]:
            sources += [_source(w, ".tool-versions", number, line, False) for w in words[1:]]
    for rel in ci_files(repo):
        text = repo.text(rel) or ""
        for value in ci_matrix_values(text, how["ci_key"]):
            line, shown = where(repo, rel, value)
            sources.append(_source(value, rel, line, shown or value, True))
    image = re.compile(rf"^\s*FROM\s+(?:\S+/)?{how['image']}:(\S+)", re.I)
    for rel in repo.matching("Dockerfile", "Dockerfile.*", "*.Dockerfile"):
        for number, line in enumerate(repo.lines(rel), 1):
            match = image.match(line)
            if match:
                sources.append(_source(match.group(1), rel, number, line, False))
    if runtime == "python":
        sources += _tox_envs(repo) + _nox_pythons(repo)
        for venv in (".venv", "venv"):
            cfg = read_text(repo.root / venv / "pyvenv.cfg") or ""
            for number, line in enumerate(cfg.splitlines(), 1):
                match = re.match(r"^version(?:_info)?\s*=\s*(\S+)", line)
                if match:
                    sources.append(
                        _source(match.group(1), f"{venv}/pyvenv.cfg", number, line, False)
                    )
                    break
    return sources


def _tox_envs(repo: Repo) -> list[Evidence]:
    """Python versions of the tox environments (``envlist = py3{9,10}, pypy310``, ``py311``)."""
    found: list[Evidence] = []
    for rel in ("tox.ini", "tox.toml", "pyproject.toml"):
        lines = repo.lines(rel)
        for index, line in enumerate(lines):
            if not re.match(r"^\s*(env_?list|envlist)\s*=", line):
                continue
            block = [(index, line.split("=", 1)[1])]
            for offset, follow in enumerate(lines[index + 1 :], index + 1):
                if follow[:1] in (" ", "\t") or follow.strip().startswith(("]", '"')):
                    block.append((offset, follow))
                else:
                    break
            for number, text in block:
                for name in _expand(re.sub(r"[\[\]\"']", " ", text)):
                    match = _TOX_ENV.match(name)
                    if match:
                        version = f"{match.group(1)}.{match.group(2)}"
                        found.append(_source(version, rel, number + 1, lines[number].strip(), True))
    return found


def _expand(text: str) -> list[str]:
    """tox's envlist with its braces expanded: ``py3{9,10}-lint`` -> py39-lint, py310-lint."""
    names: list[str] = []
    for word in re.split(r"[,\s]+(?![^{]*\})", text):
        parts = [""]
        for piece in re.split(r"(\{[^}]*\})", word.strip()):
            options = piece[1:-1].split(",") if piece.startswith("{") else [piece]
            parts = [p + o.strip() for p in parts for o in options]
        names += [p for p in parts if p]
    return names


def _nox_pythons(repo: Repo) -> list[Evidence]:
    found: list[Evidence] = []
    text = repo.text("noxfile.py") or ""
    for match in _NOX_PYTHON.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        shown = text.splitlines()[line - 1].strip()
        for value in re.findall(r"['\"]([^'\"]+)['\"]", match.group(1)):
            found.append(_source(value, "noxfile.py", line, shown, True))
    return found
