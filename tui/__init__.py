"""phaseboard's user interfaces: the command line (tui.cli) and the Textual console
(tui.console, with the screens of the top-level screens package)."""
