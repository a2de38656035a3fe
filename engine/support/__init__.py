"""Small helpers every room may use: atomic file writes, JSON, terminal-safe text,
command lines to paste. Imports nothing of phaseboard's.
"""
