"""Prometheus metrics and a health endpoint for the headless engine (:mod:`.server`)."""
