"""phaseboard screens."""
