"""Markdown files the implementation agents write, with the part they own marked off.

Generated text lives between ``<!-- phaseboard:begin NAME -->`` and
``<!-- phaseboard:end NAME -->``, so an agent can update its part of a file a person also
edits, and undo it again. Run as a script it is the implementation steps' ``verify`` and
``rollback`` command::

    managed_doc.py verify FILE...          exit 1 if a present FILE is malformed (absent is fine)
    managed_doc.py rollback FILE REGION    remove REGION ('NAME:' = this run's, else the newest)
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

_MARK = re.compile(r"<!-- phaseboard:(begin|end) (\S+) -->")
_FENCE = re.compile(r"^\s*(```|~~~)")


def begin(name: str) -> str:
    return f"<!-- phaseboard:begin {name} -->"


def end(name: str) -> str:
    return f"<!-- phaseboard:end {name} -->"


def regions(text: str) -> list[str]:
    """Names of the complete regions in ``text``, in order."""
    return [m.group(2) for m in _MARK.finditer(text) if m.group(1) == "begin"]


def _span(text: str, name: str) -> tuple[int, int] | None:
    start = text.find(begin(name))
    stop = text.find(end(name), start + 1) if start >= 0 else -1
    return (start, stop + len(end(name))) if start >= 0 and stop >= 0 else None


def upsert(text: str, name: str, body: str, *, at_top_after_title: bool = False) -> str:
    """``text`` with region ``name`` holding ``body``: replaced in place, else added."""
    block = f"{begin(name)}\n{body.rstrip()}\n{end(name)}\n"
    span = _span(text, name)
    if span:
        after = text[span[1] :].removeprefix("\n")
        return text[: span[0]] + block + after
    if not text.strip():
        return block
    if at_top_after_title:
        lines = text.splitlines(keepends=True)
        cut = next(
            (i for i, line in enumerate(lines) if line.startswith("## ") or _MARK.match(line)),
            len(lines),
        )
        head = "".join(lines[:cut])
        head = head if head.endswith("\n\n") or not head else head.rstrip("\n") + "\n\n"
        return head + block + ("\n" if cut < len(lines) else "") + "".join(lines[cut:])
    return text.rstrip("\n") + "\n\n" + block


def remove(text: str, name: str) -> str:
    span = _span(text, name)
    if not span:
        return text
    before, after = text[: span[0]], text[span[1] :].removeprefix("\n").removeprefix("\n")
    if not after.strip():
        return before.rstrip("\n") + "\n" if before.strip() else ""
    return before + after


def problems(text: str) -> list[str]:
    """Why ``text`` is not a well-formed managed Markdown file (empty when it is)."""
    found: list[str] = []
    stack: list[str] = []
    for match in _MARK.finditer(text):
        kind, name = match.groups()
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            found.append(f"region {name!r} ends without matching begin")
    found += [f"region {name!r} is not closed" for name in stack]
    if sum(1 for line in text.splitlines() if _FENCE.match(line)) % 2:
        found.append("a code fence (```) is not closed")
    if not any(line.startswith("#") for line in text.splitlines()):
        found.append("no Markdown heading")
    return found


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify(paths: list[Path]) -> int:
    status = 0
    for path in paths:
        if not path.exists():
            print(f"{path}: absent (nothing to check)")
            continue
        try:
            issues = problems(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            issues = [f"unreadable: {exc}"]
        for issue in issues:
            print(f"{path}: {issue}")
        if not issues:
            print(f"{path}: ok")
        status = status or (1 if issues else 0)
    return status


def rollback(path: Path, name: str) -> int:
    """Take the generated region out again; delete the file if nothing else is left in it."""
    if not path.exists():
        print(f"{path}: absent, nothing to roll back")
        return 0
    text = path.read_text(encoding="utf-8")
    names = regions(text)
    if name.endswith(":"):
        mine = name + os.environ.get("PHASEBOARD_RUN_ID", "")
        matches = [n for n in names if n == mine] or [n for n in names if n.startswith(name)]
        name = matches[0] if matches else name
    if name not in names:
        print(f"{path}: no region {name!r}, left as is")
        return 0
    rest = remove(text, name)
    meaningful = [ln for ln in rest.splitlines() if ln.strip()]
    if not meaningful or (len(meaningful) == 1 and meaningful[0].startswith("# ")):
        path.unlink()
        print(f"{path}: removed (it only held region {name!r})")
        if path.parent != Path.cwd() and not any(path.parent.iterdir()):
            path.parent.rmdir()
    else:
        write_atomic(path, rest)
        print(f"{path}: region {name!r} removed")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "verify":
        return verify([Path(a) for a in argv[1:]])
    if len(argv) == 3 and argv[0] == "rollback":
        return rollback(Path(argv[1]), argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
