"""Test agent: no output at all; wait forever."""

import signal

while True:
    signal.pause()
