"""What creating a file costs on a filesystem, before and right after many were removed nearby.

Supports scenario 1's analysis (docs/performance.md): ext4 without a journal skips every inode
freed in the last 60 s when it allocates one, a lookup each, so the cost of creating files
depends on what was removed just before. Prints the system time per file in a new folder, then
in a folder whose 10,000 files were just removed, and what filesystem it measured.
Not a scenario of ``make bench``: it has no target.

    python bench/limit_file_creation.py [DIR ...]     # default: the system temp dir
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import describe_filesystem

FILES = 2_000
REMOVED = 10_000


def create(folder: Path, count: int, prefix: str = "f") -> tuple[float, float]:
    """(system ms, wall ms) per empty file created in ``folder``."""
    folder.mkdir(exist_ok=True)
    sys_before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    start = time.perf_counter()
    for i in range(count):
        os.close(os.open(folder / f"{prefix}{i}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    wall = time.perf_counter() - start
    system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys_before
    return system / count * 1000, wall / count * 1000


def measure(base: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="phaseboard-bench-create-", dir=base))
    try:
        before = create(root / "fresh", FILES)
        create(root / "reused", REMOVED)
        for i in range(REMOVED):
            os.unlink(root / "reused" / f"f{i}")
        after = create(root / "reused", FILES, prefix="g")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"{base} ({describe_filesystem(base)}): {FILES:,} files, system {before[0]:.3f} ms"
        f" (wall {before[1]:.3f} ms) each in a new folder; in a folder whose {REMOVED:,} files were"
        f" just removed:"
        f" system {after[0]:.3f} ms (wall {after[1]:.3f} ms)"
    )


def main() -> int:
    for base in sys.argv[1:] or [tempfile.gettempdir()]:
        measure(Path(base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
