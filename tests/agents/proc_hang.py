"""Test agent: print "ready", then wait forever."""

import signal

print("ready", flush=True)
while True:
    signal.pause()
