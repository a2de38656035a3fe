"""Test agent: double-fork a grandchild that allocates MB MiB once its parent is gone, so it
is in the process group but no longer below the leader. Prints "orphan PID" before
allocating; the leader prints "leader ready" and waits forever."""

import os
import signal
import sys
import time

if os.fork() == 0:
    middle = os.getpid()
    if os.fork() == 0:
        while os.getppid() == middle:
            time.sleep(0.001)
        os.write(1, f"orphan {os.getpid()}\n".encode())
        hoard = b"\x01" * (int(sys.argv[1]) * 1024 * 1024)
        while True:
            signal.pause()
    os._exit(0)
os.wait()
os.write(1, b"leader ready\n")
while True:
    signal.pause()
