"""Every agent speaks the protocol: progress lines, then exactly one result of the recommended
shape; and every agent that only reads finishes in seconds on this repository itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.consolidation.merge import consolidate
from tests.agents_std.harness import ROOT, AgentRun, run_agent, run_agents

SEVERITIES = {"critical", "high", "medium", "low"}
READ_ONLY = (
    "architecture.py",
    "code_patterns.py",
    "infrastructure.py",
    "security.py",
    "documentation.py",
    "e2e.py",
    "deployment.py",
)


def assert_protocol(run: AgentRun, name: str) -> dict[str, Any]:
    assert run.returncode == 0, (name, run.stderr)
    assert run.progress, f"{name} printed no progress line"
    assert len(run.results) == 1, f"{name} sent {len(run.results)} result messages"
    message = run.results[0]
    assert set(message) == {"header", "body", "metadata"}
    assert message["header"]["priority"] in ("critical", "high", "normal", "low")
    result = message["body"]["content"]
    assert isinstance(result["summary"], str) and result["summary"]
    assert isinstance(result["findings"], dict)
    assert isinstance(result["dependencies"], list) and isinstance(result["metrics"], dict)
    for risk in result["risks"]:
        assert {"id", "severity", "title"} <= set(risk) and risk["severity"] in SEVERITIES
    assert run.results[-1] is run.messages[-1], f"{name}: the result is not the last message"
    return result


def test_every_agent_speaks_the_protocol_through_a_whole_pipeline(sample_copy: Path) -> None:
    analysis = dict(
        zip(
            ("architecture", "code", "infrastructure"),
            run_agents(
                ("architecture.py", sample_copy),
                ("code_patterns.py", sample_copy),
                ("infrastructure.py", sample_copy),
            ),
            strict=True,
        )
    )
    for name, run in analysis.items():
        assert_protocol(run, name)
    merged = consolidate(
        "analysis_synthesis",
        {f"analysis.{n}": r.result for n, r in analysis.items()},
        sections={"architecture_map": "architecture", "code_patterns": "code"},
        severity_rules=[("runtime.*", "critical")],
        timestamp="2026-01-01T00:00:00Z",
    )
    synthesizer = run_agent("synthesizer.py", sample_copy, inputs={"synthesis": merged.synthesis})
    decisions = assert_protocol(synthesizer, "synthesizer")["decisions"]
    stages = {
        "analysis": {
            "kind": "agents",
            "agents": {n: {"status": "succeeded", "result": r.result} for n, r in analysis.items()},
        },
        "analysis_synthesis": {
            "kind": "consolidation",
            "synthesis": merged.synthesis["synthesis"],
            "decisions": decisions,
            "conflicts": [c.model_dump() for c in merged.conflicts],
        },
    }
    inputs = {"run_id": "r_proto", "params": {}, "stages": stages}
    for script in ("write_architecture.py", "write_changelog.py", "write_risks.py"):
        assert_protocol(run_agent(script, sample_copy, inputs=inputs), script)
    testing = ("unit_tests.py", "security.py", "documentation.py", "e2e.py", "deployment.py")
    for script, run in zip(testing, run_agents(*((s, sample_copy) for s in testing)), strict=True):
        assert_protocol(run, script)


@pytest.mark.parametrize("script", READ_ONLY)
def test_read_only_agents_finish_in_seconds_on_this_repository(script: str) -> None:
    run = run_agent(script, ROOT, timeout=60)

    assert_protocol(run, script)
    assert run.duration_s < 10, f"{script} took {run.duration_s:.1f}s on the repository itself"
