"""The Textual console: panes over the engine's read API, actions through one service.

Only :mod:`queueconsole.console.link` holds the engine's runtime parts (the
embedded engine, the control bus, the dashboard, the status cache); widgets
see immutable snapshots only.
"""
