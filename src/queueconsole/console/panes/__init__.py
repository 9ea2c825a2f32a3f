"""The console's panes, one per module, switched with the number keys."""
