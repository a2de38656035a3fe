"""The SQLite database: runs, the event log, logs, commands, the run lock, migrations and
earlier runs' durations. Imports state, snapshots, execution (types), support.
"""
