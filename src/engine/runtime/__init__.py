"""The running engine: supervisor of local workers plus the background services."""
