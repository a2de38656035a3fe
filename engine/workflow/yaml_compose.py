"""Parsing YAML into plain data while keeping the position of every key, value and item.

YAML is composed into nodes (SafeLoader: no Python tags) and turned into plain data by hand, so
:class:`Positions` can later point a problem found in the data back at its line and column.
Nothing a file contains ends in a traceback: every failure is a :class:`WorkflowError`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.workflow.expressions import offset_position
from engine.workflow.issues import DataPath

__all__ = ["Positions", "Problem", "WorkflowError", "compose_yaml"]

_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (about 10x faster); the same nodes and marks."""

MAX_NODES = 100_000
"""Bound on constructed values, against alias bombs."""
MAX_DEPTH = 100


class Problem(NamedTuple):
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class WorkflowError(Exception):
    """A workflow file that cannot be used; ``problems`` holds all that was found, in order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class _Abort(Exception):
    def __init__(self, node: Node, message: str) -> None:
        self.node = node
        self.message = message


_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class Positions:
    """Where each value of the parsed data came from."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.lines = text.split("\n")
        self.nodes: dict[DataPath, tuple[Node | None, Node]] = {}
        """path -> (key node, value node); the root has no key node."""

    def _nearest(self, path: DataPath) -> tuple[DataPath, tuple[Node | None, Node] | None]:
        for end in range(len(path), -1, -1):
            found = self.nodes.get(path[:end])
            if found is not None:
                return path[:end], found
        return (), None

    def at(
        self, path: DataPath, message: str, *, key: bool = False, offset: int | None = None
    ) -> Problem:
        """A problem at the value (or ``key``) of ``path``, or its nearest known ancestor;
        ``offset`` is a character offset inside a string value."""
        found_path, found = self._nearest(path)
        if found is None:
            return Problem(self.filename, 1, 1, message)
        key_node, value_node = found
        if key and key_node is not None and found_path == path:
            return self.problem(key_node, message)
        if offset is not None and found_path == path and isinstance(value_node, ScalarNode):
            line, column = self._inside(value_node, offset)
            return Problem(self.filename, line, column, message)
        return self.problem(value_node, message)

    def line_of(self, path: DataPath) -> int | None:
        found = self.nodes.get(path)
        return found[1].start_mark.line + 1 if found else None

    def problem(self, node: Node, message: str) -> Problem:
        mark = node.start_mark
        return Problem(self.filename, mark.line + 1, mark.column + 1, message)

    def _inside(self, node: ScalarNode, offset: int) -> tuple[int, int]:
        start = node.start_mark
        if node.style in (None, "'", '"') and start.line == node.end_mark.line:
            return start.line + 1, start.column + 1 + (1 if node.style else 0) + offset
        if node.style == "|":
            line, column = offset_position(node.value, offset)
            content = [text for text in self.lines[start.line + 1 :] if text.strip()]
            if content:
                indent = len(content[0]) - len(content[0].lstrip(" "))
                return start.line + line + 1, indent + column
        return start.line + 1, start.column + 1


def _construct(loader: yaml.SafeLoader, node: ScalarNode) -> Any:
    """A scalar's value; an explicit tag that does not fit it (``!!float true``) is a problem."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, ArithmeticError) as error:
        tag = node.tag.removeprefix("tag:yaml.org,2002:")
        raise _Abort(node, f"cannot read {node.value!r} as {tag}: {error}") from None


def _check_keys(loader: yaml.SafeLoader, root: Node, positions: Positions) -> list[Problem]:
    """Duplicate keys (merged ``<<`` keys may be overridden), then merge keys flattened."""
    problems: list[Problem] = []
    mappings: list[MappingNode] = []
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            mappings.append(node)
            first: dict[Any, Node] = {}
            for key_node, value_node in node.value:
                stack.extend((key_node, value_node))
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = _construct(loader, key_node)
                if key in first:
                    line = first[key].start_mark.line + 1
                    problems.append(
                        positions.problem(
                            key_node, f"duplicate key '{key}' (first defined at line {line})"
                        )
                    )
                else:
                    first[key] = key_node
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    for mapping in mappings:
        loader.flatten_mapping(mapping)
    return problems


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, positions: Positions) -> None:
        self.loader = loader
        self.positions = positions
        self.count = 0

    def build(self, node: Node, path: DataPath, key_node: Node | None = None) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Abort(node, "too many values (an alias expanded too often?)")
        if len(path) > MAX_DEPTH:
            raise _Abort(node, "nesting is too deep")
        self.positions.nodes[path] = (key_node, node)
        if isinstance(node, ScalarNode):
            return _construct(self.loader, node)
        if node.tag not in _COLLECTION_TAGS:
            raise _Abort(node, f"unsupported YAML tag '{node.tag}'")
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        result: dict[Any, Any] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                raise _Abort(key, "a mapping key must be a plain value, not a list or mapping")
            name = _construct(self.loader, key)
            result[name] = self.build(value, (*path, name), key)
        return result


def _yaml_problem(filename: str, text: str, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.reader.ReaderError):
        line, column = offset_position(text, error.position)
        return Problem(
            filename,
            line,
            column,
            f"control character U+{error.character:04X} is not allowed in YAML",
        )
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(filename, 1, 1, f"YAML error: {error}")
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = error.problem or "invalid YAML"
    if "'\\t'" in problem:
        return Problem(
            filename, line, column, "tab character: YAML is indented with spaces, never tabs"
        )
    message = f"YAML syntax error: {problem}"
    context = error.context_mark
    if error.context and context and mark and context.line != mark.line:
        message += f" ({error.context} at line {context.line + 1})"
    return Problem(filename, line, column, message)


def compose_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data and the position of each of its values.

    libyaml parses where PyYAML has it; a syntax error is parsed again by the pure-Python parser,
    whose messages say more.
    """
    try:
        return _compose(text, filename, _FAST_LOADER)
    except WorkflowError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
        return _compose(text, filename, yaml.SafeLoader)


def _compose(
    text: str, filename: str, loader_class: type[yaml.SafeLoader]
) -> tuple[Any, Positions]:
    positions = Positions(filename, text)
    loader = None
    try:
        loader = loader_class(text)
        root = loader.get_single_node()
        if root is None:
            return None, positions
        problems = _check_keys(loader, root, positions)
        if problems:
            raise WorkflowError(problems)
        return _Builder(loader, positions).build(root, ()), positions
    except yaml.YAMLError as error:
        raise WorkflowError([_yaml_problem(filename, text, error)]) from None
    except _Abort as abort:
        raise WorkflowError([positions.problem(abort.node, abort.message)]) from None
    except RecursionError:
        raise WorkflowError([Problem(filename, 1, 1, "nesting is too deep")]) from None
    finally:
        if loader is not None:
            loader.dispose()
