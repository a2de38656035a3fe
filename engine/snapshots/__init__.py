"""Content-addressed snapshots of the workspace in SQLite (the file part of a rollback
point): taking, storing, comparing, restoring. Imports only engine.support.
"""
