"""Test agent: hold 30 MiB and burn CPU for SECONDS, then exit 0."""

import sys
import time

hoard = b"\x01" * (30 * 1024 * 1024)
end = time.process_time() + float(sys.argv[1])
n = 0
while time.process_time() < end:
    n += 1
print(f"done {n}", flush=True)
