"""phaseboard engine."""
