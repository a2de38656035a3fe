"""The run's quality metrics (test coverage, documentation completeness, error rate, resource efficiency), computed from what the run already holds, each with its source.

``quality_metrics`` (test coverage, documentation completeness, error rate) and
``agent_performance.resource_efficiency`` are added to :func:`engine.state.metrics.run_metrics`. Every
metric is a dict of one shape: ``value`` (a number, or ``None`` when the run did not measure it:
never a made-up 0), ``unit``, ``source`` (where the number came from; ``None`` with a ``None``
value) and the counts it is made of; a ``None`` value also has a ``reason``.

- **test coverage**: ``findings.coverage.percent`` of the first succeeded agent that reports one,
  an agent that also reports ``findings.tests`` (the one that ran them) first.
- **documentation completeness**: the share of the documentation agent's checks that hold (see
  :func:`documentation_metric`).
- **error rate**: failed attempts over finished attempts, rolled-back attempts left out.
- **resource efficiency**: CPU time over wall time of finished attempts, per agent and for the
  run; time an attempt was held back by ``cpu_percent`` (``throttled_s``) stays in its wall time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.state.records import AgentState, AttemptState
from engine.state.run_state import RunState

DOCSTRING_BAR = 50.0
"""Docstring coverage (percent) the check needs when the agent did not say its own bar (the
bundled documentation agent's ``--min-docstrings`` default)."""
README_SECTIONS = ("installation", "usage", "license")
ATTEMPTS_SOURCE = "the run's attempts (rolled-back attempts left out)"
EFFICIENCY_SOURCE = (
    "the run's finished attempts: CPU time of the process tree over wall time, "
    "time held back by cpu_percent included"
)


def quality_metrics(state: RunState) -> dict[str, Any]:
    return {
        "test_coverage": coverage_metric(state),
        "documentation_completeness": documentation_metric(state),
        "error_rate": error_rate_metric(state),
    }


def agent_performance(state: RunState) -> dict[str, Any]:
    return {"resource_efficiency": efficiency_metric(state)}


def _not_measured(unit: str, reason: str, **counts: Any) -> dict[str, Any]:
    return {"value": None, "unit": unit, "source": None, **counts, "reason": reason}


def _results(state: RunState) -> Iterator[tuple[str, dict[str, Any]]]:
    """``STAGE.AGENT`` and findings of each succeeded agent, in stage and agent order."""
    for st in state.stages.values():
        for agent in st.agents.values():
            result = agent.result
            if agent.status == "succeeded" and isinstance(result, dict):
                findings = result.get("findings")
                if isinstance(findings, dict):
                    yield f"{st.id}.{agent.id}", findings


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def coverage_metric(state: RunState) -> dict[str, Any]:
    """The coverage the testing agent measured; ``None`` when no agent measured any.

    ``findings.coverage`` (``percent``, and ``tool``, ``measure``, the counts where the agent says
    them) of an agent that also reports ``findings.tests`` comes first, then any other agent's;
    an LLM testing agent's ``findings.tests.coverage_percent`` counts as its own report."""
    found: list[tuple[int, str, float, dict[str, Any]]] = []
    why = "no agent reported findings.coverage.percent"
    for key, findings in _results(state):
        coverage, tests = findings.get("coverage"), findings.get("tests")
        if isinstance(coverage, dict) and isinstance(coverage.get("reason"), str):
            why = f"{key}: {coverage['reason']}"  # the agent says why it did not measure
        if (
            isinstance(coverage, dict)
            and (percent := _percent(coverage.get("percent"))) is not None
        ):
            found.append((0 if isinstance(tests, dict) else 1, key, percent, coverage))
        elif (
            isinstance(tests, dict)
            and (percent := _percent(tests.get("coverage_percent"))) is not None
        ):
            found.append((0, key, percent, {"said": "findings.tests.coverage_percent"}))
    if not found:
        return _not_measured("percent", why)
    _, key, percent, coverage = min(found, key=lambda item: item[0])
    how = [coverage["tool"]] if isinstance(coverage.get("tool"), str) else []
    if isinstance(coverage.get("measure"), str):
        how.append(f"{coverage['measure']} coverage")
    where = ", ".join(how) or coverage.get("said", "findings.coverage.percent")
    out = {"value": round(percent, 1), "unit": "percent", "source": f"{key} ({where})"}
    for count in ("covered_lines", "statements"):
        if isinstance(coverage.get(count), int):
            out[count] = coverage[count]
    return out


def _percent(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and 0 <= number <= 100 else None


def documentation_metric(state: RunState) -> dict[str, Any]:
    """The percent of the documentation checks that hold, from ``findings.documentation``.

    The checks: a README (``readme``), each of its sections ``installation``, ``usage`` and
    ``license`` (found under a heading or said elsewhere, as the agent reports them), a changelog
    (``changelog``), every relative link in the Markdown resolves (``links``: one check, whatever
    the number of broken links), and docstrings on at least ``min_percent`` (50 by default) of the
    public API (``docstrings``; only checked when there is a public Python API). ``value`` is
    ``100 * present / checked``; ``missing`` names the checks that fail.
    """
    reason = "no documentation agent reported findings.documentation"
    for key, findings in _results(state):
        doc = findings.get("documentation")
        if isinstance(doc, dict) and ("readme" in doc or "docstrings" in doc):
            return _completeness(key, doc)
        if isinstance(doc, dict) and "incomplete" in doc:
            reason = f"{key} reported no checks to count (readme, changelog, links, docstrings)"
    return _not_measured("percent", reason)


def _completeness(key: str, doc: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, bool] = {}
    readme = doc.get("readme")
    if isinstance(readme, dict):
        checks["readme"] = readme.get("path") is not None
        missing = readme.get("missing_sections")
        missing = missing if isinstance(missing, list) else list(README_SECTIONS)
        for section in README_SECTIONS:
            checks[f"readme.{section}"] = checks["readme"] and section not in missing
    if "changelog" in doc:
        checks["changelog"] = bool(doc.get("changelog"))
    if isinstance(doc.get("broken_links"), list):
        checks["links"] = not doc["broken_links"]
    docstrings: dict[str, Any] = doc.get("docstrings") or {}
    if not isinstance(docstrings, dict):
        docstrings = {}
    total, documented = _number(docstrings.get("total")), _number(docstrings.get("documented"))
    percent = _percent(docstrings.get("percent"))
    if percent is None and total and documented is not None:
        percent = round(100 * documented / total, 1)
    detail: dict[str, Any] = {}
    if total and percent is not None:  # no public API: nothing to check
        bar = _number(docstrings.get("min_percent"))
        bar = DOCSTRING_BAR if bar is None else bar
        checks["docstrings"] = percent >= bar
        detail = {
            "documented": docstrings.get("documented"),
            "total": docstrings.get("total"),
            "percent": percent,
            "min_percent": bar,
        }
    present = sum(checks.values())
    counts = {"present": present, "checked": len(checks)}
    if not checks:
        return _not_measured("percent", f"{key} reported no documentation checks", **counts)
    return {
        "value": round(100 * present / len(checks), 1),
        "unit": "percent",
        "source": f"{key} (README sections, changelog, relative links, docstrings)",
        **counts,
        "missing": [name for name, ok in checks.items() if not ok],
        "docstrings": detail or None,
    }


def _finished(attempts: list[AttemptState]) -> list[AttemptState]:
    return [a for a in attempts if not a.rolled_back and a.status in ("succeeded", "failed")]


def error_rate_metric(state: RunState) -> dict[str, Any]:
    """Failed attempts over finished attempts (each retry is an attempt of its own)."""
    finished = _finished(
        [a for st in state.stages.values() for agent in st.agents.values() for a in agent.attempts]
    )
    failed = [a for a in finished if a.status == "failed"]
    by_category: dict[str, int] = {}
    for a in failed:
        by_category[a.category or "unknown"] = by_category.get(a.category or "unknown", 0) + 1
    counts = {"failed": len(failed), "attempts": len(finished), "by_category": by_category}
    if not finished:
        return _not_measured("ratio", "no attempt has finished", **counts)
    value = round(len(failed) / len(finished), 4)
    return {"value": value, "unit": "ratio", "source": ATTEMPTS_SOURCE, **counts}


def _efficiency(attempts: list[AttemptState]) -> dict[str, Any]:
    measured = [a for a in _finished(attempts) if a.duration_s > 0]
    cpu = sum((a.cpu_s for a in measured), 0.0)
    wall = sum((a.duration_s for a in measured), 0.0)
    return {
        "value": round(cpu / wall, 3) if measured else None,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "throttled_s": round(sum((a.throttled_s for a in measured), 0.0), 3),
        "attempts": len(measured),
    }


def _counted(state: RunState) -> Iterator[tuple[str, AgentState]]:
    """The agents that count (standby backups only once they ran)."""
    for st in state.stages.values():
        primaries = {a.id for a in st.primaries()}
        for agent in st.agents.values():
            if agent.id in primaries or agent.attempts:
                yield f"{st.id}.{agent.id}", agent


def efficiency_metric(state: RunState) -> dict[str, Any]:
    """CPU time over wall time, per agent and for the run (summed over the attempts, so a long
    attempt weighs more). A multi-process agent can exceed 1.0; an agent held back by its
    ``cpu_percent`` keeps that time in its wall time, so its efficiency is at most about its
    share; ``throttled_s`` says how long it was held back (paused, or throttled as the cgroup
    counts it, summed over CPUs)."""
    agents = {key: _efficiency(agent.attempts) for key, agent in _counted(state)}
    run = _efficiency([a for _, agent in _counted(state) for a in agent.attempts])
    value = run.pop("value")
    if value is None:
        return {**_not_measured("ratio", "no attempt has finished"), **run, "agents": agents}
    return {"value": value, "unit": "ratio", "source": EFFICIENCY_SOURCE, **run, "agents": agents}


def metric_text(name: str, metric: dict[str, Any]) -> str:
    """``value`` as a person reads it: ``97.3%``, ``0.41``, ``not measured``."""
    value = metric.get("value")
    if value is None:
        return "not measured"
    if metric.get("unit") == "percent":
        return f"{value:.1f}%"
    if name == "error_rate":
        return f"{100 * value:.1f}%"
    return f"{value:.2f}"


def metric_detail(name: str, metric: dict[str, Any]) -> str:
    """What a metric is made of, in a few words (the reason when it was not measured)."""
    if metric.get("value") is None:
        return str(metric.get("reason") or "")
    if name == "documentation_completeness":
        text = f"{metric['present']} of {metric['checked']} checks"
        missing = metric.get("missing") or []
        return text + (f"; missing: {', '.join(missing)}" if missing else "")
    if name == "error_rate":
        text = f"{metric['failed']} failed of {metric['attempts']} attempts"
        by = metric.get("by_category") or {}
        return text + (f" ({', '.join(f'{k} {v}' for k, v in by.items())})" if by else "")
    if name == "test_coverage" and "statements" in metric:
        return f"{metric.get('covered_lines')} of {metric['statements']} statements"
    return ""
