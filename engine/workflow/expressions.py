"""Safe evaluation of workflow expressions (criteria, decisions, ``extended.when``) with CEL.

Expressions are never handed to Python's ``eval``: they are compiled and run by the Rust CEL
implementation of the ``common-expression-language`` package. Behaviour worth knowing, measured
with version 0.10:

- Comparisons mix ``int`` and ``double`` freely (``1 == 1.0``, ``x > 2`` with ``x = 2.5``), but
  arithmetic does not (``x + 1`` with ``x = 1.5`` is an error): write ``double(n) + 0.5``.
  Numbers in the context are passed as they are, never converted by value, so an expression
  cannot work for ``2.5`` and fail for ``2.0``.
- ``None`` is CEL ``null``: ``x == null`` works, ``x > 2`` with ``x = null`` is a type error.
- A missing map key is an error (``no such key: 'x'``); test with ``has(a.x)`` or ``'x' in a``.
- ``bool`` is not a number: ``true + 1`` and ``int(true)`` are errors; use ``b ? 1 : 0``.
- Integers beyond 64 bits become doubles; tuples become lists.

The package's ``__init__`` imports its command-line tool, which pulls in rich, typer and
prompt_toolkit (about 150 ms, and rich must stay out of the engine), so only its compiled
extension module is loaded here; a later ``import cel`` reuses it.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOTS: frozenset[str] = frozenset(
    {"stages", "conflicts", "open_conflicts", "params", "metrics", "run"}
)
"""The top-level names an expression may read."""

_MACROS = ("all", "exists", "exists_one", "map", "filter")


def _load_cel() -> ModuleType:
    """Load the ``cel.cel`` extension module without running ``cel/__init__.py``."""
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    try:
        package = importlib.util.find_spec("cel")
        locations = list(package.submodule_search_locations or []) if package else []
        for folder in locations:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                candidate = Path(folder) / f"cel{suffix}"
                if not candidate.is_file():
                    continue
                loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(candidate))
                spec = importlib.util.spec_from_file_location("cel.cel", candidate, loader=loader)
                if spec is None:
                    continue
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                sys.modules["cel.cel"] = module
                return module
    except (ImportError, OSError):
        pass
    import cel  # fallback: the whole package, command-line tool included

    return cel


_cel = _load_cel()
Program = _cel.Program


class ExpressionError(Exception):
    """An expression that does not compile, or that failed on the values it was given."""

    def __init__(self, message: str, column: int | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        """What went wrong, in one line."""
        self.column = column
        """1-based column inside the expression, when the parser reported one."""
        self.line = line
        """1-based line inside the expression (multi-line expressions), when known."""


_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+):\s*([^\n]*)")
_EXPECTING = re.compile(r"expecting \{[^}]*,[^}]*,[^}]*,[^}]*\}")


def _parse_error(src: str, error: Exception) -> ExpressionError:
    text = str(error)
    found = _PARSE_ERROR.search(text)
    if found is None:
        return ExpressionError(text.strip() or "expression does not parse")
    message = _EXPECTING.sub("expecting an operand", found.group(3).strip())
    return ExpressionError(message, column=int(found.group(2)), line=int(found.group(1)))


@functools.lru_cache(maxsize=1024)
def compile_expression(src: str) -> Any:
    """Compile ``src`` into a reusable ``cel.Program``; raise :class:`ExpressionError` if it
    does not parse."""
    if not isinstance(src, str):
        raise ExpressionError(f"expression must be a string, not {type(src).__name__}")
    try:
        return _cel.compile(src)
    except Exception as error:  # the extension raises ValueError, but be safe about others
        raise _parse_error(src, error) from None


def _first_sentence(text: str) -> str:
    return text.split(". ", 1)[0].rstrip(".")


def _runtime_error(error: Exception) -> ExpressionError:
    text = str(error).strip()
    if isinstance(error, KeyError):
        return ExpressionError(f"no such key: {text}")
    if isinstance(error, IndexError):
        return ExpressionError(text.replace("index out of bounds", "index out of range"))
    if isinstance(error, ZeroDivisionError):
        return ExpressionError("division by zero")
    if isinstance(error, TypeError):
        if text.startswith("Unsupported operation:"):
            operation = _first_sentence(text).removeprefix("Unsupported operation:").strip()
            operation = operation.replace("float", "double")
            return ExpressionError(
                f"unsupported operation {operation}: CEL does not mix types in arithmetic;"
                " convert with double(x) or int(x)"
            )
        return ExpressionError(
            "type mismatch: no operator or function accepts these operand types"
            " (int mixed with double in arithmetic, null used as a value, or a field"
            " read on something that is not a map?)"
        )
    if isinstance(error, RuntimeError) and text.startswith("Undefined variable or function:"):
        name = _first_sentence(text).removeprefix("Undefined variable or function:").strip()
        return ExpressionError(f"unknown name or function: {name}")
    if isinstance(error, ValueError) and "Conversion Error" in text:
        return ExpressionError(f"a value in the context cannot be used in an expression: {text}")
    return ExpressionError(_first_sentence(text) or type(error).__name__)


def evaluate(src: str, context: dict[str, Any]) -> Any:
    """Evaluate ``src`` with ``context`` (plain dicts, lists, str, int, float, bool, None).

    Every failure, at compile or run time, is an :class:`ExpressionError`.
    """
    program = compile_expression(src)
    try:
        return program.execute(context)
    except Exception as error:
        raise _runtime_error(error) from None


_STRING_LITERAL = re.compile(
    r"""[rRbB]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.DOTALL,
)


