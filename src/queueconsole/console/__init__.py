"""The Textual console: panes over the engine's read API, actions through one service.

Only :mod:`queueconsole.console.backend` reaches engine pieces beyond the
client and read API; widgets see immutable snapshots only.
"""
