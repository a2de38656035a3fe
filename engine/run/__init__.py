"""Driving a run: the engine loop, stage and agent runners, operator commands, rollback,
the run's session. The top room: it may import every other.
"""
