"""The documentation agent's claims hold on real layouts: a section said in another place, a
changelog under another name, and the public API of a package that defines it in private
modules (shapes taken from click, jinja2, humanize, more-itertools and tomli)."""

from __future__ import annotations

from pathlib import Path

from tests.agents_std.harness import run_agent, write_tree


def documentation(repo: Path) -> dict:
    run = run_agent("documentation.py", repo)
    assert run.returncode == 0, run.stderr
    return run.findings["documentation"]


def test_sections_said_elsewhere_count_and_say_where(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "elsewhere",
        {
            # click: usage under "A Simple Example", install on a docs page, a LICENSE file
            "README.md": "# tool\n\nDoes things.\n\n## A Simple Example\n\n```python\nrun()\n```\n",
            "LICENSE.txt": "BSD\n",
            "docs/quickstart.md": "# Quickstart\n\nFirst steps.\n",
            "CHANGES.md": "## 1.0\n\n- first\n",
        },
    )
    doc = documentation(repo)
    assert doc["readme"]["missing_sections"] == []
    assert doc["readme"]["found"] == {
        "usage": "README.md: heading 'a simple example'",
        "installation": "docs/quickstart.md",
        "license": "LICENSE.txt",
    }
    assert doc["changelog"] == "CHANGES.md"
    assert doc["incomplete_items"] == []


def test_install_commands_and_rst_headings_in_docs_count(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "rst",
        {
            # idna: an install command in the README; jinja2: an Installation heading in docs
            "README.rst": "Tool\n====\n\nInstall it with ``python3 -m pip install tool``.\n",
            "docs/intro.rst": "Introduction\n============\n\nInstallation\n------------\n\npip.\n",
            "docs/changes.rst": "Changes\n=======\n",
            "pyproject.toml": '[project]\nname = "tool"\nlicense = "MIT"\n',
        },
    )
    doc = documentation(repo)
    assert doc["readme"]["found"]["installation"] == "README.rst: 'python3 -m pip install'"
    assert doc["readme"]["found"]["license"] == "pyproject.toml: license"
    assert doc["readme"]["missing_sections"] == ["usage"]
    assert doc["changelog"] == "docs/changes.rst"
    (repo / "README.rst").write_text("Tool\n====\n\nSee below.\n", encoding="utf-8")
    assert documentation(repo)["readme"]["found"]["installation"] == (
        "docs/intro.rst: heading 'installation'"
    )


def test_a_changelog_url_or_fragments_folder_is_a_changelog_and_release_py_is_not(
    tmp_path: Path,
) -> None:
    repo = write_tree(
        tmp_path / "url",
        {
            "README.md": "# x\n",
            "release.py": "print('tagging')\n",
            "pyproject.toml": '[project]\nname = "x"\n\n[project.urls]\n'
            '"Release notes" = "https://example.org/x/releases"\n',
        },
    )
    assert documentation(repo)["changelog"] == "Release notes: https://example.org/x/releases"
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    doc = documentation(repo)
    assert doc["changelog"] is None and "no changelog" in doc["incomplete_items"]
    (repo / "changelog.d").mkdir()
    (repo / "changelog.d" / "123.feature.md").write_text("New.\n", encoding="utf-8")
    assert documentation(repo)["changelog"] == "changelog.d/"


def test_docstrings_measure_the_public_api_including_re_exports(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "api",
        {
            # tomli: the API is defined in _parser.py and re-exported by __init__.py
            "src/tool/__init__.py": '"""The tool."""\nfrom ._parser import load, loads\n',
            "src/tool/_parser.py": (
                "def loads(s):\n    '''Parse a string.'''\n\n\n"
                "def load(fp):\n    return loads(fp.read())\n\n\n"
                "def helper():\n    pass\n"
            ),
            "src/tool/_internal/deep.py": "def undocumented():\n    pass\n",
            "setup.py": "def build():\n    pass\n",
            "docs/conf.py": "project = 'tool'\n",
        },
    )
    doc = documentation(repo)["docstrings"]
    assert (doc["documented"], doc["total"]) == (2, 3)
    assert doc["missing"] == ["src/tool/_parser.py:5 load"]
