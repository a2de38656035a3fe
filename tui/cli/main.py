"""The ``phaseboard`` command: argument parsing and error handling.

Every command ends in an exit code of docs/cli.md and never in a traceback.
Textual is imported only by the commands that open the console, so headless use and
``--help`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

NO_CACHE_HELP = "run every agent, even one marked cache: true whose result could be reused"
HIDDEN_COMMANDS = frozenset({"engine"})
"""Subcommands for phaseboard's own use (the detached engine): never offered to users."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line, exit 2
        self.exit(2, f"phaseboard: {message} (see `{self.prog} --help`)\n")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        # argparse lists every choice in this message, hidden subcommands included
        choices = action.choices
        if isinstance(action, argparse._SubParsersAction) and choices and value not in choices:
            shown = ", ".join(repr(c) for c in choices if c not in HIDDEN_COMMANDS)
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {shown})")
        super()._check_value(action, value)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="phaseboard", description="Run phased multi-agent workflows and steer them.")
    p.add_argument("--db", help="state database (default: nearest .phaseboard/phaseboard.db)")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--db", dest="db_sub", help=argparse.SUPPRESS)
        return sp

    run = add("run", "start a run of a workflow (a path or a bundled name such as `standard`)")
    run.add_argument("workflow")
    run.add_argument(
        "--workspace", help="directory the agents work on (default: the workflow's, else .)"
    )
    run.add_argument("--headless", action="store_true", help="no TUI: progress on stderr")
    run.add_argument("--json", action="store_true", help="with --headless: one JSON event per line")
    run.add_argument("--criteria", choices=["strict", "lenient"], help="override checkpoint modes")
    run.add_argument(
        "--notify", metavar="CMD", help="shell command run when the run needs you or ends"
    )
    run.add_argument("--from", dest="from_stage", metavar="STAGE", help="first stage to run")
    run.add_argument("--until", dest="until_stage", metavar="STAGE", help="last stage to run")
    run.add_argument("--set", dest="params", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    run.add_argument(
        "--executor",
        choices=["local", "dask"],
        help="where the agents run: this machine (default) or a Dask cluster (docs/distributed.md)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the Dask scheduler, tcp://HOST:8786 (default: $PHASEBOARD_DASK_SCHEDULER)",
    )

    demo = add(
        "demo", "copy the sample project to ./phaseboard-demo/ and run the standard workflow"
    )
    demo.add_argument("--headless", action="store_true")
    demo.add_argument("--json", action="store_true")
    demo.add_argument(
        "--notify", metavar="CMD", help="shell command run when the run needs you or ends"
    )

    check = add("check", "validate a workflow file")
    check.add_argument("workflow")
    add("schema", "print the JSON Schema of the workflow file")

    runs = add("runs", "list runs")
    runs.add_argument("--json", action="store_true")

    status = add("status", "stages, agents, attempts, conflicts, checkpoints, metrics of a run")
    status.add_argument("run")
    status.add_argument("--json", action="store_true")

    attach = add("attach", "open the console on a run")
    attach.add_argument("run", nargs="?")

    resume = add("resume", "continue a paused, interrupted or crashed run")
    resume.add_argument("run")
    resume.add_argument(
        "--notify", metavar="CMD", help="shell command run when the run needs you or ends"
    )
    resume.add_argument("--headless", action="store_true")
    resume.add_argument("--json", action="store_true")
    resume.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)

    retry = add("retry", "re-run one agent (STAGE.AGENT)")
    retry.add_argument("run")
    retry.add_argument("agent")
    mode = retry.add_mutually_exclusive_group()
    mode.add_argument("--reduced-scope", action="store_true")
    mode.add_argument("--backup", action="store_true")
    retry.add_argument(
        "--more-memory",
        action="store_true",
        help="raise memory_mb by the agent's on_exhausted memory_factor (1.5 without one)",
    )

    resolve = add("resolve", "settle a conflict by picking an agent's value or giving one")
    resolve.add_argument("run")
    resolve.add_argument("conflict")
    how = resolve.add_mutually_exclusive_group(required=True)
    how.add_argument("--pick", metavar="AGENT")
    how.add_argument("--value", metavar="JSON")
    resolve.add_argument("--note", default="")

    accept = add("accept", "accept a failed checkpoint as a documented exception")
    accept.add_argument("run")
    accept.add_argument("checkpoint")
    accept.add_argument("--note", required=True)

    rollback = add("rollback", "roll back to a rollback point (or the point before a stage)")
    rollback.add_argument("run")
    rollback.add_argument("checkpoint")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    report = add("report", "write the report files of a run")
    report.add_argument("run")
    report.add_argument("--format", choices=["md", "json"], default="md")
    report.add_argument("--out", metavar="DIR")

    logs = add("logs", "print an agent's full log")
    logs.add_argument("run")
    logs.add_argument("agent")
    logs.add_argument("--attempt", type=int)
    logs.add_argument("--follow", action="store_true")
    logs.add_argument(
        "--raw", action="store_true", help="the lines as the agent wrote them (for a pipe)"
    )

    stop = add("stop", "stop a running run cleanly")
    stop.add_argument("run")

    serve = add("serve", "the console in a browser, at an address with a secret token")
    serve.add_argument("run", nargs="?")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")

    wait = add("wait", "block until a run pauses or ends; exit with its exit code")
    wait.add_argument("run")
    wait.add_argument(
        "--until",
        choices=["any", "paused", "finished"],
        default="any",
        help="any (default): paused or ended; paused; finished: ended, waiting through pauses",
    )
    wait.add_argument(
        "--timeout", type=float, metavar="S", help="give up after S seconds (exit 124)"
    )

    prune = add("prune", "delete old runs and the snapshot data only they use")
    prune.add_argument("--keep", type=int, metavar="N")
    prune.add_argument("--older-than", type=float, metavar="DAYS")

    engine = sub.add_parser("engine")  # in HIDDEN_COMMANDS
    engine.add_argument("run")
    engine.add_argument("--db", dest="db_sub")
    # argparse would list it in --help as "engine  ==SUPPRESS==": leave it out of the listing
    sub._choices_actions = [a for a in sub._choices_actions if a.dest not in HIDDEN_COMMANDS]
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "db_sub", None):
        args.db = args.db_sub
    if args.command == "logs":  # read straight from the file when it can: no engine to load
        from tui.cli.log_print import quick_logs

        try:
            quick = quick_logs(args)
        except BrokenPipeError:
            return 0
        except KeyboardInterrupt:
            print("phaseboard: interrupted", file=sys.stderr)
            return 130
        if quick is not None:
            return quick
    # imported after parsing, so `--help` and usage errors answer without loading the engine
    from engine.run.command_types import CommandRejected
    from engine.run.runs import NotFound, UsageError
    from engine.store.database import StoreError
    from engine.store.run_lock import RunLocked
    from engine.workflow.loader import WorkflowError

    try:
        return _dispatch(parser, args)
    except WorkflowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"phaseboard: {exc}", file=sys.stderr)
        return 2
    except (NotFound, CommandRejected, RunLocked, StoreError, LookupError) as exc:
        print(f"phaseboard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("phaseboard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(
            f"phaseboard: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr
        )
        return 1


HANDLERS = {
    "retry": "changes", "resolve": "changes", "accept": "changes", "rollback": "changes",
    "stop": "changes", "prune": "changes", "run": "run", "resume": "run", "demo": "run",
    "engine": "run", "check": "commands", "schema": "commands", "runs": "commands",
    "status": "commands", "report": "commands", "logs": "commands", "wait": "wait",
    "serve": "serve",
}  # fmt: skip
"""The module of ``tui.cli`` that handles each command, imported alone: an operator's ``stop``
starts fast, and only the commands that open the console import Textual."""


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import asyncio
    import importlib

    command = args.command
    opens_console = command in (None, "attach") or (
        command in ("run", "demo") and not args.headless
    )
    if opens_console:
        from tui.cli.console import open_console

        return open_console(args)
    module = importlib.import_module(f"tui.cli.{HANDLERS[command]}")
    result = getattr(module, command)(args)
    return asyncio.run(result) if asyncio.iscoroutine(result) else int(result)


if __name__ == "__main__":
    sys.exit(main())
