"""The Metrics tab: phase durations, success rate, attempt times, retries, memory, and the
quality metrics (coverage, documentation, error rate, CPU over wall time), each with its source."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Sparkline, Static

from engine.state.metrics import run_metrics
from engine.state.quality import metric_detail, metric_text
from engine.state.run_state import RunState
from tui.console.widgets.formatting import duration

BAR_W = 24


def attempt_durations(state: RunState) -> list[float]:
    """Finished attempts in the order they ended (the sparkline's data)."""
    done = [
        a
        for st in state.stages.values()
        for agent in st.agents.values()
        for a in agent.attempts
        if a.ended_at is not None and not a.rolled_back
    ]
    return [a.duration_s for a in sorted(done, key=lambda a: a.ended_at or 0.0)]


def _bar(value: float, top: float) -> str:
    if top <= 0:
        return ""
    cells = value / top * BAR_W
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")


def metrics_renderable(metrics: dict[str, Any]) -> Group:
    summary = Table(box=None, show_header=False, padding=(0, 1))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(no_wrap=True)
    rate = metrics["success_rate"] * 100
    summary.add_row("agents", f"{metrics['agents_succeeded']}/{metrics['agents']} ({rate:.0f}%)")
    summary.add_row("attempts", f"{metrics['attempts']} ({metrics['retries']} retries)")
    summary.add_row("mean attempt", duration(metrics["mean_attempt_s"]))
    summary.add_row("peak memory", f"{metrics['peak_rss_mb']:.0f} MB")
    summary.add_row("cpu", duration(metrics["cpu_s"]))
    if metrics.get("tokens") or metrics.get("cost_usd"):
        summary.add_row("tokens / cost", f"{metrics['tokens']} / ${metrics['cost_usd']:.4f}")
    failures = metrics.get("failures_by_category") or {}
    if failures:
        summary.add_row("failures", ", ".join(f"{k} {v}" for k, v in failures.items()))
    conflicts = f"{metrics['conflicts']} ({metrics['open_conflicts']} open)"
    summary.add_row("conflicts", conflicts)
    summary.add_row(
        "rollback points",
        f"{metrics['rollback_points']} ({metrics['rollback_points_verified']} verified), "
        f"{metrics['rollbacks']} rollbacks",
    )
    phases = Table(box=None, show_header=False, padding=(0, 1))
    phases.add_column(style="bold", no_wrap=True)
    phases.add_column(no_wrap=True, justify="right")
    phases.add_column(no_wrap=True)
    durations: dict[str, float] = metrics["phase_durations"]
    top = max(durations.values(), default=0.0)
    for sid, secs in durations.items():
        phases.add_row(sid, duration(secs), _bar(secs, top))
    return Group(
        summary,
        Text("phase durations", style="bold underline"),
        phases,
        Text("quality", style="bold underline"),
        quality_table(metrics.get("quality_metrics") or {}),
        Text("cpu time / wall time", style="bold underline"),
        efficiency_table((metrics.get("agent_performance") or {}).get("resource_efficiency")),
    )


QUALITY_LABELS = {
    "test_coverage": "test coverage",
    "documentation_completeness": "documentation",
    "error_rate": "error rate",
}


def quality_table(quality: dict[str, Any]) -> Table:
    """One row a metric: its value and what it is made of, and under it where it came from
    (or why the run did not measure it)."""
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for name, metric in quality.items():
        label = QUALITY_LABELS.get(name, name)
        if metric.get("value") is None:
            table.add_row(label, "not measured", Text(metric_detail(name, metric), style="dim"))
            continue
        table.add_row(label, metric_text(name, metric), metric_detail(name, metric))
        table.add_row("", "", Text(f"from {metric['source']}", style="dim"))
    return table


def efficiency_table(efficiency: dict[str, Any] | None) -> Table:
    """CPU time over wall time, the run's and each agent's, with a bar (full at 1.0, one busy
    process); time held back by ``cpu_percent`` is wall time, shown beside it."""
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True, justify="right")
    table.add_column(no_wrap=True)
    if not efficiency:
        return table
    rows = [("the run", efficiency), *efficiency.get("agents", {}).items()]
    top = max([1.0, *(item["value"] or 0.0 for _, item in rows)])
    for who, item in rows:
        value = item.get("value")
        if value is None:
            table.add_row(who, "-", Text("no finished attempt", style="dim"))
            continue
        held = f" held {duration(item['throttled_s'])}" if item.get("throttled_s") else ""
        table.add_row(who, f"{value:.2f}", _bar(value, top) + held)
    return table


class MetricsView(VerticalScroll):
    DEFAULT_CSS = """
    MetricsView Sparkline { height: 2; margin: 0 1; }
    MetricsView .caption { height: 1; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="metrics-body")
        yield Static("attempt durations, oldest to newest", classes="caption")
        yield Sparkline([], id="attempt-spark")

    def show(self, state: RunState) -> None:
        self.query_one("#metrics-body", Static).update(metrics_renderable(run_metrics(state)))
        self.query_one("#attempt-spark", Sparkline).data = attempt_durations(state)
