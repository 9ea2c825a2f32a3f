"""Screens pushed over the panes: job detail, confirmation, help."""
