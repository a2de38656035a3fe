"""Implementation step 1: write or update ``docs/ARCHITECTURE.md`` from the analysis synthesis:
overview, components, a Mermaid dependency graph of the import edges, entry points, declared
dependencies, services and configuration."""

from __future__ import annotations

import re
from typing import Any

import doc_writer
from doc_writer import table
from synthesis_view import Consolidated

MAX_GRAPH_NODES = 40
"""Above this many modules the graph is drawn between components instead."""


def mermaid(edges: list[list[str]], isolated: list[str]) -> str:
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}_{re.sub(r'[^A-Za-z0-9]', '_', name)[:30]}"
        return ids[name]

    lines = ["```mermaid", "graph LR"]
    for a, b in edges:
        lines.append(f"    {node(a)} --> {node(b)}")
    for name in isolated:
        if name not in ids:
            lines.append(f"    {node(name)}")
    for name, ident in ids.items():
        label = name.replace('"', "'")
        lines.append(f'    {ident}["{label}"]')
    lines.append("```")
    return "\n".join(lines)


def runtime_lines(view: Consolidated) -> list[str]:
    architecture = view.section("architecture_map")
    infra = view.section("infrastructure_state")
    declared = architecture.get("declared_runtime") or {}
    configured = infra.get("configured_runtime") or {}
    lines = []
    for name in sorted(set(declared) | set(configured)):
        parts = []
        if name in declared:
            d = declared[name]
            parts.append(f"declared `{d.get('spec')}` ({_where(d)})")
        if configured.get(name):
            found = {}
            for c in configured[name]:
                found.setdefault(c.get("version"), []).append(_where(c))
            shown = ", ".join(f"{v} ({', '.join(dict.fromkeys(w))})" for v, w in found.items())
            parts.append(f"configured or tested {shown}")
        conflict = next((c for c in view.conflicts if c.get("path") == f"runtime.{name}"), None)
        if conflict and conflict.get("resolved"):
            value = (conflict.get("resolution") or {}).get("value", view.value(f"runtime.{name}"))
            parts.append(f"**conflict resolved: {value}**")
        elif conflict:
            why = conflict.get("reason") or "declared and configured versions differ"
            parts.append(f"**open conflict: {why}**")
        lines.append(f"- {name}: " + "; ".join(parts))
    return lines or ["- no runtime version declared or configured"]


def _where(item: dict[str, Any]) -> str:
    line = item.get("line")
    return f"{item.get('source')}:{line}" if line else str(item.get("source"))


def render(inputs: dict[str, Any], view: Consolidated) -> str:
    arch = view.section("architecture_map")
    project = arch.get("project") or {}
    components = arch.get("components") or []
    imports = arch.get("imports") or {}
    edges = imports.get("edges") or []
    nodes = {n for edge in edges for n in edge}
    by_module = len(nodes) <= MAX_GRAPH_NODES
    graph_edges = edges if by_module else imports.get("component_edges") or []
    isolated = [] if by_module and edges else [str(c.get("name")) for c in components]
    languages = ", ".join(f"{k} ({v} files)" for k, v in (project.get("languages") or {}).items())
    out = [
        f"# Architecture of {project.get('name') or 'this project'}",
        "",
        doc_writer.generated_note(inputs, view),
        "",
        "## Overview",
        "",
        f"- Languages: {languages or 'none detected'}",
        f"- {len(components)} components, {arch.get('modules', 0)} Python modules, "
        f"{project.get('files', 0)} files",
        *runtime_lines(view),
        "",
        "## Components",
        "",
        table(
            ["Component", "Path", "Language", "Modules", "Lines"],
            [
                [c.get("name"), c.get("path"), c.get("language"), c.get("modules"), c.get("lines")]
                for c in components
            ],
        )
        if components
        else "No source components found.",
        "",
        "## Dependency graph",
        "",
        ("Imports between modules" if by_module else "Imports between components")
        + f" ({len(graph_edges)} edges); an arrow points from the importer to the imported.",
        "",
        mermaid(graph_edges, isolated),
    ]
    if imports.get("cycles"):
        out += ["", "Import cycles:", ""] + [f"- {' <-> '.join(c)}" for c in imports["cycles"]]
    points = arch.get("entry_points") or []
    out += ["", "## Entry points", ""]
    out.append(
        table(
            ["Name", "Kind", "Target"],
            [[p.get("name"), p.get("kind"), p.get("target")] for p in points],
        )
        if points
        else "No entry points declared."
    )
    deps = [(eco, d) for eco, items in (arch.get("dependencies") or {}).items() for d in items]
    out += ["", "## Declared dependencies", ""]
    out.append(
        table(
            ["Ecosystem", "Name", "Version", "Kind", "Declared in"],
            [
                [
                    eco,
                    d.get("name"),
                    d.get("spec") or "(any)",
                    "dev" if d.get("dev") else "runtime",
                    d.get("source"),
                ]
                for eco, d in deps
            ],
        )
        if deps
        else "No dependencies declared."
    )
    services = arch.get("services") or []
    configs = arch.get("config_files") or []
    out += ["", "## Services and configuration", ""]
    out += [f"- service `{s.get('name')}` ({s.get('source')})" for s in services]
    out += [f"- `{c}`" for c in configs] or ["- no configuration files found"]
    return "\n".join(out)


if __name__ == "__main__":
    doc_writer.run(
        "architecture document",
        "docs/ARCHITECTURE.md",
        lambda inputs: "architecture",
        render,
    )
