"""Test agent: STEPS times, burn STEP_CPU seconds of CPU and print "step N"; "done" at the end.

On SIGTERM it prints "term" and exits 0, so a test can tell a SIGTERM it acted on from a SIGKILL.
STEPS 0 burns forever.
"""

import signal
import sys
import time


def on_term(signum: int, frame: object) -> None:
    print("term", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
steps, step_cpu = int(sys.argv[1]), float(sys.argv[2])
n = 0
while steps == 0 or n < steps:
    end = time.process_time() + step_cpu
    while time.process_time() < end:
        pass
    n += 1
    print(f"step {n}", flush=True)
print("done", flush=True)
