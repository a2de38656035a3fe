"""What a run says to people and scripts: the run folder's files, the final report,
status, progress and next actions. Imports every room below engine.run.
"""
