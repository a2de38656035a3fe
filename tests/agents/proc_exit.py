"""Test agent: five lines on each stream, then exit with CODE (a negative CODE: kill itself
with that signal)."""

import os
import sys

code = int(sys.argv[1]) if len(sys.argv) > 1 else 0
for i in range(5):
    print(f"out-{i}", flush=True)
    print(f"err-{i}", file=sys.stderr, flush=True)
if code < 0:
    os.kill(os.getpid(), -code)
sys.exit(code)