def blank_strings(src: str) -> str:
    """``src`` with the inside of every string literal replaced by spaces, offsets unchanged,
    so that the scans below never match text inside quotes."""
    return _STRING_LITERAL.sub(lambda m: " " * len(m.group(0)), src)


_BOUND = re.compile(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(\s*([A-Za-z_]\w*)\s*,")


def _bound_names(src: str) -> set[str]:
    return set(_BOUND.findall(blank_strings(src)))


def check_names(src: str, allowed_roots: set[str] | frozenset[str]) -> list[str]:
    """Top-level names used by ``src`` that are not in ``allowed_roots``, sorted.

    Names bound by comprehension macros (the ``c`` of ``xs.filter(c, ...)``) are not reported.
    Raises :class:`ExpressionError` if ``src`` does not compile.
    """
    program = compile_expression(src)
    bound = _bound_names(src)
    return sorted(name for name in program.variables() if name not in allowed_roots | bound)


def offset_position(src: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of character ``offset`` of ``src``."""
    line = src.count("\n", 0, offset) + 1
    column = offset - (src.rfind("\n", 0, offset) + 1) + 1
    return line, column


def identifier_offset(src: str, name: str) -> int | None:
    """Offset of the first use of ``name`` as a top-level identifier (not after a ``.``)."""
    found = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", blank_strings(src))
    return found.start() if found else None


def attribute_references(src: str, *chain: str) -> list[tuple[tuple[str, ...], int]]:
    """Each attribute read as ``chain[0].chain[1]....NAME`` in ``src``, with the offset of NAME.

    ``*`` in ``chain`` matches any one name. The names matched by ``*`` come first in the
    returned tuple, then NAME: ``attribute_references(src, "stages", "*", "agents")`` gives
    ``(("analysis", "code"), offset)`` for ``stages.analysis.agents.code``.
    """
    parts = [r"([A-Za-z_]\w*)" if part == "*" else re.escape(part) for part in chain]
    pattern = r"(?<![\w.])" + r"\s*\.\s*".join(parts) + r"\s*\.\s*([A-Za-z_]\w*)"
    return [
        (found.groups(), found.start(found.lastindex or 0))
        for found in re.finditer(pattern, blank_strings(src))
    ]
