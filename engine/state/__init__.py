"""The run's history and what it folds into: typed events, the run state (the reducer),
paths in findings, metrics. Imports workflow, execution (types) and support.
"""
