"""Where a project documents itself: the README's installation, usage and license sections (or
the same said in another place), and where its changes are recorded.

A section counts as present when the README has a heading for it, or says it otherwise (an
install command, a code example), or a docs page does (``docs/quickstart.md``, an "Installation"
heading in ``docs/intro.rst``), or, for the license, a LICENSE file or license metadata.
Each finding says where it was found, so the claim can be checked by a reader.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from repo_scan import Repo

README_SECTIONS = {
    "installation": ("install", "setup", "getting started", "quick start", "quickstart"),
    "usage": ("usage", "quick start", "quickstart", "getting started", "example", "how to use",
              "tutorial", "overview"),
    "license": ("license", "licence"),
}  # fmt: skip
_INSTALL_COMMAND = re.compile(
    r"\b(pip3? install|python3? -m pip install|uv (?:add|pip install|tool install)|poetry add|"
    r"pipx install|conda install|npm (?:install|i)|yarn add|pnpm add|cargo (?:add|install)|"
    r"go (?:get|install))\b"
)
_EXAMPLE = re.compile(r"^(```|~~~|>>> |\$ |\.\. code-block::|.*::\s*$)", re.M)
_DOC_PAGES = {
    "installation": re.compile(
        r"(?i)^(install|installation|quickstart|quick-start|getting[-_]started)\b"
    ),
    "usage": re.compile(
        r"(?i)^(usage|quickstart|quick-start|tutorial|examples?|getting[-_]started)\b"
    ),
    "license": re.compile(r"(?i)^(license|licence|copying)\b"),
}
_TEXT_SUFFIX = r"(\.(md|rst|txt|markdown|adoc|org))?$"
_LICENSE_FILE = re.compile(r"(?i)^(license|licence|copying|unlicense)([.-]|$)")
_CHANGELOG_FILE = re.compile(
    r"(?i)^(changelog|changes|history|news|releases|release[-_ ]?notes)" + _TEXT_SUFFIX
)
_CHANGELOG_PAGE = re.compile(
    r"(?i)^(changelog|changes|history|news|release[-_ ]?notes|versions)" + _TEXT_SUFFIX
)
MAX_DOC_PAGES = 300
"""Docs pages whose headings are read when the README lacks a section."""
_CHANGELOG_DIRS = ("changelog.d", "changes", "newsfragments", "news")
_CHANGELOG_URL = re.compile(r"(?i)change|history|release")


def readme(repo: Repo) -> dict[str, Any]:
    """The README's sections: each one present under a heading, or said elsewhere (an install
    command or a code example in the README, a docs page, a LICENSE file or license metadata);
    ``found`` says where each was found, so a reader can check the claim."""
    candidates = [f for f in repo.files if "/" not in f and f.lower().startswith("readme")]
    if not candidates:
        return {
            "path": None,
            "sections": [],
            "missing_sections": sorted(README_SECTIONS),
            "found": {},
        }
    rel = sorted(candidates, key=lambda f: (not f.lower().endswith(".md"), f))[0]
    text = repo.text(rel) or ""
    headings = _headings(text)
    found: dict[str, str] = {}
    for name, words in README_SECTIONS.items():
        heading = next((h for h in headings if any(w in h for w in words)), None)
        if heading is not None:
            found[name] = f"{rel}: heading '{heading[:60]}'"
    command = _INSTALL_COMMAND.search(text)
    if "installation" not in found and command:
        found["installation"] = f"{rel}: '{command.group(0)}'"
    if "usage" not in found and _EXAMPLE.search(text):
        found["usage"] = f"{rel}: a code example"
    pages = [f for f in repo.files if _in_docs(f) and f.endswith((".md", ".rst", ".txt"))]
    for name, pattern in _DOC_PAGES.items():
        page = next((f for f in pages if pattern.match(PurePosixPath(f).name)), None)
        if name not in found and page:
            found[name] = page
    for page in pages[:MAX_DOC_PAGES]:
        for heading in _headings(repo.text(page) or ""):
            for name, words in README_SECTIONS.items():
                if name not in found and any(w in heading for w in words):
                    found[name] = f"{page}: heading '{heading[:60]}'"
    if "license" not in found:
        licence = next((f for f in repo.files if "/" not in f and _LICENSE_FILE.match(f)), None)
        metadata = _license_metadata(repo)
        if licence or metadata:
            found["license"] = licence or metadata or ""
    missing = sorted(set(README_SECTIONS) - set(found))
    return {"path": rel, "sections": headings[:30], "missing_sections": missing, "found": found}


def _headings(text: str) -> list[str]:
    """Markdown (``#``) and reStructuredText (underlined) headings, lower-cased."""
    lines = text.splitlines()
    headings = [ln.lstrip("#").strip().lower() for ln in lines if ln.startswith("#")]
    headings += [
        lines[i].strip().lower()
        for i in range(len(lines) - 1)
        if lines[i].strip() and re.fullmatch(r"[=\-~^*]{3,}", lines[i + 1].strip())
    ]
    return headings


def _in_docs(rel: str) -> bool:
    return rel.split("/", 1)[0].lower() in ("docs", "doc", "documentation")


def _license_metadata(repo: Repo) -> str | None:
    project = repo.toml("pyproject.toml").get("project") or {}
    if project.get("license") or project.get("license-files"):
        return "pyproject.toml: license"
    if re.search(r"^license\s*=", repo.text("setup.cfg") or "", re.M):
        return "setup.cfg: license"
    package = repo.text("package.json") or ""
    if re.search(r'"license"\s*:', package):
        return "package.json: license"
    if re.search(r"^license\s*=", repo.text("Cargo.toml") or "", re.M):
        return "Cargo.toml: license"
    return None


def changelog(repo: Repo) -> str | None:
    """Where the project records its changes: a top-level file (CHANGES.rst, HISTORY.md, NEWS),
    a docs page (docs/changes.md, docs/versions.rst), a towncrier fragments folder, or a
    changelog URL in the project's metadata; None when none of these exists."""
    top = [f for f in repo.files if "/" not in f and _CHANGELOG_FILE.match(f)]
    docs = [f for f in repo.files if _in_docs(f) and _CHANGELOG_PAGE.match(PurePosixPath(f).name)]
    folders = [d + "/" for d in _CHANGELOG_DIRS if any(f.startswith(d + "/") for f in repo.files)]
    if top or docs or folders:
        return (top or docs or folders)[0]
    urls = (repo.toml("pyproject.toml").get("project") or {}).get("urls") or {}
    for label, url in urls.items() if isinstance(urls, dict) else []:
        if _CHANGELOG_URL.search(str(label)):
            return f"{label}: {url}"
    return None
