"""Versions and version ranges as manifests write them, for the ``version_in_range`` rule.

A *range* is what a project declares: PEP 440 specifiers (``>=3.9,<4``, ``~=3.8``), Poetry's
``^3.9`` and ``~3.9``, and npm's ranges (``>=14 <17 || ^18``, ``18.x``, ``1.2 - 2.3``). A
*family* is a bare version as an environment names it: ``3.11`` from ``.python-version`` stands
for every 3.11.x, ``3.11.7`` for that release alone. A family fits a range when some version of
the family satisfies it; two ranges agree when some version satisfies both. Both questions are
answered by trying the boundary versions the ranges name, which is exact for ranges made of
comparisons (every range above is one).

Parsing uses :mod:`packaging`, the reference implementation of PEP 440.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = ["Family", "Range", "fits", "overlaps", "parse_item"]

_BARE = re.compile(r"^v?(\d+(?:\.\d+)*)$")
_COMPARATOR = re.compile(
    r"(===|==|!=|~=|>=|<=|>|<|=|\^|~)?\s*v?(\d+|[xX*])((?:\.(?:\d+|[xX*]))*)([A-Za-z0-9.+-]*)"
)
_RANGE_MARKS = re.compile(r"[<>=!~^*|xX,]|\s-\s|\s")


@dataclass(frozen=True)
class Family:
    """Every release that starts with ``parts`` (``3.11`` covers 3.11.0 up to 3.12 exclusive)."""

    text: str
    parts: tuple[int, ...]

    @property
    def low(self) -> Version:
        return Version(".".join(map(str, self.parts)))

    def contains(self, version: Version) -> bool:
        release = version.release + (0,) * max(0, len(self.parts) - len(version.release))
        return release[: len(self.parts)] == self.parts


@dataclass(frozen=True)
class Range:
    """Alternatives (npm's ``||``), each a set of PEP 440 specifiers that must all hold."""

    text: str
    alternatives: tuple[SpecifierSet, ...]

    def contains(self, version: Version) -> bool:
        return any(spec.contains(version, prereleases=True) for spec in self.alternatives)

    def boundaries(self) -> set[Version]:
        found: set[Version] = set()
        for spec_set in self.alternatives:
            for spec in spec_set:
                text = spec.version.removesuffix(".*")
                try:
                    found.add(Version(text))
                except InvalidVersion:
                    continue
        return found


def parse_item(text: str) -> Family | Range | None:
    """A bare version is a :class:`Family`, anything with an operator or wildcard a
    :class:`Range`; None when the text is neither (``lts/*``, ``latest``, an expression)."""
    text = text.strip()
    bare = _BARE.match(text)
    if bare:
        return Family(text, tuple(int(p) for p in bare.group(1).split(".")))
    if not _RANGE_MARKS.search(text):
        return None
    alternatives = []
    for alternative in text.split("||"):
        specifiers = _alternative(alternative.strip())
        if specifiers is None:
            return None
        alternatives.append(specifiers)
    return Range(text, tuple(alternatives)) if alternatives else None


def _alternative(text: str) -> SpecifierSet | None:
    if text in ("", "*", "x", "X"):
        return SpecifierSet("")
    hyphen = re.fullmatch(r"v?(\S+)\s+-\s+v?(\S+)", text)
    if hyphen:
        text = f">={hyphen.group(1)} <={hyphen.group(2)}"
    pieces: list[str] = []
    position = 0
    for match in _COMPARATOR.finditer(text):
        between = text[position : match.start()]
        if between.strip(" ,"):
            return None
        position = match.end()
        converted = _convert(match.group(1) or "", match.group(2) + match.group(3), match.group(4))
        if converted is None:
            return None
        pieces += converted
    if text[position:].strip(" ,") or not pieces:
        return None
    try:
        return SpecifierSet(",".join(pieces))
    except InvalidSpecifier:
        return None


def _convert(op: str, version: str, suffix: str) -> list[str] | None:
    """One comparator in PEP 440 terms."""
    parts = version.split(".")
    fixed = [p for p in parts if p.isdigit()]
    wild = len(fixed) < len(parts)
    if wild and any(not p.isdigit() for p in parts[: len(fixed)]):
        return None
    if not fixed:
        return [] if op in ("", "=", "==", ">=", "^", "~") else None
    numbers = [int(p) for p in fixed]
    base = ".".join(fixed) + ("" if wild else suffix)
    if op == "^":
        first = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
        upper = [*numbers[:first], numbers[first] + 1]
        return [f">={base}", f"<{'.'.join(map(str, upper))}"]
    if op == "~" or (op == "~=" and len(numbers) == 1):
        upper = [numbers[0] + 1] if len(numbers) == 1 else [numbers[0], numbers[1] + 1]
        return [f">={base}", f"<{'.'.join(map(str, upper))}"]
    if op in ("", "=", "==") and (wild or (op == "" and len(numbers) < 3)):
        return [f"=={'.'.join(fixed)}.*"]
    if op == "!=" and wild:
        return [f"!={'.'.join(fixed)}.*"]
    if op == "<=" and wild:
        return [f"<{'.'.join(map(str, [*numbers[:-1], numbers[-1] + 1]))}"]
    return [f"{'==' if op in ('', '=') else op}{base}"]


def _candidates(*ranges: Range, family: Family | None = None) -> set[Version]:
    """Versions worth trying: each boundary, just past it, and the family's own edges."""
    found: set[Version] = set()
    for item in ranges:
        for version in item.boundaries():
            release = version.release
            found.add(version)
            found.add(Version(".".join(map(str, (*release, 1)))))
            found.add(Version(".".join(map(str, (*release[:-1], release[-1] + 1)))))
            if release[-1] > 0:
                found.add(Version(".".join(map(str, (*release[:-1], release[-1] - 1, 999)))))
    if family is not None:
        found |= {family.low, Version(f"{family.low}.999"), Version(f"{family.low}.0.999")}
    return found or {Version("0")}


def fits(family: Family, allowed: Range) -> bool:
    """Whether some version of ``family`` satisfies ``allowed``."""
    return any(
        family.contains(v) and allowed.contains(v) for v in _candidates(allowed, family=family)
    )


def overlaps(a: Range, b: Range) -> bool:
    """Whether some version satisfies both ranges."""
    return any(a.contains(v) and b.contains(v) for v in _candidates(a, b))
