"""The workflows the fault suite drives, written so a fault can be placed in each kind of stage.

Parameters choose where the run hangs (``hang_analysis``, ``hang_synth``: the first attempt
of that agent never ends), how long the slow agent works (``slow_sleep``) and how long the
implementation agent's ``rollback`` command takes;
none of them changes the decision, so a faulted run can be compared with a clean one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.faults.harness import agent, argv, lit, start

ROLLBACK_CODE = (
    "import os, sys, time; "
    "open(sys.argv[1], 'a').write(str(os.getpid()) + chr(10)); "
    "time.sleep(float(sys.argv[2]))"
)
"""Appends its pid to the file named by ``calls`` (outside the workspace), then sleeps."""

STAGED = f"""
version: 1
name: staged
params: {{hang_analysis: 0, slow_sleep: 0, hang_synth: 0, rollback_sleep: 0, calls: "calls.log"}}
defaults: {{retries: 0, retry_backoff: 0, grace: 0.5, timeout: 60}}
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - id: quick
        run: {agent("--findings", lit('{"runtime": {"python": "3.12"}, "layout": "src"}'))}
      - id: slow
        run: {agent("--sleep", "{params.slow_sleep}", "--hang-attempts", "{params.hang_analysis}", "--findings", lit('{"runtime": {"python": "3.11"}}'))}
  - id: merge
    kind: consolidation
    inputs: [analysis]
    synthesizer:
      run: {agent("--hang-attempts", "{params.hang_synth}", "--result", lit('{"decisions": {"python": "3.12"}}'))}
  - id: implementation
    kind: agents
    mode: sequential
    agents:
      - id: code
        run: {agent("--write", "src/app.py=print(2)", "--write", "src/new.py=x = 1", "--delete", "README.md")}
        rollback: {argv("{python}", "-c", ROLLBACK_CODE, "{params.calls}", "{params.rollback_sleep}")}
  - id: review
    kind: checkpoint
    mode: strict
    criteria:
      - {{id: analysis_done, expr: "stages.analysis.succeeded == stages.analysis.total", severity: critical}}
      - {{id: code_done, expr: "stages.implementation.failed == 0", severity: critical}}
    on_failure: [manual_resolution]
    decision:
      critical: ["stages.analysis.failed == 0", "stages.implementation.failed == 0"]
      warnings: ["size(conflicts)"]
      proceed_below: 1
      conditional_below: 5
"""
"""Clean: CONDITIONAL_PROCEED (one warning conflict on runtime.python), exit 3."""

CONFLICTED = f"""
version: 1
name: conflicted
defaults: {{retries: 0, grace: 0.5, timeout: 60}}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: one
        run: {agent("--findings", lit('{"runtime": {"python": "3.12"}}'))}
      - id: two
        run: {agent("--findings", lit('{"runtime": {"python": "3.11"}}'))}
  - id: merge
    kind: consolidation
    inputs: [analysis]
    conflict_severity: [{{path: "runtime.*", severity: critical}}]
  - id: review
    kind: checkpoint
    criteria:
      - {{id: no_critical, expr: "open_conflicts.filter(c, c.severity == 'critical').size() == 0", severity: critical}}
    on_failure: [manual_resolution]
"""
"""Pauses at ``review`` (exit 4) with one critical conflict on runtime.python."""


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_staged(tmp_path: Path, workspace: Path, *params: str) -> subprocess.Popen[str]:
    """Start `phaseboard run` of STAGED (headless) with ``NAME=VALUE`` parameters."""
    wf = write(tmp_path, STAGED)
    sets = [arg for p in params for arg in ("--set", p)]
    return start("run", str(wf), "--headless", "--workspace", str(workspace), *sets, cwd=tmp_path)
