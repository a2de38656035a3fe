"""Implementation step 3: write ``docs/RISKS.md``, the risk register of the analysis: risks by
severity, the conflicts between agents and how they were settled, the priority order and the
implementation strategy."""

from __future__ import annotations

from typing import Any

import doc_writer
from doc_writer import table
from synthesis_view import SEVERITIES, Consolidated, value_text


def render(inputs: dict[str, Any], view: Consolidated) -> str:
    risks = view.risks
    out = ["# Risk register", "", doc_writer.generated_note(inputs, view), "", "## Summary", ""]
    out.append(
        table(SEVERITIES, [[sum(r.get("severity") == s for r in risks) for s in SEVERITIES]])
    )
    out += ["", "## Conflicts between agents", ""]
    if view.conflicts:
        rows = []
        for c in view.conflicts:
            candidates = "; ".join(
                f"{a.rpartition('.')[2]}: {value_text(v)}"
                for a, v in (c.get("candidates") or {}).items()
            )
            resolution = c.get("resolution") or {}
            status = f"resolved: {resolution.get('value')}" if c.get("resolved") else "open"
            rows.append(
                [
                    c.get("id"),
                    c.get("path"),
                    c.get("severity"),
                    c.get("reason") or "",
                    candidates,
                    status,
                ]
            )
        out.append(table(["ID", "Path", "Severity", "Why", "Candidates", "Status"], rows))
    else:
        out.append("The analysis agents agreed on every shared finding.")
    for severity in SEVERITIES:
        chosen = [r for r in risks if r.get("severity") == severity]
        if not chosen:
            continue
        out += ["", f"## {severity.capitalize()} risks", ""]
        out.append(
            table(
                ["ID", "Title", "Detail", "Reported by"],
                [
                    [
                        r.get("id"),
                        r.get("title"),
                        r.get("detail"),
                        ", ".join(a.rpartition(".")[2] for a in r.get("reported_by") or []),
                    ]
                    for r in chosen
                ],
            )
        )
    if not risks:
        out += ["", "No risks were reported."]
    order = view.decisions.get("priority_order") or [r.get("id") for r in risks]
    titles = {r.get("id"): r.get("title") for r in risks}
    out += ["", "## Priority order", ""]
    out += [f"{n}. `{rid}`: {titles.get(rid, '')}" for n, rid in enumerate(order, 1)] or ["(none)"]
    strategy = view.decisions.get("implementation_strategy")
    if strategy:
        out += ["", "## Implementation strategy", "", str(strategy)]
    return "\n".join(out)


if __name__ == "__main__":
    doc_writer.run("risk register", "docs/RISKS.md", lambda inputs: "risks", render)
