"""Implementation step 2: add this run's entry at the top of ``CHANGELOG.md`` (created if absent),
describing what the analysis found: runtime versions and conflicts, risks, code, tests, strategy.

The entry is a region named after the run, so a retry of the step rewrites it in place.
"""

from __future__ import annotations

from typing import Any

import doc_writer
from synthesis_view import SEVERITIES, Consolidated, run_id, value_text


def conflict_lines(view: Consolidated) -> list[str]:
    lines = []
    for conflict in view.conflicts:
        values = ", ".join(
            f"{agent.rpartition('.')[2]} says {value_text(value)}"
            for agent, value in (conflict.get("candidates") or {}).items()
        )
        if conflict.get("reason"):
            values += f" ({conflict['reason']})"
        if conflict.get("resolved"):
            chosen = (conflict.get("resolution") or {}).get(
                "value", view.value(str(conflict.get("path")))
            )
            state = f"resolved to `{chosen}`"
        else:
            state = "still open"
        path, severity = conflict.get("path"), conflict.get("severity")
        lines.append(f"- **Conflict** `{path}` ({severity}): {values}; {state}.")
    return lines


def render(inputs: dict[str, Any], view: Consolidated) -> str:
    arch = view.section("architecture_map")
    code = view.section("code_patterns")
    infra = view.section("infrastructure_state")
    risks = view.risks
    counts = ", ".join(f"{sum(r.get('severity') == s for r in risks)} {s}" for s in SEVERITIES)
    top = "; ".join(f"{r.get('title')} (`{r.get('id')}`)" for r in risks[:3])
    sizes = code.get("sizes") or {}
    tests = infra.get("tests") or {}
    collected = (infra.get("collect") or {}).get("collected")
    workflow = inputs.get("workflow") or "standard"
    lines = [
        f"## {doc_writer.today()}: phaseboard run `{run_id(inputs)}`",
        "",
        f"Findings of the `{workflow}` workflow's analysis:",
        "",
        f"- **Architecture**: {len(arch.get('components') or [])} components, "
        f"{len(arch.get('entry_points') or [])} entry points, "
        f"{len((arch.get('imports') or {}).get('edges') or [])} internal import edges.",
        f"- **Code**: {sizes.get('files', 0)} source files, {sizes.get('lines', 0)} lines; "
        f"{len(code.get('complex_functions') or [])} functions over the complexity threshold; "
        f"{(code.get('markers') or {}).get('count', 0)} TODO/FIXME/XXX markers.",
        f"- **Tests**: {tests.get('files', 0)} test files"
        + (f" ({tests.get('runner')})" if tests.get("runner") else "")
        + (f", {collected} collected" if collected is not None else "")
        + ".",
        f"- **Risks**: {counts}." + (f" Highest: {top}." if top else ""),
        *conflict_lines(view),
    ]
    strategy = view.decisions.get("implementation_strategy")
    if strategy:
        lines.append(f"- **Strategy**: {strategy}")
    lines.append("- **Documentation**: `docs/ARCHITECTURE.md` and `docs/RISKS.md` from this run.")
    return "\n".join(lines)


if __name__ == "__main__":
    doc_writer.run(
        "changelog entry",
        "CHANGELOG.md",
        lambda inputs: f"changelog:{run_id(inputs)}",
        render,
        at_top=True,
        new_file_header="# Changelog\n\nNotable changes and findings, newest first.\n\n",
    )
