"""Running agent attempts: the executor seam (executor.py), the local executor and
its process tools (trees, watchers, CPU limits). Imports only engine.support.
"""
