"""Test agent: fork a child that moves to a process group of its own, then hang.

The child prints "escaped PID" once out of the group; the leader prints "leader ready".
"""

import os
import signal


def say(text: str) -> None:
    """One write per line: the two processes share the pipe, and a line must not interleave."""
    os.write(1, text.encode() + b"\n")


pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    say(f"escaped {os.getpid()}")
    while True:
        signal.pause()
say("leader ready")
while True:
    signal.pause()
