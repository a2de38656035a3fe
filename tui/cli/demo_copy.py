"""The demo's workspace: ``./phaseboard-demo``, a fresh copy of the bundled sample every time.

A second ``phaseboard demo`` resets the copy instead of running on the files the first one
wrote, so every demo shows the same conflict and the same story. Nothing is lost by the reset:
the earlier runs stay in ``.phaseboard/`` with their rollback points, which hold the files.
A copy that a live engine is still working on is left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.run.runs import UsageError
from engine.store.database import Store
from engine.store.run_lock import live_holder
from engine.workflow.models import bundled_data_dir

DEMO_DIR = "phaseboard-demo"
STATE_DIR = ".phaseboard"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


async def prepare_demo_dir(cwd: Path | None = None) -> Path:
    target = (cwd or Path.cwd()) / DEMO_DIR
    sample = bundled_data_dir() / "sample"
    if target.exists():
        if not target.is_dir() or (not (target / STATE_DIR).exists() and any(target.iterdir())):
            raise UsageError(f"{target} exists and is not a phaseboard demo; move it away first")
        await _refuse_if_running(target)
        _clear_except_state(target)
    shutil.copytree(sample, target, ignore=_IGNORED, dirs_exist_ok=True)
    return target


async def _refuse_if_running(target: Path) -> None:
    db = target / STATE_DIR / "phaseboard.db"
    if not db.exists():
        return
    async with await Store.open(db, create=False) as store:
        for run in await store.runs():
            if await live_holder(store, run.id) is not None:
                raise UsageError(
                    f"demo run {run.id} is still going in {target}; watch it with "
                    f"`phaseboard attach {run.id}` or stop it with "
                    f"`phaseboard stop {run.id}` first"
                )


def _clear_except_state(target: Path) -> None:
    for entry in target.iterdir():
        if entry.name == STATE_DIR:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
