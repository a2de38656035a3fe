"""Small workflows of test agents for the console's tests."""

from __future__ import annotations

from tests.helpers import agent_cmd


def retry_flow() -> str:
    return f"""
version: 1
name: retry
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - id: steady
        run: {agent_cmd("--findings", '{"a": 1}')}
      - id: flaky
        run: {agent_cmd("--fail-attempts", "1", "--findings", '{"b": 2}')}
        reduced_scope: {{depth: 1}}
  - id: review
    kind: checkpoint
    criteria:
      - {{id: all_done, expr: "stages.analysis.succeeded == stages.analysis.total"}}
    on_failure: [manual_resolution]
"""


def conflict_flow() -> str:
    return f"""
version: 1
name: conflicted
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - id: architecture
        run: {agent_cmd("--findings", '{"runtime": {"python": "3.11"}, "modules": 4}')}
      - id: infrastructure
        run: {agent_cmd("--findings", '{"runtime": {"python": "3.12"}, "modules": 5}')}
  - id: analysis_synthesis
    kind: consolidation
    inputs: [analysis]
    conflict_severity: [{{path: "runtime.*", severity: critical}}]
  - id: analysis_review
    kind: checkpoint
    criteria:
      - {{id: no_critical_conflicts, expr: "open_conflicts.filter(c, c.severity == 'critical').size() == 0"}}
    on_failure: [manual_resolution]
  - id: production_readiness
    kind: checkpoint
    mode: lenient
    criteria:
      - {{id: analysed, expr: "stages.analysis.succeeded == 2"}}
    decision:
      critical: ["stages.analysis.failed == 0"]
      warnings: ["open_conflicts.size()"]
      proceed_below: 2
      conditional_below: 3
"""


def accept_flow() -> str:
    return f"""
version: 1
name: accepting
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: only
        run: {agent_cmd("--findings", '{"a": 1}')}
  - id: gate
    kind: checkpoint
    criteria:
      - {{id: impossible, expr: "stages.analysis.succeeded > 5"}}
    on_failure: [manual_resolution]
    decision: {{critical: ["true"], warnings: [], proceed_below: 1, conditional_below: 2}}
"""


def write_flow() -> str:
    return f"""
version: 1
name: writer
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: look
        run: {agent_cmd("--findings", '{"a": 1}')}
  - id: implementation
    kind: agents
    mode: sequential
    agents:
      - id: write_docs
        run: {agent_cmd("--write", "docs/NEW.md=new doc", "--write", "README.md=changed", "--delete", "src/app.py")}
      - id: write_more
        run: {agent_cmd("--write", "CHANGELOG.md=entry")}
"""


def memory_flow() -> str:
    """An agent that holds about 112 MiB against a 100 MB limit: stopped, until given more."""
    return f"""
version: 1
name: memory
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: hog
        memory_mb: 100
        grace: 0.5
        run: {agent_cmd("--alloc-mb", "100", "--sleep", "1")}
  - id: review
    kind: checkpoint
    criteria:
      - {{id: all_done, expr: "stages.analysis.succeeded == stages.analysis.total"}}
    on_failure: [manual_resolution]
"""
