"""Reusable widgets of the console (one per module)."""
