"""Test agent: N stdout lines of exactly 80 characters, numbered from 0, written in big blocks."""

import sys

count = int(sys.argv[1])
out = sys.stdout.buffer
block = 10_000
for first in range(0, count, block):
    last = min(first + block, count)
    out.write(b"".join(b"%08d " % i + b"x" * 71 + b"\n" for i in range(first, last)))
out.flush()
