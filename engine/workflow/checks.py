"""The checks of a workflow that span fields, run on the raw data (parsed YAML) whatever its shape.

The models of :mod:`engine.workflow.models` check shapes and types; :func:`find_issues` checks what no
single field can (unique ids, references between stages and agents, expressions, placeholders),
so a file with both kinds of mistake gets every problem reported at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.workflow import value_checks
from engine.workflow.issues import DataPath, Issue, format_path, items, suggest

__all__ = ["DataPath", "Issue", "find_issues", "format_path"]


def find_issues(data: Any) -> list[Issue]:
    """Every cross-field problem of raw workflow data (parsed YAML), whatever its shape."""
    if not isinstance(data, dict):
        return []
    return _Checker(data).run()


class _Checker:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        params = data.get("params")
        self.params = set(params) if isinstance(params, dict) else set()
        self.issues: list[Issue] = []
        self.stage_index: dict[str, int] = {}
        self.stage_kind: dict[str, Any] = {}
        self.stage_agents: dict[str, set[str]] = {}

    def add(
        self,
        path: DataPath,
        message: str,
        offset: int | None = None,
        related: DataPath | None = None,
        at_key: bool = False,
    ) -> None:
        self.issues.append(Issue(path, message, offset, related, at_key))

    def run(self) -> list[Issue]:
        stages = list(items(self.data.get("stages")))
        for index, stage in stages:
            sid = stage.get("id")
            if not isinstance(sid, str):
                continue
            if sid in self.stage_index:
                first = self.stage_index[sid]
                self.add(
                    ("stages", index, "id"),
                    f"duplicate stage id '{sid}'",
                    related=("stages", first, "id"),
                )
                continue
            self.stage_index[sid] = index
            self.stage_kind[sid] = stage.get("kind")
            self.stage_agents[sid] = {
                agent["id"]
                for _, _, agent in self._stage_agents(index, stage)
                if isinstance(agent.get("id"), str)
            }
        for index, stage in stages:
            kind = stage.get("kind")
            if kind == "agents":
                self._agents_stage(index, stage)
            elif kind == "consolidation":
                self._consolidation(index, stage)
            elif kind == "checkpoint":
                self._checkpoint(index, stage)
        return self.issues

    @staticmethod
    def _stage_agents(
        index: int, stage: dict[str, Any]
    ) -> Iterator[tuple[DataPath, bool, dict[str, Any]]]:
        for j, agent in items(stage.get("agents")):
            yield ("stages", index, "agents", j), False, agent
        extended = stage.get("extended")
        if isinstance(extended, dict):
            for j, agent in items(extended.get("agents")):
                yield ("stages", index, "extended", "agents", j), True, agent

    def _agents_stage(self, index: int, stage: dict[str, Any]) -> None:
        sid = str(stage.get("id"))
        agents: dict[str, tuple[DataPath, dict[str, Any]]] = {}
        for path, _, agent in self._stage_agents(index, stage):
            aid = agent.get("id")
            if isinstance(aid, str):
                if aid in agents:
                    self.add(
                        (*path, "id"),
                        f"duplicate agent id '{aid}' in stage '{sid}'",
                        related=(*agents[aid][0], "id"),
                    )
                else:
                    agents[aid] = (path, agent)
            self._agent(path, agent)
            if agent.get("cache") is True and stage.get("mode") == "sequential":
                self.add(
                    (*path, "cache"),
                    "cache: true is for agents that only read: a sequential stage's agents change "
                    "the workspace, and a reused result would not change it again",
                )
        self._backups(sid, agents)
        extended = stage.get("extended")
        if isinstance(extended, dict) and isinstance(extended.get("when"), str):
            value_checks.expression(self, ("stages", index, "extended", "when"), extended["when"])

    def _backups(self, sid: str, agents: dict[str, tuple[DataPath, dict[str, Any]]]) -> None:
        backed: set[str] = set()
        for aid, (path, agent) in agents.items():
            backup = agent.get("backup")
            if not isinstance(backup, str):
                continue
            backed.add(backup)
            where = (*path, "backup")
            if backup == aid:
                self.add(where, f"agent '{aid}' cannot be its own backup")
            elif backup not in agents:
                self.add(
                    where,
                    f"backup '{backup}' is not an agent of stage '{sid}'"
                    + suggest(backup, set(agents)),
                )
            elif agents[backup][1].get("standby") is not True:
                self.add(
                    where,
                    f"backup '{backup}' must be a standby agent (add standby: true"
                    " to it, so it only runs as a backup)",
                )
            elif _chains_without_loop(agents, backup):
                self.add(
                    (*agents[backup][0], "backup"),
                    f"backup '{backup}' has a backup of its own: an agent fails over once, so"
                    f" '{agents[backup][1]['backup']}' would never run; name it as the backup"
                    f" of '{aid}' instead",
                )
        for aid, (path, agent) in agents.items():
            if agent.get("standby") is True and aid not in backed:
                self.add(
                    (*path, "standby"),
                    f"standby agent '{aid}' never runs: no agent of"
                    f" stage '{sid}' names it as its backup",
                )
        self._backup_loops(agents)

    def _backup_loops(self, agents: dict[str, tuple[DataPath, dict[str, Any]]]) -> None:
        reported: set[frozenset[str]] = set()
        for start in agents:
            chain = [start]
            while True:
                nxt = agents[chain[-1]][1].get("backup")
                if not isinstance(nxt, str) or nxt not in agents or nxt == chain[-1]:
                    break
                if nxt in chain:
                    loop = chain[chain.index(nxt) :]
                    if frozenset(loop) not in reported:
                        reported.add(frozenset(loop))
                        self.add(
                            (*agents[chain[-1]][0], "backup"),
                            "backup chain loops: " + " -> ".join([*loop, nxt]),
                        )
                    break
                chain.append(nxt)

    def _agent(self, path: DataPath, agent: dict[str, Any], synthesizer: bool = False) -> None:
        shell = agent.get("shell") is True
        for key in ("run", "rollback", "verify"):
            value_checks.command(self, (*path, key), agent.get(key), shell)
        if synthesizer:
            for key in ("backup", "standby"):
                if key in agent:
                    self.add((*path, key), f"a synthesizer has no '{key}'", at_key=True)
        if agent.get("cache") is True and agent.get("rollback") is not None:
            self.add(
                (*path, "cache"),
                "cache: true is for agents that only read: one with a rollback command changes "
                "things, and a reused result would not change them again",
            )
        schema = agent.get("schema")
        if isinstance(schema, dict):
            value_checks.json_values(self, (*path, "schema"), schema)
            value_checks.json_schema(self, (*path, "schema"), schema)
        if isinstance(agent.get("reduced_scope"), dict):
            value_checks.json_values(self, (*path, "reduced_scope"), agent["reduced_scope"])

    def _consolidation(self, index: int, stage: dict[str, Any]) -> None:
        inputs = stage.get("inputs")
        available: set[str] = set()
        seen: set[str] = set()
        for k, name in enumerate(inputs if isinstance(inputs, list) else []):
            if not isinstance(name, str):
                continue
            path = ("stages", index, "inputs", k)
            if name in seen:
                self.add(path, f"input '{name}' is listed twice")
            elif name not in self.stage_index:
                self.add(
                    path, f"input '{name}' is not a stage" + suggest(name, set(self.stage_index))
                )
            elif self.stage_kind[name] != "agents":
                self.add(
                    path,
                    f"input '{name}' is a {self.stage_kind[name]} stage;"
                    " inputs must be agents stages",
                )
            elif self.stage_index[name] >= index:
                self.add(
                    path,
                    f"input '{name}' comes after this stage; inputs must be earlier agents stages",
                )
            else:
                available |= self.stage_agents[name]
            seen.add(name)
        sections = stage.get("sections")
        if isinstance(sections, dict) and available:
            for section, agent in sections.items():
                if isinstance(agent, str) and agent not in available:
                    self.add(
                        ("stages", index, "sections", section),
                        f"section '{section}': agent '{agent}' is not in the input stages"
                        + suggest(agent, available),
                    )
        for k, rule in items(stage.get("compare")):
            has_tolerance = rule.get("tolerance") is not None
            if rule.get("rule") == "tolerance" and not has_tolerance:
                self.add(("stages", index, "compare", k), "rule 'tolerance' needs a tolerance")
            elif rule.get("rule") != "tolerance" and has_tolerance:
                self.add(
                    ("stages", index, "compare", k, "tolerance"),
                    f"tolerance is only read by rule 'tolerance', not '{rule.get('rule')}'",
                )
        synthesizer = stage.get("synthesizer")
        if isinstance(synthesizer, dict):
            self._agent(("stages", index, "synthesizer"), synthesizer, synthesizer=True)

    def _checkpoint(self, index: int, stage: dict[str, Any]) -> None:
        ids: dict[str, int] = {}
        for k, criterion in items(stage.get("criteria")):
            path = ("stages", index, "criteria", k)
            cid = criterion.get("id")
            if isinstance(cid, str):
                if cid in ids:
                    self.add(
                        (*path, "id"),
                        f"duplicate criterion id '{cid}'",
                        related=("stages", index, "criteria", ids[cid], "id"),
                    )
                else:
                    ids[cid] = k
            if isinstance(criterion.get("expr"), str):
                value_checks.expression(self, (*path, "expr"), criterion["expr"])
        decision = stage.get("decision")
        if not isinstance(decision, dict):
            return
        for key in ("critical", "warnings"):
            exprs = decision.get(key)
            for k, expr in enumerate(exprs if isinstance(exprs, list) else []):
                if isinstance(expr, str):
                    value_checks.expression(self, ("stages", index, "decision", key, k), expr)
                elif isinstance(expr, dict) and isinstance(expr.get("expr"), str):
                    value_checks.expression(
                        self, ("stages", index, "decision", key, k, "expr"), expr["expr"]
                    )
        proceed = decision.get("proceed_below", 3)
        conditional = decision.get("conditional_below", 5)
        if _is_int(proceed) and _is_int(conditional) and conditional < proceed:
            self.add(
                ("stages", index, "decision", "conditional_below"),
                f"conditional_below ({conditional}) must be at least proceed_below ({proceed})",
            )


def _chains_without_loop(agents: dict[str, tuple[DataPath, dict[str, Any]]], backup: str) -> bool:
    """Whether ``backup`` names a backup of its own, in a chain that ends (a loop is reported
    on its own)."""
    seen = {backup}
    current = agents[backup][1].get("backup")
    while isinstance(current, str) and current in agents:
        if current in seen:
            return False
        seen.add(current)
        current = agents[current][1].get("backup")
    return len(seen) > 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
