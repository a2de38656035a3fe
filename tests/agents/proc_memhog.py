"""Test agent: allocate and touch MB MiB in 10 MiB steps, then wait forever."""

import signal
import sys

target = int(sys.argv[1])
hoard = []
for done in range(10, target + 10, 10):
    hoard.append(b"\x01" * (10 * 1024 * 1024))
    print(f"allocated {done} MiB", flush=True)
while True:
    signal.pause()
