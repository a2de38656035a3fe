"""Test agent: fork a grandchild that shares stdout, then hang or exit.

Usage: proc_fork_hang.py [--ignore-term] [--exit]
  --ignore-term  the grandchild ignores SIGTERM
  --exit         the leader exits at once, leaving the grandchild holding the pipes
The grandchild prints "grandchild PID" once ready; the leader prints "leader ready".
"""

import os
import signal
import sys


def say(text: str) -> None:
    """One write per line: the two processes share the pipe, and a line must not interleave."""
    os.write(1, text.encode() + b"\n")


pid = os.fork()
if pid == 0:
    if "--ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    say(f"grandchild {os.getpid()}")
    while True:
        signal.pause()
say("leader ready")
if "--exit" in sys.argv:
    os._exit(0)
while True:
    signal.pause()
