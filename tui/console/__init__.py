"""The console: the Textual app, the watcher that follows a run in the store, the background
engine launcher and the widgets. It imports engine and screens, never tui.cli.
"""
