"""The Synthesis tab: a consolidation's sections, merged findings, conflicts, risks and decisions."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine.state.records import StageState
from engine.state.run_state import RunState
from tui.console.widgets.formatting import agent_text, json_short

CHILD_LIMIT = 200
"""Children shown per node; the rest are summarised (the full document is in the run folder)."""
OWN_KEYS = ("findings", "conflicts", "dependencies", "risk_assessment")


def synthesis_stage(state: RunState, selected: str | None) -> StageState | None:
    """The selected consolidation, else the newest one that has a document."""
    if selected is not None:
        st = state.stages.get(selected)
        if st is not None and st.kind == "consolidation" and st.document is not None:
            return st
    found = [s for s in state.stages.values() if s.kind == "consolidation" and s.document]
    return found[-1] if found else None


def _label(key: str, value: Any = None, *, leaf: bool = False, style: str = "bold") -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(agent_text(key, 60), style=style)
    if leaf:
        text.append(": ")
        text.append(agent_text(value, 200) if isinstance(value, str) else json_short(value, 200))
    return text


def add_value(node: TreeNode[Any], key: str, value: Any, *, expand: bool = False) -> None:
    """A dict or list as a branch (children capped), anything else as a leaf."""
    if isinstance(value, dict):
        branch = node.add(_label(f"{key} {{{len(value)}}}"), expand=expand)
        items = list(value.items())
        for k, v in items[:CHILD_LIMIT]:
            add_value(branch, str(k), v)
        _more(branch, len(items))
    elif isinstance(value, list):
        branch = node.add(_label(f"{key} [{len(value)}]"), expand=expand)
        for index, v in enumerate(value[:CHILD_LIMIT]):
            add_value(branch, str(index), v)
        _more(branch, len(value))
    else:
        node.add_leaf(_label(key, value, leaf=True))


def _more(node: TreeNode[Any], count: int) -> None:
    if count > CHILD_LIMIT:
        node.add_leaf(Text(f"… {count - CHILD_LIMIT} more", style="dim"))


class SynthesisView(Tree[Any]):
    """Rebuilt only when the shown synthesis document changes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Text("no synthesis yet"), **kwargs)
        self.show_root = True
        self._shown: tuple[str, int] | None = None

    def show(self, state: RunState, selected: str | None) -> None:
        st = synthesis_stage(state, selected)
        key = (st.id, id(st.document)) if st is not None else None
        if key == self._shown:
            return
        self._shown = key
        self.clear()
        if st is None or st.document is None:
            self.root.set_label(Text("no synthesis yet", style="dim"))
            return
        self._fill(st, st.document, state)

    def _fill(self, st: StageState, doc: dict[str, Any], state: RunState) -> None:
        synthesis = doc.get("synthesis") or {}
        inputs = doc.get("inputs") or []
        root = Text(no_wrap=True)
        root.append(st.id, style="bold")
        root.append(f"  {agent_text(doc.get('timestamp', ''), 40)}  inputs {len(inputs)}")
        self.root.set_label(root)
        self.root.expand()
        add_value(self.root, "findings (merged)", synthesis.get("findings") or {}, expand=True)
        for name, value in synthesis.items():
            if name not in OWN_KEYS:
                add_value(self.root, f"section {name}", value)
        self._conflicts(st, state)
        risks = (synthesis.get("risk_assessment") or {}).get("risks") or []
        branch = self.root.add(_label(f"risks [{len(risks)}]"), expand=bool(risks))
        for risk in risks[:CHILD_LIMIT]:
            if isinstance(risk, dict):
                label = Text(no_wrap=True, overflow="ellipsis")
                label.append(f"[{agent_text(risk.get('severity', '?'), 10)}] ", style="bold")
                label.append(agent_text(f"{risk.get('id', '')}: {risk.get('title', '')}", 200))
                branch.add_leaf(label)
        _more(branch, len(risks))
        add_value(self.root, "dependencies", synthesis.get("dependencies") or [])
        add_value(self.root, "decisions", doc.get("decisions") or {})
        for extra in ("missing", "warnings"):
            if doc.get(extra):
                add_value(self.root, extra, doc[extra])

    def _conflicts(self, st: StageState, state: RunState) -> None:
        conflicts = [c for c in state.live_conflicts() if c.stage == st.id]
        branch = self.root.add(_label(f"conflicts [{len(conflicts)}]"), expand=bool(conflicts))
        for c in conflicts:
            label = Text(no_wrap=True, overflow="ellipsis")
            label.append(f"{c.id} ", style="bold")
            label.append(agent_text(c.path, 80))
            label.append(f"  {c.severity}  ")
            label.append("resolved" if c.resolved else "OPEN", style="" if c.resolved else "bold")
            node = branch.add(label)
            for agent, value in c.candidates.items():
                node.add_leaf(_label(agent, value, leaf=True, style=""))
            if c.resolution:
                node.add_leaf(_label("chosen", c.resolution.get("value"), leaf=True))
