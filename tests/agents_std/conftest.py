"""Fixture repositories for the standard workflow's agents, built in tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.agents_std.harness import PY_PROJECT, SAMPLE, make_py_mismatch, write_tree


@pytest.fixture
def py_mismatch(tmp_path: Path) -> Path:
    """pyproject requires Python >=3.11, .python-version configures 3.10: a true conflict."""
    return make_py_mismatch(tmp_path / "mismatch")


@pytest.fixture
def py_compatible(tmp_path: Path) -> Path:
    """pyproject requires Python >=3.11, .python-version configures 3.12: different, no conflict."""
    return make_py_mismatch(tmp_path / "compatible", "3.12.1")


@pytest.fixture
def py_agree(tmp_path: Path) -> Path:
    """pyproject declares 3.12 and the CI matrix's first entry is 3.12 too."""
    files = dict(PY_PROJECT)
    files["pyproject.toml"] = files["pyproject.toml"].replace(">=3.11", ">=3.12")
    files[".github/workflows/ci.yml"] = """
        name: ci
        on: [push]
        jobs:
          test:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                python-version: ["3.12", "3.13"]
            steps:
              - uses: actions/setup-python@v5
                with:
                  python-version: ${{ matrix.python-version }}
    """
    return write_tree(tmp_path / "agree", files)


@pytest.fixture
def polyglot(tmp_path: Path) -> Path:
    """A Node and Go project: package.json, go.mod, a Go main package, a Dockerfile and compose."""
    return write_tree(
        tmp_path / "polyglot",
        {
            "package.json": json.dumps(
                {
                    "name": "web",
                    "bin": {"webctl": "bin/webctl.js"},
                    "engines": {"node": ">=18"},
                    "dependencies": {"express": "^4.18.0", "left-pad": "*"},
                    "devDependencies": {"jest": "29.7.0"},
                    "scripts": {"test": "jest"},
                }
            ),
            ".nvmrc": "v20.11.0\n",
            "bin/webctl.js": "const util = require('../lib/util');\nutil.run();\n",
            "lib/util.js": "function run() {\n  return 1;\n}\nmodule.exports = { run };\n",
            "go.mod": "module example.com/svc\n\ngo 1.22\n\nrequire (\n\tgithub.com/pkg/errors v0.9.1\n)\n",
            "cmd/svc/main.go": (
                'package main\n\nimport "example.com/svc/internal/store"\n\n'
                "func main() {\n\tstore.Open()\n}\n"
            ),
            "internal/store/store.go": "package store\n\nfunc Open() {\n}\n",
            "internal/store/store_test.go": "package store\n\nfunc TestOpen(t *T) {\n}\n",
            "Dockerfile": "FROM golang:1.21-alpine\nHEALTHCHECK CMD wget -q localhost\n",
            "docker-compose.yml": (
                "services:\n  api:\n    build: .\n  db:\n    image: postgres:16\n"
                "volumes:\n  data: {}\n"
            ),
        },
    )


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.mkdir()
    return path


COMPLEX_FUNCTION = "\n".join(
    ["def tangled(a, b, c):", '    """Many branches."""', "    total = 0"]
    + [
        f"    if a > {n} and b < {n} or c == {n}:\n        total += {n}\n    elif a == {n}:\n"
        f"        total -= {n}"
        for n in range(12)
    ]
    + ["    return total", ""]
)
DUPLICATED = "\n".join(f"    value_{n} = compute({n}, 'alpha', 'beta')" for n in range(8))


@pytest.fixture
def messy_repo(tmp_path: Path) -> Path:
    """A TODO, a long and complex function, a duplicated block and names against convention."""
    marker = "TO" + "DO"
    return write_tree(
        tmp_path / "messy",
        {
            "app/__init__.py": "",
            "app/logic.py": COMPLEX_FUNCTION + f"\n\n# {marker}: split tangled() up\n",
            "app/copy_a.py": f"def first():\n{DUPLICATED}\n    return 1\n",
            "app/copy_b.py": f"def second():\n{DUPLICATED}\n    return 2\n",
            "app/Naming.py": "def BadName():\n    pass\n\n\nclass lower_class:\n    pass\n",
        },
    )


@pytest.fixture
def risky_repo(tmp_path: Path) -> Path:
    """A secret, a world-writable file, a large binary, unpinned dependencies, a broken link."""
    token = "gh" + "p_" + "Zk3" * 13
    key = "AK" + "IA" + "QX7Z2M4N6P8R0T3V"
    repo = write_tree(
        tmp_path / "risky",
        {
            "settings.py": f'GITHUB = "{token}"\nAWS_KEY = "{key}"\nDEBUG = True\n',
            "requirements.txt": "flask\nrequests==2.31.0\n",
            "README.md": "# risky\n\nSee [the guide](docs/guide.md) and [setup](docs/missing.md#top).\n"
            "![logo](img/logo.png) and [site](https://example.com) and [anchor](#risky).\n",
            "docs/guide.md": "# Guide\n\nBack to [readme](../README.md).\n",
            "config.json": '{"broken": true,,}\n',
        },
    )
    shared = repo / "shared.txt"
    shared.write_text("anyone may write me\n", encoding="utf-8")
    shared.chmod(0o666)
    (repo / "blob.bin").write_bytes(b"\0" * (1 << 20) + b"x")
    return repo


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """The demo's sample project, copied so nothing writes into the source tree."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "sample"))
