"""The read API: queries that build immutable snapshots for views.

The console and the CLI read the engine only through this package; nothing
outside the engine reads its tables.
"""
