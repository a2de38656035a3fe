"""phaseboard tui."""
