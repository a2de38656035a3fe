"""Reusable widgets of the console; they import only the engine's types and Textual."""
